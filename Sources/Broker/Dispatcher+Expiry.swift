// Housekeeping on the leader's clock: message TTL at queue heads, idle queues
// (`x-expires`), and consumers that keep deliveries too long.
extension Dispatcher {
    /// A channel holding a delivery past its acknowledgement timeout.
    public struct OverdueChannel: Hashable, Sendable {
        public var channel: ChannelID
        public var timeoutMs: Int64
    }

    /// The leader's expiry sweep, to run every second or so: expired messages at the head of
    /// each priority level of each queue (as quorum queues expire them; what is out is left),
    /// and queues with `x-expires` that have had no consumer and no get for that long.
    /// Returns at most one `expire` command.
    public mutating func sweep(state: BrokerState, now: Int64) -> [BrokerCommand] {
        var batches: [MessageBatch] = []
        var unused: [QueueName] = []
        var budget = limits.deliveriesPerDispatchMax
        for name in state.allQueueNames {
            guard let stored = state.queue(name) else { continue }
            if stored.expiringCount > 0, budget > 0 {
                let existing = queues.removeValue(forKey: name)
                var dispatch = existing ?? QueueDispatch(levels: stored.priorityLevels, lastUsed: leaderSince)
                var ids: [MessageID] = []
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
        guard !batches.isEmpty || !unused.isEmpty else { return [] }
        return [.expire(Expiry(timestamp: now, messages: batches, unusedQueues: unused))]
    }

    /// Channels holding a delivery longer than its queue's `x-consumer-timeout` (or
    /// `defaultTimeoutMs`). The node closes each with
    /// `BrokerError.deliveryAcknowledgementTimedOut`.
    public func overdueChannels(state: BrokerState, now: Int64, defaultTimeoutMs: Int64?) -> [OverdueChannel] {
        var overdue: [OverdueChannel] = []
        for id in channels.keys.sorted() {
            guard let channel = channels[id] else { continue }
            for record in channel.unacked.all {
                let timeout = state.queue(record.queue)?.settings.consumerTimeoutMs ?? defaultTimeoutMs
                guard let timeout else { continue }
                if now - record.deliveredAt > timeout {
                    overdue.append(OverdueChannel(channel: id, timeoutMs: timeout))
                    break
                }
            }
        }
        return overdue
    }
}
