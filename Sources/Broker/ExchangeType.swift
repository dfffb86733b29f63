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

    public var name: String {
        switch self {
        case .direct: return "direct"
        case .fanout: return "fanout"
        case .topic: return "topic"
        case .headers: return "headers"
        }
    }

    /// The type named in an `exchange.declare`, or RabbitMQ's 406 for an unknown one.
    public static func parse(_ name: String) throws(BrokerError) -> ExchangeType {
        guard let type = allCases.first(where: { $0.name == name }) else {
            throw BrokerError(.preconditionFailed, "unknown exchange type '\(name)'")
        }
        return type
    }
}
