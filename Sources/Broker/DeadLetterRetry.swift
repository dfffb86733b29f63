/// The leader's retry of at-least-once dead letters a target has not taken yet: in each queue
/// named, up to `messagesMax` pending dead letters, oldest first, are routed again and stored
/// in every target that lacks them. Those still not taken by every target wait at the back
/// for the next retry. Applying it twice stores nothing twice: a target that holds a copy
/// is skipped, and a message taken by all leaves its source queue.
public struct DeadLetterRetry: Equatable, Sendable {
    /// The leader's clock: the copies' enqueue time.
    public var timestamp: Int64
    public var queues: [QueueName]
    /// Per queue, at most `commandMessagesMax`.
    public var messagesMax: Int
    /// Their records add up to at most this many bytes over all the queues, unless the first
    /// alone is larger: bounds what one entry's apply reads from the store and stores again.
    public var recordBytesMax: Int

    public init(timestamp: Int64, queues: [QueueName], messagesMax: Int, recordBytesMax: Int) {
        self.timestamp = timestamp
        self.queues = queues
        self.messagesMax = messagesMax
        self.recordBytesMax = recordBytesMax
    }
}
