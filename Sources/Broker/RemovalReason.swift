public enum RemovalReason: UInt8, Sendable, CaseIterable {
    case settled
    case rejected
    case expired
    case maxLength
    case deliveryLimit
    case purged
}
