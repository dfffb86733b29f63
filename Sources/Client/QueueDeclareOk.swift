/// The answer to `queue.declare`.
public struct QueueDeclareOk: Hashable, Sendable {
    /// The queue's name (the server's choice when declared with an empty name).
    public var queue: String
    public var messageCount: UInt32
    public var consumerCount: UInt32
}
