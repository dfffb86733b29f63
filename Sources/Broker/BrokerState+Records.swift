// The records the state refers to, as the node's store and a snapshot's transfer see them.
extension BrokerState {
    /// Every queue's store and every delayed exchange's, with the position its next record
    /// would take.
    public var storeCursors: [UInt64: UInt64] {
        var cursors: [UInt64: UInt64] = [:]
        for host in vhosts.values {
            for queue in host.queues.values { cursors[queue.storeID] = queue.storeCursor }
        }
        for (id, store) in delayStores { cursors[id] = store.cursor }
        return cursors
    }

    /// The bytes of every record the state refers to.
    public var recordBytes: Int {
        vhosts.values.reduce(0) { total, host in total + host.queues.values.reduce(0) { $0 + $1.recordBytes } }
            + delayStores.values.reduce(0) { $0 + $1.recordBytes }
    }

    /// Visits every record the state refers to, in the order of `RecordCursor`.
    public func forEachRecord(_ body: (RecordLocation) throws -> Void) rethrows {
        for name in allQueueNames {
            guard let queue = queue(name) else { continue }
            for level in 0..<queue.priorityLevels {
                try queue.level(level).forEach { try body(queue.location(of: $0)) }
            }
        }
        try delayedSchedule.forEach { try body($0.location) }
    }

    /// Walks the records a state refers to, one at a time, in a fixed order: queue by queue
    /// (vhosts, then queues, by name), priority level by level from 0, oldest first; then
    /// the delayed exchanges' held messages in the order they fire. A
    /// snapshot's transfer sends records in this order, so the receiver, holding the same
    /// state, knows where each goes without being told. It looks up a queue once per
    /// `batchCount` records, not once per record.
    public struct RecordCursor: Sendable {
        static let batchCount = 1_024
        private let queues: [QueueName]
        private var queueIndex = 0
        private var level = 0
        private var nextID: MessageID = 0
        private var batch: [RecordLocation] = []
        private var batchIndex = 0
        /// Past the queues: the last held message taken.
        private var delayedPhase = false
        private var lastDelayed: DelayedMessage.Key?

        public init(_ state: BrokerState) {
            queues = state.allQueueNames
        }

        /// The next record, nil after the last.
        public mutating func next(in state: BrokerState) -> RecordLocation? {
            if batchIndex < batch.count {
                defer { batchIndex += 1 }
                return batch[batchIndex]
            }
            while queueIndex < queues.count {
                guard let queue = state.queue(queues[queueIndex]), level < queue.priorityLevels else {
                    queueIndex += 1
                    level = 0
                    nextID = 0
                    continue
                }
                let messages = queue.messages(priority: UInt8(level), atOrAfter: nextID, limit: Self.batchCount)
                if let last = messages.last {
                    nextID = last.id + 1
                    batch = messages.map { queue.location(of: $0) }
                    batchIndex = 1
                    return batch[0]
                }
                level += 1
                nextID = 0
            }
            if !delayedPhase || lastDelayed != nil {
                delayedPhase = true
                let held = state.delayedSchedule.messages(after: lastDelayed, limit: Self.batchCount)
                if let last = held.last {
                    lastDelayed = last.key
                    batch = held.map(\.location)
                    batchIndex = 1
                    return batch[0]
                }
                lastDelayed = nil
            }
            return nil
        }
    }
}
