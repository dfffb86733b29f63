/// A basic.consume.
public struct ConsumeRequest: Equatable, Sendable {
    public var channel: ChannelID
    public var queue: QueueName
    /// Empty: the dispatcher makes one up ("amq.ctag-…").
    public var consumerTag: String
    public var noAck: Bool
    public var exclusive: Bool
    public var arguments: ArgumentTable
    /// Deliveries the consumer may hold beyond its prefetch (when it has one): a follower's
    /// relay asks for them for its client's consumer, and holds them to the client's prefetch.
    public var prefetchAhead: UInt16

    public init(
        channel: ChannelID, queue: QueueName, consumerTag: String = "", noAck: Bool = false, exclusive: Bool = false,
        arguments: ArgumentTable = [:], prefetchAhead: UInt16 = 0
    ) {
        self.channel = channel
        self.queue = queue
        self.consumerTag = consumerTag
        self.noAck = noAck
        self.exclusive = exclusive
        self.arguments = arguments
        self.prefetchAhead = prefetchAhead
    }
}
