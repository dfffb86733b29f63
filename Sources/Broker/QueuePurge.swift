public struct QueuePurge: Equatable, Sendable {
    public var queue: QueueName
    public var owner: String?
    /// Messages the leader has out at consumers: RabbitMQ's purge leaves unacknowledged ones.
    public var keeping: [MessageID]

    public init(queue: QueueName, owner: String? = nil, keeping: [MessageID] = []) {
        self.queue = queue
        self.owner = owner
        self.keeping = keeping
    }
}
