public struct Expiry: Equatable, Sendable {
    /// The leader's clock: a listed message goes only if its expiry is at or before it.
    public var timestamp: Int64
    /// Expired messages the leader found at the heads of queues (none of them out). A
    /// stream listed (its ids empty) has its retention weighed at `timestamp`.
    public var messages: [MessageBatch]
    /// Queues with `x-expires` the leader saw unused for that long (no consumers, no get).
    public var unusedQueues: [QueueName]

    public init(timestamp: Int64, messages: [MessageBatch] = [], unusedQueues: [QueueName] = []) {
        self.timestamp = timestamp
        self.messages = messages
        self.unusedQueues = unusedQueues
    }
}
