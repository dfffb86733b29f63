// Messages: enqueue with overflow, settle, requeue with the delivery limit, reject, expiry,
// and dead-lettering.
extension BrokerState {
    enum StoreResult {
        case stored(MessageID)
        case rejected
        case missing
        /// The queue deduplicates and holds a message of the same key: taken, and dropped.
        case duplicate
    }

    /// A message on its way into a queue: the message, and its record made once for every
    /// queue it goes to.
    struct Incoming {
        var message: Message
        var record: [UInt8]

        init(_ message: Message) {
            self.message = message
            record = MessageRecord.encode(message)
        }
    }

    /// A message leaving a queue for its dead-letter exchange: one stored there (read back
    /// only if it is dead-lettered), or a publish refused before it was stored.
    enum Leaving {
        case stored(QueuedMessage, store: UInt64)
        case refused(Message)
    }

    mutating func enqueue(_ enqueue: Enqueue, _ log: inout EffectLog) {
        for publish in enqueue.messages {
            if let delay = publish.delay {
                hold(publish, for: delay, at: enqueue.timestamp, &log)
                continue
            }
            if let vhost = publish.queues.first?.vhost, !admits(publish.message, vhost: vhost, at: enqueue.timestamp) {
                // A duplicate within its exchange's window: confirmed, and stored nowhere.
                log.published(PublishOutcome(publisherToken: publish.publisherToken, stored: [], rejected: []))
                continue
            }
            var message = publish.message
            if message.properties.headers?["BCC"] != nil { message.properties.headers?["BCC"] = nil }
            let messageTTL = try? message.properties.expirationMs()
            var stored: [StoredCopy] = []
            var rejected: [QueueName] = []
            var seen: Set<QueueName> = []
            let incoming = Incoming(message)
            for name in publish.queues where seen.insert(name).inserted {
                switch store(incoming, in: name, at: enqueue.timestamp, messageTTL: messageTTL, hops: 0, &log) {
                case .stored(let id): stored.append(StoredCopy(queue: name, id: id))
                case .rejected: rejected.append(name)
                case .missing, .duplicate: continue
                }
            }
            log.published(PublishOutcome(publisherToken: publish.publisherToken, stored: stored, rejected: rejected))
        }
    }

    /// Whether the exchange the message was published to lets it through: any but an
    /// `x-message-deduplication` one that has its `x-deduplication-header` in its window.
    private mutating func admits(_ message: Message, vhost: String, at timestamp: Int64) -> Bool {
        guard let headers = message.properties.headers, let key = headers[DeduplicationCache.keyHeader],
            exchange(ExchangeName(vhost: vhost, message.exchange))?.deduplication != nil
        else { return true }
        let ttl = headers[DeduplicationCache.ttlHeader]?.integerValue.flatMap { $0 > 0 ? $0 : nil }
        return vhosts[vhost]?.exchanges[message.exchange]?.deduplication?.admit(key, ttlMs: ttl, at: timestamp) ?? true
    }

    /// Stores a message in a queue, applying its overflow rule: refuse (and maybe
    /// dead-letter) it, or store it and drop (or dead-letter) heads until within limits.
    mutating func store(
        _ incoming: Incoming, in name: QueueName, at timestamp: Int64, messageTTL: Int64?, hops: Int, _ log: inout EffectLog
    ) -> StoreResult {
        // Read what is needed without keeping a copy of the queue: a live copy would make the
        // append below copy the chunk it appends to.
        let settings: QueueSettings
        let full: Bool
        let overflows: Bool
        let priority: UInt8
        let storeID: UInt64
        let message = incoming.message
        var deduplicationKey: ArgumentValue?
        let isStream: Bool
        do {
            guard let queue = queue(name) else { return .missing }
            isStream = queue.stream != nil
            settings = queue.settings
            if settings.deduplicates, let key = message.properties.headers?[QueueSettings.deduplicationHeader] {
                guard !queue.holdsDuplicate(of: key) else { return .duplicate }
                deduplicationKey = key
            }
            full = queue.messageCount >= limits.queueMessagesMax
            overflows = queue.wouldOverflow(adding: message.body.count)
            priority = queue.effectivePriority(of: message.properties)
            storeID = queue.storeID
        }
        // A stream appends its own way (after the copy above is gone).
        if isStream { return appendToStream(incoming, in: name, at: timestamp, &log) }
        if full { return .rejected }
        if overflows {
            switch settings.overflow {
            case .dropHead:
                break
            case .rejectPublish:
                return .rejected
            case .rejectPublishDeadLetter:
                deadLetter(.refused(message), from: name, settings: settings, reason: .maxlen, timestamp: timestamp, hops: hops, &log)
                return .rejected
            }
        }
        let ttl = [settings.messageTTLMs, messageTTL].compactMap { $0 }.min()
        let expiresAt = ttl.map { timestamp.addingReportingOverflow($0).overflow ? Int64.max : timestamp + $0 }
        let id = nextMessageID
        nextMessageID += 1
        guard let stored = vhosts[name.vhost]?.queues[name.name]?.append(
            id: id, recordBytes: incoming.record.count, bodyBytes: message.body.count, expiresAt: expiresAt, priority: priority,
            segmentBytes: limits.storeSegmentBytes)
        else { preconditionFailure("\(name) vanished while storing into it") }
        if let deduplicationKey { vhosts[name.vhost]?.queues[name.name]?.name(id, deduplicationKey: deduplicationKey) }
        if settings.queueType == .quorum, let readyAt = DeliveryTime.heldUntil(message.properties.headers, enqueuedAt: timestamp) {
            vhosts[name.vhost]?.queues[name.name]?.holdBack(id, until: readyAt)
        }
        log.write(incoming.record, at: stored.location(in: storeID))
        log.ready(name, id)
        while overflows, self.queue(name)?.isOverLimit == true, let headID = self.queue(name)?.head?.id {
            guard let head = vhosts[name.vhost]?.queues[name.name]?.remove(headID) else { break }
            log.removed(name, head.id, .maxLength)
            deadLetter(.stored(head, store: storeID), from: name, settings: settings, reason: .maxlen, timestamp: timestamp, hops: hops, &log)
        }
        return .stored(id)
    }

