import AMQP
import NIOCore

/// A message fetched with `basic.get`.
public struct GetResponse: Sendable {
    /// Identifies the delivery on its channel, for `ack`, `nack` and `reject`.
    public var deliveryTag: UInt64
    public var redelivered: Bool
    public var exchange: String
    public var routingKey: String
    /// How many messages the queue still held.
    public var messageCount: UInt32
    public var properties: BasicProperties
    public var body: ByteBuffer

    public init(
        deliveryTag: UInt64, redelivered: Bool, exchange: String, routingKey: String, messageCount: UInt32, properties: BasicProperties,
        body: ByteBuffer
    ) {
        self.deliveryTag = deliveryTag
        self.redelivered = redelivered
        self.exchange = exchange
        self.routingKey = routingKey
        self.messageCount = messageCount
        self.properties = properties
        self.body = body
    }
}
