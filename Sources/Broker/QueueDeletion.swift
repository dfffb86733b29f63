public struct QueueDeletion: Equatable, Sendable {
    public var vhost: String
    public var name: String
    public var ifUnused: Bool
    public var ifEmpty: Bool
    /// The leader's view: whether the queue has consumers. Consumers are leader-local, so the
    /// leader puts what it saw in the command.
    public var inUse: Bool
    /// The requesting connection, checked against an exclusive queue's owner; nil for the
    /// node's own housekeeping.
    public var owner: String?
    /// The leader's auto-delete after the last consumer left: deletes only an auto-delete
    /// queue, and only if `inUse` is false.
    public var autoDeleteOnly: Bool
    /// The leader's view: the queue's messages out at consumers. Neither an if-empty delete
    /// nor delete-ok's count counts them, as RabbitMQ counts only the messages ready.
    public var outstanding: [MessageID]

    public init(
        vhost: String = "/", name: String, ifUnused: Bool = false, ifEmpty: Bool = false, inUse: Bool = false,
        owner: String? = nil, autoDeleteOnly: Bool = false, outstanding: [MessageID] = []
    ) {
        self.vhost = vhost
        self.name = name
        self.ifUnused = ifUnused
        self.ifEmpty = ifEmpty
        self.inUse = inUse
        self.owner = owner
        self.autoDeleteOnly = autoDeleteOnly
        self.outstanding = outstanding
    }
}
