/// How an exchange picks the destinations of a message among its bindings.
public enum ExchangeType: UInt8, Sendable, CaseIterable {
    /// Bindings whose key equals the routing key.
    case direct = 0
    /// Every binding.
    case fanout = 1
    /// Bindings whose dot-separated pattern matches the routing key: `*` one word, `#` zero or more.
    case topic = 2
    /// Bindings whose arguments match the message headers (`x-match`: all, any, all-with-x, any-with-x).
    case headers = 3
    /// RabbitMQ's delayed-message plugin type: holds a message with an `x-delay` header that
    /// long, then routes it as its `x-delayed-type` (one of the four above) would.
    case delayedMessage = 4
    /// The rabbitmq-message-deduplication plugin's type: routes as fanout every message
    /// whose `x-deduplication-header` it has not seen within its window (`DeduplicationCache`).
    case deduplication = 5

    public var name: String {
        switch self {
        case .direct: return "direct"
        case .fanout: return "fanout"
        case .topic: return "topic"
        case .headers: return "headers"
        case .delayedMessage: return "x-delayed-message"
        case .deduplication: return "x-message-deduplication"
        }
    }

    /// The type named in an `exchange.declare`, or RabbitMQ's 406 for an unknown one.
    public static func parse(_ name: String) throws(BrokerError) -> ExchangeType {
        guard let type = allCases.first(where: { $0.name == name }) else {
            throw BrokerError(.preconditionFailed, "unknown exchange type '\(name)'")
        }
        return type
    }

    /// Whether it picks destinations itself (every type but `x-delayed-message`, which
    /// routes as its `x-delayed-type`).
    public var routes: Bool { self != .delayedMessage }

    /// The `x-delayed-type` of an `x-delayed-message` exchange's arguments: the plugin's
    /// 406 when it is missing or not a string, and an unknown type's error when it names
    /// none that routes.
    public static func delayedRoutingType(in arguments: ArgumentTable) throws(BrokerError) -> ExchangeType {
        guard let name = arguments["x-delayed-type"]?.stringValue else {
            // The plugin's text, word for word: clients may match on it.
            throw BrokerError(.preconditionFailed, "Invalid argument, 'x-delayed-type' must bean existing exchnage type")
        }
        let type = try parse(name)
        guard type.routes else { throw BrokerError(.preconditionFailed, "unknown exchange type '\(name)'") }
        return type
    }
}
