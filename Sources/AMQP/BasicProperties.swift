/// The properties of class basic, carried in a content header. Every one is optional;
/// absent ones take no bytes on the wire.
public struct BasicProperties: Hashable, Sendable {
    /// MIME content type.
    public var contentType: String?
    /// MIME content encoding.
    public var contentEncoding: String?
    /// Application headers.
    public var headers: FieldTable?
    /// 1 non-persistent, 2 persistent.
    public var deliveryMode: UInt8?
    /// Message priority, 0 to 9.
    public var priority: UInt8?
    /// Application correlation identifier.
    public var correlationID: String?
    /// Address to reply to.
    public var replyTo: String?
    /// Message expiration (RabbitMQ: a per-message TTL in milliseconds, as text).
    public var expiration: String?
    /// Application message identifier.
    public var messageID: String?
    /// Message timestamp, seconds since the Unix epoch.
    public var timestamp: UInt64?
    /// Message type name.
    public var type: String?
    /// Creating user id (RabbitMQ checks it against the connection's user).
    public var userID: String?
    /// Creating application id.
    public var appID: String?
    /// Reserved; must be empty.
    public var clusterID: String?

    public init(
        contentType: String? = nil,
        contentEncoding: String? = nil,
        headers: FieldTable? = nil,
        deliveryMode: UInt8? = nil,
        priority: UInt8? = nil,
        correlationID: String? = nil,
        replyTo: String? = nil,
        expiration: String? = nil,
        messageID: String? = nil,
        timestamp: UInt64? = nil,
        type: String? = nil,
        userID: String? = nil,
        appID: String? = nil,
        clusterID: String? = nil
    ) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.headers = headers
        self.deliveryMode = deliveryMode
        self.priority = priority
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.expiration = expiration
        self.messageID = messageID
        self.timestamp = timestamp
        self.type = type
        self.userID = userID
        self.appID = appID
        self.clusterID = clusterID
    }
}
