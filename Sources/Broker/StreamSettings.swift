/// What a stream (`x-queue-type = stream`) keeps, read from its declared arguments and
/// validated as RabbitMQ validates them. Streams take only these arguments (and the
/// placement ones, which change nothing here); any other `x-` argument is refused.
public struct StreamSettings: Equatable, Sendable {
    /// RabbitMQ's default `x-stream-max-segment-size-bytes`: 500 MB.
    public static let segmentBytesDefault: Int64 = 500_000_000
    /// RabbitMQ's ceiling for `x-stream-max-segment-size-bytes`: 3 GB.
    public static let segmentBytesMax: Int64 = 3_000_000_000

    /// `x-max-length-bytes`: the stream's record bytes beyond which whole segments go from the head.
    public var lengthBytesMax: Int64?
    /// `x-max-age`, in milliseconds: a segment whose newest message is older goes.
    public var ageMaxMs: Int64?
    /// `x-stream-max-segment-size-bytes`: retention removes whole segments of this many record bytes.
    public var segmentBytes: Int64 = segmentBytesDefault

    public init() {}

    /// The arguments a stream takes.
    static let keys: Set<String> = [
        "x-queue-type", "x-max-length-bytes", "x-max-age", "x-stream-max-segment-size-bytes", "x-stream-filter-size-bytes",
        "x-initial-cluster-size", "x-queue-leader-locator",
    ]

    static func parse(_ arguments: ArgumentTable, for name: QueueName) throws(BrokerError) -> StreamSettings {
        var settings = StreamSettings()
        func fail(_ key: String, _ reason: String) -> BrokerError { .invalidArgument(key, for: name, reason) }
        var seen: Set<String> = []
        for entry in arguments.entries where entry.key.hasPrefix("x-") && seen.insert(entry.key).inserted {
            let key = entry.key
            let value = entry.value
            guard keys.contains(key) else {
                throw BrokerError(.preconditionFailed, "invalid arg '\(key)' for \(name) of queue type stream")
            }
            switch key {
            case "x-max-length-bytes":
                settings.lengthBytesMax = try nonNegative(value) { fail(key, $0) }
            case "x-max-age":
                guard case .string(let text) = value else { throw fail(key, "{unacceptable_type,\(value.typeName)}") }
                guard let ms = ageMs(text) else { throw fail(key, "invalid_max_age") }
                settings.ageMaxMs = ms
            case "x-stream-max-segment-size-bytes":
                let bytes = try nonNegative(value) { fail(key, $0) }
                guard bytes <= segmentBytesMax else {
                    throw BrokerError(.preconditionFailed, "Exceeded max value for x-stream-max-segment-size-bytes")
                }
                // A segment of nothing would hold no message: one holds at least one.
                settings.segmentBytes = Swift.max(bytes, 1)
            case "x-stream-filter-size-bytes":
                let bytes = try nonNegative(value) { fail(key, $0) }
                guard (16...255).contains(bytes) else { throw BrokerError(.preconditionFailed, "Invalid value for  x-stream-filter-size-bytes") }
            case "x-initial-cluster-size":
                guard try nonNegative(value, { fail(key, $0) }) != 0 else { throw fail(key, "{value_zero,0}") }
            default:
                continue
            }
        }
        return settings
    }

    /// RabbitMQ's duration text of `x-max-age` and of an interval `x-stream-offset`: a
    /// positive integer and one unit of Y (365 days), M (30 days), D, h, m or s. Nil when
    /// it is not one, or too long to count in milliseconds.
    public static func ageMs(_ text: String) -> Int64? {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        guard let value = Int64(digits), value > 0 else { return nil }
        let unitMs: Int64
        switch text.dropFirst(digits.count) {
        case "Y": unitMs = 365 * 86_400_000
        case "M": unitMs = 30 * 86_400_000
        case "D": unitMs = 86_400_000
        case "h": unitMs = 3_600_000
        case "m": unitMs = 60_000
        case "s": unitMs = 1_000
        default: return nil
        }
        let (ms, overflow) = value.multipliedReportingOverflow(by: unitMs)
        return overflow ? nil : ms
    }

    private static func nonNegative(_ value: ArgumentValue, _ fail: (String) -> BrokerError) throws(BrokerError) -> Int64 {
        guard let n = value.integerValue else {
            if case .uint64(let big) = value { throw fail("{value_too_large,\(big)}") }
            throw fail("\"expected integer, got \(value.typeName)\"")
        }
        guard n >= 0 else { throw fail("{value_negative,\(n)}") }
        return n
    }
}
