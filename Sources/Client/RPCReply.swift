import AMQP

/// The reply to a synchronous method.
enum RPCReply: Sendable {
    case method(Method)
    /// basic.get-ok, with its content.
    case getOk(Method.Basic.GetOk, ContentHeader, MessageBody)
}
