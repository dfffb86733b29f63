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
    /// Where the message is: the node reads it back to send it.
    public var location: RecordLocation
    /// The `x-delivery-count` header the client sees: set once the message has come back,
    /// in queues that count deliveries.
    public var deliveryCountHeader: Int64?
    /// The leader's clock when handed out, for the node's acknowledgement timeout.
    public var deliveredAt: Int64
    /// No acknowledgement will come (a no-ack consumer or get); it is settled already.
    public var noAck: Bool
    /// From a stream: the message's offset, sent as the `x-stream-offset` header.
    public var streamOffset: Int64?

    public init(
        channel: ChannelID, consumerTag: String?, deliveryTag: UInt64, redelivered: Bool, queue: QueueName,
        messageID: MessageID, location: RecordLocation, deliveryCountHeader: Int64?, deliveredAt: Int64, noAck: Bool
    ) {
        self.channel = channel
        self.consumerTag = consumerTag
        self.deliveryTag = deliveryTag
        self.redelivered = redelivered
        self.queue = queue
        self.messageID = messageID
        self.location = location
        self.deliveryCountHeader = deliveryCountHeader
        self.deliveredAt = deliveredAt
        self.noAck = noAck
    }

    /// The message as the client sees it, from what its record holds: with
    /// `x-delivery-count` added once it has come back.
    public func message(from stored: Message) -> Message {
        guard deliveryCountHeader != nil || streamOffset != nil else { return stored }
        var message = stored
        var headers = message.properties.headers ?? ArgumentTable()
        if let deliveryCountHeader { headers["x-delivery-count"] = .int64(deliveryCountHeader) }
        if let streamOffset { headers["x-stream-offset"] = .int64(streamOffset) }
        message.properties.headers = headers
        return message
    }
}