    mutating func settle(_ batch: MessageBatch, _ log: inout EffectLog) {
        let name = batch.queue
        // A stream keeps what its readers acknowledge, and everything they give back.
        guard let queue = queue(name), queue.stream == nil else { return }
        for id in batch.ids where vhosts[name.vhost]?.queues[name.name]?.removeDeliverable(id) != nil {
            log.removed(name, id, .settled)
        }
    }

    /// `deliveryFailed`: a reject, a closed channel or a timeout rather than a nack or a
    /// recover; with delayed retry it decides whether the message is held back.
    mutating func requeue(_ batch: MessageBatch, timestamp: Int64, deliveryFailed: Bool, _ log: inout EffectLog) {
        let name = batch.queue
        guard let queue = queue(name), queue.stream == nil else { return }
        let settings = queue.settings
        let storeID = queue.storeID
        var seen: Set<MessageID> = []
        for id in batch.ids where seen.insert(id).inserted {
            guard var message = self.queue(name)?.message(id), !message.isDeadLettered else { continue }
            message.deliveryCount = message.deliveryCount == .max ? .max : message.deliveryCount + 1
            if let limit = settings.deliveryLimit, Int64(message.deliveryCount) > limit {
                _ = vhosts[name.vhost]?.queues[name.name]?.update(id) { $0.deliveryCount = message.deliveryCount }
                deadLetterStored(id, from: name, settings: settings, storeID: storeID, reason: .deliveryLimit, timestamp: timestamp, &log)
                continue
            }
            vhosts[name.vhost]?.queues[name.name]?.update(id) {
                $0.deliveryCount = message.deliveryCount
                $0.redelivered = true
            }
            if let retry = settings.delayedRetry {
                let readyAt = retry.delayMs(deliveryCount: message.deliveryCount, deliveryFailed: deliveryFailed).map {
                    timestamp.addingReportingOverflow($0).overflow ? Int64.max : timestamp + $0
                }
                vhosts[name.vhost]?.queues[name.name]?.holdBack(id, until: readyAt)
            }
            log.ready(name, id)
        }
    }

    mutating func reject(_ batch: MessageBatch, timestamp: Int64, _ log: inout EffectLog) {
        let name = batch.queue
        guard let queue = queue(name), queue.stream == nil else { return }
        let settings = queue.settings
        let storeID = queue.storeID
        for id in batch.ids {
            deadLetterStored(id, from: name, settings: settings, storeID: storeID, reason: .rejected, timestamp: timestamp, &log)
        }
    }

    mutating func expire(_ expiry: Expiry, _ log: inout EffectLog) {
        for batch in expiry.messages {
            let name = batch.queue
            if queue(name)?.stream != nil {
                applyStreamRetention(name, at: expiry.timestamp, &log)
                continue
            }
            guard let queue = queue(name) else { continue }
            let settings = queue.settings
            let storeID = queue.storeID
            for id in batch.ids where self.queue(name)?.message(id)?.isExpired(at: expiry.timestamp) == true {
                deadLetterStored(id, from: name, settings: settings, storeID: storeID, reason: .expired, timestamp: expiry.timestamp, &log)
            }
        }
        for name in expiry.unusedQueues {
            guard let queue = queue(name), let expires = queue.settings.expiresMs else { continue }
            let (deadline, overflow) = queue.lastDeclaredAt.addingReportingOverflow(expires)
            guard !overflow, deadline <= expiry.timestamp else { continue }
            removeQueue(name, &log)
        }
    }
}
