/// A basic.consume.
public struct ConsumeRequest: Equatable, Sendable {
    public var channel: ChannelID
    public var queue: QueueName
    /// Empty: the dispatcher makes one up ("amq.ctag-…").
    public var consumerTag: String
    public var noAck: Bool
    public var exclusive: Bool
    public var arguments: ArgumentTable

    public init(
        channel: ChannelID, queue: QueueName, consumerTag: String = "", noAck: Bool = false, exclusive: Bool = false,
        arguments: ArgumentTable = [:]
    ) {
        self.channel = channel
        self.queue = queue
        self.consumerTag = consumerTag
        self.noAck = noAck
        self.exclusive = exclusive
        self.arguments = arguments
    }
}
