/// Identifies one stored copy of a message within its queue. Ids come from one counter of the
/// whole state, so they increase within each queue and are never reused, not even by a queue
/// that is deleted and declared again: a late `settle` can never hit another message.
public typealias MessageID = UInt64

/// A published message: where it was published, its properties and its body.
public struct Message: Equatable, Hashable, Sendable {
    /// The exchange it was published to (after dead-lettering: the dead-letter exchange).
    public var exchange: String
    public var routingKey: String
    public var properties: BasicProperties
    public var body: [UInt8]

    public init(exchange: String, routingKey: String, properties: BasicProperties = BasicProperties(), body: [UInt8]) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.properties = properties
        self.body = body
    }

    /// The routing keys RabbitMQ routes by: the routing key, then the string entries of the
    /// `CC` and `BCC` headers (sender-selected distribution).
    public var routingKeys: [String] {
        [routingKey] + Self.stringList(properties.headers?["CC"]) + Self.stringList(properties.headers?["BCC"])
    }

    static func stringList(_ value: ArgumentValue?) -> [String] {
        guard case .array(let items)? = value else { return [] }
        return items.compactMap(\.stringValue)
    }
}
