/// A message handed to a consumer (basic.deliver) or to basic.get.
public struct Delivery: Equatable, Sendable {
    public var channel: ChannelID
    /// Nil for basic.get.
    public var consumerTag: String?
    /// Per channel, from 1, as AMQP numbers them.
    public var deliveryTag: UInt64
    public var redelivered: Bool
    public var queue: QueueName
    public var messageID: MessageID
    /// The message as the client sees it: with `x-delivery-count` once it has been returned.
    public var message: Message
    /// The leader's clock when handed out, for the node's acknowledgement timeout.
    public var deliveredAt: Int64
    /// No acknowledgement will come (a no-ack consumer or get); it is settled already.
    public var noAck: Bool

    public init(
        channel: ChannelID, consumerTag: String?, deliveryTag: UInt64, redelivered: Bool, queue: QueueName,
        messageID: MessageID, message: Message, deliveredAt: Int64, noAck: Bool
    ) {
        self.channel = channel
        self.consumerTag = consumerTag
        self.deliveryTag = deliveryTag
        self.redelivered = redelivered
        self.queue = queue
        self.messageID = messageID
        self.message = message
        self.deliveredAt = deliveredAt
        self.noAck = noAck
    }
}
