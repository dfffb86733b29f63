/// The AMQP 0-9-1 reply codes the broker answers with. Channel errors close the channel;
/// `notAllowed` and `commandInvalid` are connection errors.
public enum ReplyCode: UInt16, Sendable, CaseIterable {
    case contentTooLarge = 311
    case noRoute = 312
    case accessRefused = 403
    case notFound = 404
    case resourceLocked = 405
    case preconditionFailed = 406
    case notAllowed = 530
    case commandInvalid = 503
    case notImplemented = 540
    case internalError = 541

    /// The name RabbitMQ puts in front of the reply text ("NOT_FOUND - no queue ...").
    public var name: String {
        switch self {
        case .contentTooLarge: return "CONTENT_TOO_LARGE"
        case .noRoute: return "NO_ROUTE"
        case .accessRefused: return "ACCESS_REFUSED"
        case .notFound: return "NOT_FOUND"
        case .resourceLocked: return "RESOURCE_LOCKED"
        case .preconditionFailed: return "PRECONDITION_FAILED"
        case .notAllowed: return "NOT_ALLOWED"
        case .commandInvalid: return "COMMAND_INVALID"
        case .notImplemented: return "NOT_IMPLEMENTED"
        case .internalError: return "INTERNAL_ERROR"
        }
    }

    /// Whether the error closes the whole connection rather than the channel.
    public var isConnectionError: Bool {
        switch self {
        case .notAllowed, .commandInvalid, .notImplemented, .internalError: return true
        case .contentTooLarge, .noRoute, .accessRefused, .notFound, .resourceLocked, .preconditionFailed: return false
        }
    }
}
