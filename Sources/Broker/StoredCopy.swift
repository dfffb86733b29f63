/// One stored copy of a message.
public struct StoredCopy: Hashable, Sendable {
    public var queue: QueueName
    public var id: MessageID

    public init(queue: QueueName, id: MessageID) {
        self.queue = queue
        self.id = id
    }
}
