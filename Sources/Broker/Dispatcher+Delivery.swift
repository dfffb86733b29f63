// Handing messages out: to consumers within their prefetch, and to basic.get.
extension Dispatcher {
    /// Hands out what it can to consumers with room, queue by queue, at most
    /// `deliveriesPerDispatchMax` per call. Messages found expired are not delivered: their
    /// expiry is among the proposals.
    public mutating func dispatch(state: BrokerState, now: Int64) -> DispatchOutput {
        var output = DispatchOutput()
        var budget = limits.deliveriesPerDispatchMax
        var settles: [MessageBatch] = []
        var expired: [MessageBatch] = []
        wakeHeldBack(state: state, now: now)
        for name in dirty.sorted() {
            guard budget > 0 else {
                output.more = true
                break
            }
            var settled: [MessageID] = []
            var expiredIDs: [MessageID] = []
            let finished = dispatch(name, state: state, now: now, budget: &budget, into: &output, settled: &settled, expired: &expiredIDs)
            if finished { dirty.remove(name) } else { output.more = true }
            if !settled.isEmpty { settles.append(MessageBatch(queue: name, ids: settled)) }
            if !expiredIDs.isEmpty { expired.append(MessageBatch(queue: name, ids: expiredIDs)) }
        }
        output.proposals = settles.map { .settle($0) }
        if !expired.isEmpty { output.proposals.append(.expire(Expiry(timestamp: now, messages: expired))) }
        return output
    }

    /// Returns whether the queue is done (no room or no message) rather than out of budget.
    private mutating func dispatch(
        _ name: QueueName, state: BrokerState, now: Int64, budget: inout Int, into output: inout DispatchOutput,
        settled: inout [MessageID], expired: inout [MessageID]
    ) -> Bool {
        // Taken out of the dictionary while worked on, so its sets are mutated in place.
        guard let stored = state.queue(name), var dispatch = queues.removeValue(forKey: name) else { return true }
        defer { queues[name] = dispatch }
        dispatch.releaseHeld(readyBy: now, in: stored)
        guard !dispatch.consumers.isEmpty else { return true }
        if stored.stream != nil { return dispatchStream(name, in: stored, consumers: dispatch.consumers, now: now, budget: &budget, into: &output) }
        let single = stored.settings.singleActiveConsumer
        let candidates: [QueueDispatch.ConsumerKey]
        if single {
            guard let active = servedActiveConsumer(&dispatch) else { return true }
            candidates = [active]
        } else {
            candidates = dispatch.consumers
        }
        while true {
            let start = single ? 0 : dispatch.nextConsumer
            let found = dispatch.hasConsumerPriorities && !single ? highestWithRoom(candidates, from: start) : firstWithRoom(candidates, from: start)
            guard let index = found else { return true }
            guard budget > 0 else { return false }
            guard let message = dispatch.peek(in: stored) else { return true }
            dispatch.take(message)
            budget -= 1
            if message.isExpired(at: now) {
                expired.append(message.id)
                continue
            }
            let key = candidates[index]
            let noAck = channels[key.channel]?.consumers[key.tag]?.noAck ?? true
            output.deliveries.append(
                deliver(
                    message, from: name, store: stored.storeID, to: key.channel, consumerTag: key.tag, noAck: noAck,
                    countsDeliveries: stored.settings.countsDeliveries, now: now))
            if noAck { settled.append(message.id) }
            if !single { dispatch.nextConsumer = (index + 1) % candidates.count }
        }
    }

    /// With single active consumer, the consumer served now, if any. The first to subscribe
    /// is active until it leaves, and then the one of the highest `x-priority` is. One of a
    /// higher priority than the active one takes over once the active one holds no
    /// delivery unacknowledged, and until then the queue delivers nothing, so that no two
    /// consumers ever hold its messages at once (as RabbitMQ's quorum queues).
    private func servedActiveConsumer(_ dispatch: inout QueueDispatch) -> QueueDispatch.ConsumerKey? {
        guard let best = highestPriority(of: dispatch.consumers) else { return nil }
        guard let active = dispatch.active, let consumer = channels[active.channel]?.consumers[active.tag] else {
            dispatch.active = best
            return best
        }
        guard priority(of: best) > consumer.priority else { return active }
        guard consumer.unacked == 0 else { return nil }
        dispatch.active = best
        return best
    }

    private func firstWithRoom(_ candidates: [QueueDispatch.ConsumerKey], from start: Int) -> Int? {
        guard !candidates.isEmpty else { return nil }
        for step in 0..<candidates.count {
            let index = (start + step) % candidates.count
            if hasRoom(candidates[index]) { return index }
        }
        return nil
    }

