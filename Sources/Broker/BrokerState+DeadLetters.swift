// Dead-lettering: at most once (the copy a target refuses is lost, as in RabbitMQ's default)
// or, for quorum queues that ask, at least once (the message stays in its source queue until
// every target holds it, and the leader retries).
extension BrokerState {
    /// A message leaves its queue for its dead-letter exchange (reason `reason`), or, with
    /// at-least-once dead-lettering and a target that does not take it, stays as a pending
    /// dead letter. Either way it is no longer delivered. A message that is not held, or is
    /// pending already, is left alone.
    mutating func deadLetterStored(
        _ id: MessageID, from name: QueueName, settings: QueueSettings, storeID: UInt64, reason: DeadLetterReason, timestamp: Int64,
        _ log: inout EffectLog
    ) {
        guard settings.deadLettersAtLeastOnce else {
            guard let message = vhosts[name.vhost]?.queues[name.name]?.removeDeliverable(id) else { return }
            log.removed(name, id, reason.removalReason)
            deadLetter(.stored(message, store: storeID), from: name, settings: settings, reason: reason, timestamp: timestamp, hops: 0, &log)
            return
        }
        guard let message = queue(name)?.message(id), !message.isDeadLettered else { return }
        // The dispatcher forgets it now: it is out of delivery whether or not it stays.
        log.removed(name, id, reason.removalReason)
        forward(message, PendingDeadLetter(reason: reason, deadAt: timestamp), from: name, settings: settings, storeID: storeID, at: timestamp, &log)
    }

    mutating func retryDeadLetters(_ retry: DeadLetterRetry, _ log: inout EffectLog) {
        var bytesLeft = retry.recordBytesMax
        var first = true
        for name in retry.queues where bytesLeft > 0 {
            guard let queue = queue(name), queue.pendingDeadLetterCount > 0 else { continue }
            let settings = queue.settings
            let storeID = queue.storeID
            let count = queue.pendingDeadLettersFitting(messagesMax: retry.messagesMax, recordBytesMax: bytesLeft, first: first)
            guard count > 0, let taken = vhosts[name.vhost]?.queues[name.name]?.takePendingDeadLetters(count) else { continue }
            first = false
            for (id, pending) in taken {
                guard let message = self.queue(name)?.message(id) else { continue }
                bytesLeft -= message.recordBytes
                forward(message, pending, from: name, settings: settings, storeID: storeID, at: retry.timestamp, &log)
            }
        }
    }

    /// One at-least-once attempt: routes the message again (the topology may have changed)
    /// and stores it in every target not in `forwardedTo`. Taken by all, it leaves its queue;
    /// otherwise it stays pending, at the back, with the targets that took it now. `timestamp`
    /// is the copies' enqueue time; the death keeps the time it was first dead-lettered.
    private mutating func forward(
        _ message: QueuedMessage, _ pending: PendingDeadLetter, from source: QueueName, settings: QueueSettings, storeID: UInt64,
        at timestamp: Int64, _ log: inout EffectLog
    ) {
        var pending = pending
        var copies: [StoredCopy] = []
        var complete = false
        if let exchange = settings.deadLetterExchange, self.exchange(ExchangeName(vhost: source.vhost, exchange)) != nil {
            var dead = log.message(at: message.location(in: storeID))
            let targets = route(&dead, from: source, to: exchange, settings: settings, reason: pending.reason, at: pending.deadAt)
            // Nothing to route to is not done: RabbitMQ's quorum queues keep such a message too.
            complete = !targets.isEmpty
            if !targets.isEmpty {
                let incoming = Incoming(dead)
                for target in targets where !pending.forwardedTo.contains(target) {
                    switch store(incoming, in: target, at: timestamp, messageTTL: nil, hops: 1, &log) {
                    case .stored(let id):
                        copies.append(StoredCopy(queue: target, id: id))
                        pending.forwardedTo.append(target)
                    case .duplicate:
                        pending.forwardedTo.append(target)
                    case .rejected, .missing:
                        complete = false
                    }
                }
            }
        }
        log.deadLettered(DeadLetter(source: source, messageID: message.id, reason: pending.reason, copies: copies, pending: !complete))
        if complete {
            _ = vhosts[source.vhost]?.queues[source.name]?.remove(message.id)
        } else {
            vhosts[source.vhost]?.queues[source.name]?.keepDeadLettered(message.id, pending)
        }
    }

    /// Makes a message leaving `source` the dead letter it routes as: its death recorded in
    /// its headers, the dead-letter exchange and routing key set. Returns the queues it goes
    /// to, without automatic cycles.
    private func route(
        _ dead: inout Message, from source: QueueName, to exchange: String, settings: QueueSettings, reason: DeadLetterReason, at timestamp: Int64
    ) -> [QueueName] {
        let routingKeys = settings.deadLetterRoutingKey.map { [$0] } ?? dead.routingKeys
        DeathHistory.record(&dead, reason: reason, queue: source.name, timestamp: timestamp)
        dead.exchange = exchange
        if let routingKey = settings.deadLetterRoutingKey { dead.routingKey = routingKey }
        var targets = routeKeys(vhost: source.vhost, exchange: exchange, routingKeys: routingKeys, headers: dead.properties.headers)
        if reason != .rejected {
            targets.removeAll { DeathHistory.isCycle(target: $0.name, in: dead.properties.headers) }
        }
        return targets
    }

    /// Sends a message that left `source` to the queue's dead-letter exchange, if it has one
    /// that exists: records the death in its headers, routes it with the dead-letter routing
    /// key (or its own keys), skips automatic cycles, and stores it in every queue reached.
    /// A stored message is read back from its record only here, when it is dead-lettered.
    mutating func deadLetter(
        _ leaving: Leaving, from source: QueueName, settings: QueueSettings, reason: DeadLetterReason,
        timestamp: Int64, hops: Int, _ log: inout EffectLog
    ) {
        guard let exchange = settings.deadLetterExchange else { return }
        let id: MessageID?
        switch leaving {
        case .stored(let message, _): id = message.id
        case .refused: id = nil
        }
        var copies: [StoredCopy] = []
        defer { log.deadLettered(DeadLetter(source: source, messageID: id, reason: reason, copies: copies)) }
        guard hops < limits.deadLetterHopsMax, self.exchange(ExchangeName(vhost: source.vhost, exchange)) != nil else { return }
        var dead: Message
        switch leaving {
        case .stored(let message, let store): dead = log.message(at: message.location(in: store))
        case .refused(let message): dead = message
        }
        let targets = route(&dead, from: source, to: exchange, settings: settings, reason: reason, at: timestamp)
        guard !targets.isEmpty else { return }
        let incoming = Incoming(dead)
        for target in targets {
            if case .stored(let newID) = store(incoming, in: target, at: timestamp, messageTTL: nil, hops: hops + 1, &log) {
                copies.append(StoredCopy(queue: target, id: newID))
            }
        }
    }
}
