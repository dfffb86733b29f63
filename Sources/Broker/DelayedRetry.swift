/// A quorum queue's delayed retry (RabbitMQ 4.3's `x-delayed-retry-type`, `-min`, `-max`):
/// a message given back is held that long before it is ready again, longer the more often
/// it came back.
public struct DelayedRetry: Equatable, Sendable {
    /// Which returns are held back.
    public enum Kind: Sendable, CaseIterable {
        /// Every return.
        case all
        /// Failed deliveries only: a reject, a closed channel or connection, a consumer timeout.
        case failed
        /// Plain returns only: a nack, a recover.
        case returned

        public var name: String {
            switch self {
            case .all: return "all"
            case .failed: return "failed"
            case .returned: return "returned"
            }
        }
    }

    public var kind: Kind
    public var minMs: Int64
    /// RabbitMQ's default is `minMs`: without a maximum the delay does not grow.
    public var maxMs: Int64

    public init(kind: Kind, minMs: Int64, maxMs: Int64) {
        self.kind = kind
        self.minMs = minMs
        self.maxMs = maxMs
    }

    /// How long a message coming back with this delivery count (raised for this return) is
    /// held, or nil if this kind of return is not held: min × count, at most max.
    public func delayMs(deliveryCount: UInt32, deliveryFailed: Bool) -> Int64? {
        switch kind {
        case .all: break
        case .failed: guard deliveryFailed else { return nil }
        case .returned: guard !deliveryFailed else { return nil }
        }
        let (scaled, overflow) = minMs.multipliedReportingOverflow(by: Int64(Swift.max(1, deliveryCount)))
        return overflow ? maxMs : Swift.min(scaled, maxMs)
    }
}
