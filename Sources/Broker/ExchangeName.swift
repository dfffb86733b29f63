/// An exchange's full name: its virtual host and its name there ("" is the default exchange).
public struct ExchangeName: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var vhost: String
    public var name: String

    public init(vhost: String = "/", _ name: String) {
        self.vhost = vhost
        self.name = name
    }

    public static func < (a: ExchangeName, b: ExchangeName) -> Bool {
        (a.vhost, a.name) < (b.vhost, b.name)
    }

    /// As RabbitMQ names a resource in its error texts: `exchange 'x' in vhost '/'`.
    public var description: String { "exchange '\(name)' in vhost '\(vhost)'" }
}