    /// Of the consumers with room, the first from `start` among those of the highest
    /// priority: lower ones get messages only while every higher one is full (RabbitMQ's
    /// consumer priorities).
    private func highestWithRoom(_ candidates: [QueueDispatch.ConsumerKey], from start: Int) -> Int? {
        var best: (index: Int, priority: Int64)?
        for step in 0..<candidates.count {
            let index = (start + step) % candidates.count
            guard hasRoom(candidates[index]) else { continue }
            let priority = channels[candidates[index].channel]?.consumers[candidates[index].tag]?.priority ?? 0
            if best.map({ priority > $0.priority }) ?? true { best = (index, priority) }
        }
        return best?.index
    }

    func hasRoom(_ key: QueueDispatch.ConsumerKey) -> Bool {
        guard !paused.contains(key.channel.connection), let channel = channels[key.channel], let consumer = channel.consumers[key.tag] else {
            return false
        }
        if consumer.noAck { return true }
        if channel.unacked.count >= limits.unackedPerChannelMax { return false }
        if consumer.prefetch > 0, consumer.unacked >= Int(consumer.prefetch) { return false }
        if channel.prefetchPerChannel > 0, channel.unacked.count >= Int(channel.prefetchPerChannel) { return false }
        return true
    }

    /// The channel's next delivery tag, counted for every delivery and get it hands out.
    mutating func takeDeliveryTag(on channel: ChannelID) -> UInt64 {
        let tag = channels[channel, default: Channel()].nextDeliveryTag
        channels[channel, default: Channel()].nextDeliveryTag += 1
        return tag
    }

    /// Records a delivery on its channel and builds what the client gets.
    mutating func deliver(
        _ stored: QueuedMessage, from queue: QueueName, store: UInt64, to channelID: ChannelID, consumerTag: String?, noAck: Bool,
        countsDeliveries: Bool, now: Int64
    ) -> Delivery {
        let tag = takeDeliveryTag(on: channelID)
        if !noAck {
            channels[channelID, default: Channel()].unacked.insert(
                UnackedLedger.Record(tag: tag, queue: queue, messageID: stored.id, consumerTag: consumerTag, deliveredAt: now))
            if let consumerTag { channels[channelID]?.consumers[consumerTag]?.unacked += 1 }
        }
        return Delivery(
            channel: channelID, consumerTag: consumerTag, deliveryTag: tag,
            redelivered: stored.redelivered || stored.id < redeliveredBelow, queue: queue, messageID: stored.id,
            location: stored.location(in: store), deliveryCountHeader: countsDeliveries && stored.deliveryCount > 0 ? Int64(stored.deliveryCount) : nil,
            deliveredAt: now, noAck: noAck)
    }

    /// basic.get: the next ready message, or none (get-empty). Ignores prefetch, as RabbitMQ does.
    public mutating func get(channel: ChannelID, queue name: QueueName, noAck: Bool, state: BrokerState, now: Int64) throws(BrokerError) -> GetOutcome {
        try state.checkExclusiveAccess(name, connection: channel.connection)
        guard let stored = state.queue(name) else { throw .queueNotFound(name) }
        if stored.stream != nil { throw BrokerError(.notImplemented, "basic.get not supported by stream queues \(name)") }
        var dispatch = queues.removeValue(forKey: name) ?? QueueDispatch(for: stored, lastUsed: now)
        dispatch.lastUsed = now
        dispatch.releaseHeld(readyBy: now, in: stored)
        if dispatch.heldCount > 0 { holdingQueues.insert(name) }
        var expired: [MessageID] = []
        var found: QueuedMessage?
        var budget = limits.deliveriesPerDispatchMax
        while budget > 0, let message = dispatch.peek(in: stored) {
            dispatch.take(message)
            budget -= 1
            if message.isExpired(at: now) {
                expired.append(message.id)
                continue
            }
            found = message
            break
        }
        queues[name] = dispatch
        var proposals: [BrokerCommand] = []
        var delivery: Delivery?
        if let found {
            delivery = deliver(
                found, from: name, store: stored.storeID, to: channel, consumerTag: nil, noAck: noAck,
                countsDeliveries: stored.settings.countsDeliveries, now: now)
            if noAck { proposals.append(.settle(MessageBatch(queue: name, ids: [found.id]))) }
        }
        if !expired.isEmpty { proposals.append(.expire(Expiry(timestamp: now, messages: [MessageBatch(queue: name, ids: expired)]))) }
        let remaining = Swift.max(0, stored.deliverableCount - dispatch.out.count - dispatch.heldCount(after: now))
        return GetOutcome(delivery: delivery, messageCount: remaining, proposals: proposals)
    }

    /// Marks for dispatch the queues whose earliest held-back message is ready by `now`, and
    /// forgets those that hold nothing back any more.
    private mutating func wakeHeldBack(state: BrokerState, now: Int64) {
        for name in holdingQueues {
            guard let dispatch = queues[name] else {
                // Not served yet: its dispatch state, once made, starts from the replicated times.
                if state.queue(name)?.heldUntil.isEmpty != false { holdingQueues.remove(name) }
                continue
            }
            guard let next = dispatch.nextReadyAt else {
                holdingQueues.remove(name)
                continue
            }
            if next <= now { dirty.insert(name) }
        }
    }
}
