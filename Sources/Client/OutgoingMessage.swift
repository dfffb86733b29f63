import AMQP
import NIOCore

/// A message to publish with `AMQPChannel.publish(batch:)`.
public struct OutgoingMessage: Sendable {
    /// The exchange to publish to ("" for the default exchange).
    public var exchange: String
    public var routingKey: String
    public var body: ByteBuffer
    public var properties: BasicProperties
    /// Ask the broker to return the message (`AMQPChannel.returns`) when it routes nowhere.
    public var mandatory: Bool

    public init(
        exchange: String = "",
        routingKey: String,
        body: ByteBuffer,
        properties: BasicProperties = BasicProperties(),
        mandatory: Bool = false
    ) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.body = body
        self.properties = properties
        self.mandatory = mandatory
    }
}
