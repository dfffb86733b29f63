import AMQP
import NIOCore

/// A message the broker delivered to a consumer (`basic.deliver`).
public struct Delivery: Sendable {
    /// The consumer it was delivered to.
    public var consumerTag: String
    /// Identifies the delivery on its channel, for `ack`, `nack` and `reject`.
    public var deliveryTag: UInt64
    /// True when the message was delivered before and not acknowledged.
    public var redelivered: Bool
    /// The exchange it was published to ("" for the default exchange).
    public var exchange: String
    /// The routing key it was published with.
    public var routingKey: String
    public var properties: BasicProperties
    /// The message body.
    public var body: ByteBuffer

    public init(
        consumerTag: String,
        deliveryTag: UInt64,
        redelivered: Bool,
        exchange: String,
        routingKey: String,
        properties: BasicProperties,
        body: ByteBuffer
    ) {
        self.consumerTag = consumerTag
        self.deliveryTag = deliveryTag
        self.redelivered = redelivered
        self.exchange = exchange
        self.routingKey = routingKey
        self.properties = properties
        self.body = body
    }
}
