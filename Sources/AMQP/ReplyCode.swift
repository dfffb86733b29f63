/// A reply code of `connection.close`, `channel.close` and `basic.return`.
///
/// A struct rather than an enum: a peer may send any code, and we carry it unchanged.
/// The named constants are the spec's (amqp0-9-1 §1.2 "Constants"); `isHardError` tells
/// which of them close the whole connection (hard errors) rather than one channel (soft
/// errors).
public struct ReplyCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16

    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    // MARK: Success

    /// 200: the method completed; used in a normal `connection.close`/`channel.close`.
    public static let replySuccess = ReplyCode(rawValue: 200)

    // MARK: Soft errors (close the channel)

    /// 311: the content was larger than the server could accept at the present time.
    public static let contentTooLarge = ReplyCode(rawValue: 311)
    /// 312: a mandatory message could not be routed (sent with `basic.return`).
    public static let noRoute = ReplyCode(rawValue: 312)
    /// 313: an immediate message had no consumer (sent with `basic.return`).
    public static let noConsumers = ReplyCode(rawValue: 313)
    /// 403: no access to the entity, due to security settings.
    public static let accessRefused = ReplyCode(rawValue: 403)
    /// 404: the entity does not exist.
    public static let notFound = ReplyCode(rawValue: 404)
    /// 405: another client is working with the entity (e.g. an exclusive queue).
    public static let resourceLocked = ReplyCode(rawValue: 405)
    /// 406: a precondition failed (e.g. inequivalent arguments, message too large).
    public static let preconditionFailed = ReplyCode(rawValue: 406)

    // MARK: Hard errors (close the connection)

    /// 320: an operator closed the connection.
    public static let connectionForced = ReplyCode(rawValue: 320)
    /// 402: unknown virtual host.
    public static let invalidPath = ReplyCode(rawValue: 402)
    /// 501: a malformed frame.
    public static let frameError = ReplyCode(rawValue: 501)
    /// 502: a frame with illegal field values.
    public static let syntaxError = ReplyCode(rawValue: 502)
    /// 503: an invalid sequence of methods.
    public static let commandInvalid = ReplyCode(rawValue: 503)
    /// 504: a channel that was not correctly opened, or beyond channel-max.
    public static let channelError = ReplyCode(rawValue: 504)
    /// 505: a frame out of place, usually around content header and body frames.
    public static let unexpectedFrame = ReplyCode(rawValue: 505)
    /// 506: the server lacked the resources to complete the method.
    public static let resourceError = ReplyCode(rawValue: 506)
    /// 530: prohibited by the server.
    public static let notAllowed = ReplyCode(rawValue: 530)
    /// 540: functionality the server does not implement (e.g. an unknown method).
    public static let notImplemented = ReplyCode(rawValue: 540)
    /// 541: an internal error of the server.
    public static let internalError = ReplyCode(rawValue: 541)

    /// True when the spec classes this code as a hard error, which is answered with
    /// `connection.close` (a connection exception); false for soft errors, answered with
    /// `channel.close`, and for success and codes the spec does not define.
    public var isHardError: Bool {
        switch self.rawValue {
        case 320, 402, 501, 502, 503, 504, 505, 506, 530, 540, 541: true
        default: false
        }
    }

    /// The spec's name of the code, as RabbitMQ puts it at the head of a reply text
    /// ("NOT_FOUND - no queue 'q'"), or nil for a code the spec does not define.
    public var name: String? {
        switch self.rawValue {
        case 200: "REPLY_SUCCESS"
        case 311: "CONTENT_TOO_LARGE"
        case 312: "NO_ROUTE"
        case 313: "NO_CONSUMERS"
        case 320: "CONNECTION_FORCED"
        case 402: "INVALID_PATH"
        case 403: "ACCESS_REFUSED"
        case 404: "NOT_FOUND"
        case 405: "RESOURCE_LOCKED"
        case 406: "PRECONDITION_FAILED"
        case 501: "FRAME_ERROR"
        case 502: "SYNTAX_ERROR"
        case 503: "COMMAND_INVALID"
        case 504: "CHANNEL_ERROR"
        case 505: "UNEXPECTED_FRAME"
        case 506: "RESOURCE_ERROR"
        case 530: "NOT_ALLOWED"
        case 540: "NOT_IMPLEMENTED"
        case 541: "INTERNAL_ERROR"
        default: nil
        }
    }

    public var description: String {
        "\(self.rawValue) \(self.name ?? "UNKNOWN")"
    }
}
