import AMQP

/// The reply code, reply text and failing method of a `connection.close` or
/// `channel.close` the server sent.
public struct CloseReason: Hashable, Sendable, CustomStringConvertible {
    public var replyCode: ReplyCode
    public var replyText: String
    /// The class of the method that caused the close, 0 when none did.
    public var classID: UInt16
    /// The method that caused the close, 0 when none did.
    public var methodID: UInt16

    public init(replyCode: ReplyCode, replyText: String, classID: UInt16 = 0, methodID: UInt16 = 0) {
        self.replyCode = replyCode
        self.replyText = replyText
        self.classID = classID
        self.methodID = methodID
    }

    public var description: String {
        "\(self.replyCode): \(self.replyText)"
    }
}

extension CloseReason {
    init(_ close: Method.Connection.Close) {
        self.init(replyCode: close.replyCode, replyText: close.replyText, classID: close.classID, methodID: close.methodID)
    }

    init(_ close: Method.Channel.Close) {
        self.init(replyCode: close.replyCode, replyText: close.replyText, classID: close.classID, methodID: close.methodID)
    }
}
