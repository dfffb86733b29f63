/// A queue's full name: its virtual host and its name there.
public struct QueueName: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var vhost: String
    public var name: String

    public init(vhost: String = "/", _ name: String) {
        self.vhost = vhost
        self.name = name
    }

    public static func < (a: QueueName, b: QueueName) -> Bool {
        (a.vhost, a.name) < (b.vhost, b.name)
    }

    /// As RabbitMQ names a resource in its error texts: `queue 'q' in vhost '/'`.
    public var description: String { "queue '\(name)' in vhost '\(vhost)'" }
}
