import AMQP
import NIOCore

/// A mandatory message the broker could not route, sent back with `basic.return`.
public struct ReturnedMessage: Sendable {
    /// Why: usually 312 NO_ROUTE.
    public var replyCode: ReplyCode
    public var replyText: String
    public var exchange: String
    public var routingKey: String
    public var properties: BasicProperties
    public var body: ByteBuffer
}
