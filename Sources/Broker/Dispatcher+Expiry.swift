// Housekeeping on the leader's clock: message TTL at queue heads, idle queues
// (`x-expires`), and consumers that keep deliveries too long.
extension Dispatcher {
    /// A channel holding a delivery past its acknowledgement timeout.
    public struct OverdueChannel: Hashable, Sendable {
        public var channel: ChannelID
        /// The timeout the first overdue delivery passed.
        public var timeoutMs: Int64
        /// Whether an overdue delivery came from basic.get: there is no consumer to cancel.
        public var holdsOverdueGet: Bool
    }

    /// The leader's expiry sweep, to run every second or so: expired messages at the head of
    /// each priority level of each queue (as quorum queues expire them; what is out is left),
    /// and queues with `x-expires` that have had no consumer and no get for that long.
    /// Returns at most one `expire` command.
    public mutating func sweep(state: BrokerState, now: Int64) -> [BrokerCommand] {
        var batches: [MessageBatch] = []
        var unused: [QueueName] = []
        var retrying: [QueueName] = []
        var budget = limits.deliveriesPerDispatchMax
        for name in state.allQueueNames {
            guard let stored = state.queue(name) else { continue }
            if retrying.count < limits.commandQueuesMax, deadLetterRetryDue(name, pending: stored.pendingDeadLetterCount, now: now) {
                retrying.append(name)
            }
            if let batch = streamRetentionDue(stored, now: now) { batches.append(batch) }
            if stored.expiringCount > 0, budget > 0 {
                let existing = queues.removeValue(forKey: name)
                var dispatch = existing ?? QueueDispatch(for: stored, lastUsed: leaderSince)
                var ids: [MessageID] = []
                // Held back for delayed retry, a message still expires in time.
                for message in dispatch.expiredHeld(in: stored, at: now, limit: budget) {
                    dispatch.take(message)
                    ids.append(message.id)
                    budget -= 1
                }
                while budget > 0, let message = dispatch.peekReturn(in: stored), message.isExpired(at: now) {
                    dispatch.take(message)
                    ids.append(message.id)
                    budget -= 1
                }
                for level in stride(from: stored.priorityLevels - 1, through: 0, by: -1) {
                    while budget > 0, let message = dispatch.peek(in: stored, level: level), message.isExpired(at: now) {
                        dispatch.take(message)
                        ids.append(message.id)
                        budget -= 1
                    }
                }
                if existing != nil || !ids.isEmpty { queues[name] = dispatch }
                if !ids.isEmpty { batches.append(MessageBatch(queue: name, ids: ids)) }
            }
            if let expires = stored.settings.expiresMs, consumerCount(name) == 0, unused.count < limits.commandQueuesMax {
                let since = Swift.max(stored.lastDeclaredAt, queues[name]?.lastUsed ?? leaderSince, leaderSince)
                let (deadline, overflow) = since.addingReportingOverflow(expires)
                if !overflow, deadline <= now { unused.append(name) }
            }
        }
        var commands: [BrokerCommand] = []
        if !batches.isEmpty || !unused.isEmpty { commands.append(.expire(Expiry(timestamp: now, messages: batches, unusedQueues: unused))) }
        if !retrying.isEmpty {
            commands.append(.retryDeadLetters(DeadLetterRetry(
                timestamp: now, queues: retrying, messagesMax: limits.deadLetterRetryMessagesMax,
                recordBytesMax: BrokerState.commandRecordBytesMax)))
        }
        return commands
    }

    /// A queue with pending at-least-once dead letters is retried at the next sweep after a
    /// retry that forwarded some (fewer are pending), else `deadLetterRetryBackoffMs` after
    /// the last: a target that stays full costs a few reads every few seconds.
    private mutating func deadLetterRetryDue(_ name: QueueName, pending: Int, now: Int64) -> Bool {
        guard pending > 0 else {
            if !deadLetterRetries.isEmpty { deadLetterRetries[name] = nil }
            return false
        }
        if let last = deadLetterRetries[name], pending >= last.pending, now - last.at < Self.deadLetterRetryBackoffMs { return false }
        deadLetterRetries[name] = DeadLetterRetryMark(at: now, pending: pending)
        return true
    }

