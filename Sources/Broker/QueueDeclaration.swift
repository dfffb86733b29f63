public struct QueueDeclaration: Equatable, Sendable {
    public var vhost: String
    /// Empty: the state names the queue "amq.gen-…" from the entry's log index.
    public var name: String
    public var durable: Bool
    public var exclusive: Bool
    public var autoDelete: Bool
    public var passive: Bool
    public var arguments: ArgumentTable
    /// The declaring connection (opaque, e.g. "node-1/conn-17"): the owner if exclusive, and
    /// checked against an existing exclusive queue's owner.
    public var owner: String
    /// The leader's clock (ms since the epoch): restarts the queue's `x-expires` idleness.
    public var timestamp: Int64

    public init(
        vhost: String = "/", name: String, durable: Bool = true, exclusive: Bool = false, autoDelete: Bool = false,
        passive: Bool = false, arguments: ArgumentTable = [:], owner: String, timestamp: Int64
    ) {
        self.vhost = vhost
        self.name = name
        self.durable = durable
        self.exclusive = exclusive
        self.autoDelete = autoDelete
        self.passive = passive
        self.arguments = arguments
        self.owner = owner
        self.timestamp = timestamp
    }
}
