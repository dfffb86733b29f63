/// Some messages of one queue.
public struct MessageBatch: Equatable, Sendable {
    public var queue: QueueName
    public var ids: [MessageID]

    public init(queue: QueueName, ids: [MessageID]) {
        self.queue = queue
        self.ids = ids
    }
}