    /// Channels holding a delivery longer than its acknowledgement timeout: its consumer's
    /// `x-consumer-timeout`, else its queue's, else `defaultTimeoutMs`. The node answers as
    /// RabbitMQ 4.3 does: `reclaimOverdue` where the client takes basic.cancel and no get is
    /// overdue, else it closes the channel (`BrokerError.deliveryAcknowledgementTimedOut`).
    public func overdueChannels(state: BrokerState, now: Int64, defaultTimeoutMs: Int64?) -> [OverdueChannel] {
        var overdue: [OverdueChannel] = []
        for id in channels.keys.sorted() {
            guard let channel = channels[id] else { continue }
            var found: OverdueChannel?
            for record in channel.unacked.all {
                guard let timeout = passedTimeout(of: record, on: channel, state: state, now: now, defaultTimeoutMs: defaultTimeoutMs) else {
                    continue
                }
                if found == nil { found = OverdueChannel(channel: id, timeoutMs: timeout, holdsOverdueGet: false) }
                if record.consumerTag == nil {
                    found?.holdsOverdueGet = true
                    break
                }
            }
            if let found { overdue.append(found) }
        }
        return overdue
    }

    /// Takes back the channel's overdue deliveries, instead of closing it: each goes back to
    /// its queue, a late ack, nack or reject of its tag is ignored, and every consumer that
    /// held one is cancelled (the node tells the client with basic.cancel). Its deliveries
    /// not yet overdue stay with the channel, as after a basic.cancel. Returns the cancelled
    /// consumers and the commands to propose.
    public mutating func reclaimOverdue(
        on id: ChannelID, state: BrokerState, now: Int64, defaultTimeoutMs: Int64?
    ) -> (cancelled: [ConsumerCancellation], proposals: [BrokerCommand]) {
        guard let channel = channels[id] else { return ([], []) }
        let overdue = channel.unacked.all.filter { record in
            passedTimeout(of: record, on: channel, state: state, now: now, defaultTimeoutMs: defaultTimeoutMs) != nil
        }
        guard !overdue.isEmpty else { return ([], []) }
        var taken: [UnackedLedger.Record] = []
        for record in overdue {
            guard let removed = channels[id]?.unacked.remove(record.tag) else { continue }
            taken.append(removed)
            remember(reclaimed: record.tag, on: id)
        }
        channels[id]?.release(taken)
        // Berth counts a timeout as a failed delivery (towards the delivery limit too).
        var proposals = requeueCommands(taken, deliveryFailed: true, now: now)
        var cancelled: [ConsumerCancellation] = []
        for tag in Set(taken.compactMap(\.consumerTag)).sorted() {
            guard let consumer = channels[id]?.consumers.removeValue(forKey: tag) else { continue }
            cancelled.append(ConsumerCancellation(channel: id, consumerTag: tag, queue: consumer.queue))
            proposals += detach(QueueDispatch.ConsumerKey(channel: id, tag: tag), from: consumer.queue, state: state, now: now)
        }
        for record in taken { dirty.insert(record.queue) }
        return (cancelled, proposals)
    }

    /// The acknowledgement timeout the delivery has passed at `now`, if it has: its
    /// consumer's, else its queue's, else the node's.
    private func passedTimeout(
        of record: UnackedLedger.Record, on channel: Channel, state: BrokerState, now: Int64, defaultTimeoutMs: Int64?
    ) -> Int64? {
        let consumers = record.consumerTag.flatMap { channel.consumers[$0]?.timeoutMs }
        guard let timeout = consumers ?? state.queue(record.queue)?.settings.consumerTimeoutMs ?? defaultTimeoutMs,
            now - record.deliveredAt > timeout
        else { return nil }
        // A stream's delivery is credit, not a lock: as in RabbitMQ, no timeout takes it back
        // (a reader replaying a day of history may hold its credit for long).
        guard state.queue(record.queue)?.stream == nil else { return nil }
        return timeout
    }

    /// Remembers at most as many reclaimed tags as a channel may hold unacknowledged; past
    /// that the oldest is forgotten, and a late ack of it is refused as unknown.
    private mutating func remember(reclaimed tag: UInt64, on id: ChannelID) {
        channels[id]?.reclaimed.insert(tag)
        if let reclaimed = channels[id]?.reclaimed, reclaimed.count > limits.unackedPerChannelMax, let oldest = reclaimed.min() {
            channels[id]?.reclaimed.remove(oldest)
        }
    }
}
