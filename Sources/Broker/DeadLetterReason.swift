/// Why a message was dead-lettered, named as RabbitMQ names it in `x-death`.
public enum DeadLetterReason: UInt8, Sendable, CaseIterable {
    case rejected
    case expired
    case maxlen
    case deliveryLimit

    public var name: String {
        switch self {
        case .rejected: return "rejected"
        case .expired: return "expired"
        case .maxlen: return "maxlen"
        case .deliveryLimit: return "delivery_limit"
        }
    }

    var removalReason: RemovalReason {
        switch self {
        case .rejected: return .rejected
        case .expired: return .expired
        case .maxlen: return .maxLength
        case .deliveryLimit: return .deliveryLimit
        }
    }
}
