/// The AMQP 0-9-1 basic content properties, all optional, carried unchanged from publisher
/// to consumer (except what the broker itself writes: dead-letter headers, the removal of
/// `expiration` on dead-lettering and of the `BCC` header on publish).
public struct BasicProperties: Equatable, Hashable, Sendable {
    public var contentType: String?
    public var contentEncoding: String?
    public var headers: ArgumentTable?
    /// 1 transient, 2 persistent. Both are stored and replicated alike.
    public var deliveryMode: UInt8?
    public var priority: UInt8?
    public var correlationId: String?
    public var replyTo: String?
    /// Per-message TTL in milliseconds, as a decimal string.
    public var expiration: String?
    public var messageId: String?
    /// Seconds since the Unix epoch.
    public var timestamp: UInt64?
    public var type: String?
    public var userId: String?
    public var appId: String?
    public var clusterId: String?

    public init(
        contentType: String? = nil, contentEncoding: String? = nil, headers: ArgumentTable? = nil,
        deliveryMode: UInt8? = nil, priority: UInt8? = nil, correlationId: String? = nil,
        replyTo: String? = nil, expiration: String? = nil, messageId: String? = nil,
        timestamp: UInt64? = nil, type: String? = nil, userId: String? = nil, appId: String? = nil,
        clusterId: String? = nil
    ) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.headers = headers
        self.deliveryMode = deliveryMode
        self.priority = priority
        self.correlationId = correlationId
        self.replyTo = replyTo
        self.expiration = expiration
        self.messageId = messageId
        self.timestamp = timestamp
        self.type = type
        self.userId = userId
        self.appId = appId
        self.clusterId = clusterId
    }

    /// The per-message TTL in milliseconds, parsed as RabbitMQ parses `expiration`: an
    /// optional sign and decimal digits, not negative, at most ten years.
    public func expirationMs() throws(BrokerError) -> Int64? {
        guard let expiration else { return nil }
        switch Self.parseExpiration(expiration) {
        case .success(let ms): return ms
        case .failure(let reason):
            throw BrokerError(.preconditionFailed, "invalid expiration '\(expiration)': \(reason)")
        }
    }

    /// Ten years in milliseconds: RabbitMQ's bound on every TTL.
    static let expiryMsMax: Int64 = 315_360_000_000

    /// Why an `expiration` was refused, printed as RabbitMQ prints its error term.
    enum ExpirationError: Error, CustomStringConvertible {
        case noInteger
        case leftoverString(String)
        case valueNegative(String)
        case valueTooLarge(String)

        var description: String {
            switch self {
            case .noInteger: return "no_integer"
            case .leftoverString(let rest): return "{leftover_string,\"\(rest)\"}"
            case .valueNegative(let n): return "{value_negative,\(n)}"
            case .valueTooLarge(let n): return "{value_too_large,\(n)}"
            }
        }
    }

    static func parseExpiration(_ text: String) -> Result<Int64, ExpirationError> {
        var bytes = Array(text.utf8)[...]
        var negative = false
        if let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        let digits = bytes.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        guard !digits.isEmpty else { return .failure(.noInteger) }
        let rest = bytes.dropFirst(digits.count)
        guard rest.isEmpty else {
            return .failure(.leftoverString(String(decoding: rest, as: UTF8.self)))
        }
        var digitText = String(decoding: digits.drop { $0 == UInt8(ascii: "0") }, as: UTF8.self)
        if digitText.isEmpty { digitText = "0" }
        if negative && digitText != "0" { return .failure(.valueNegative("-" + digitText)) }
        guard digitText.utf8.count <= 12, let value = Int64(digitText), value <= expiryMsMax else {
            return .failure(.valueTooLarge(digitText))
        }
        return .success(value)
    }
}
