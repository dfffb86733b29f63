/// A route from a source exchange to a destination. Two bindings are the same binding when
/// all four fields are equal, as in RabbitMQ.
public struct Binding: Hashable, Sendable {
    /// The source exchange's name, in the binding's vhost.
    public var source: String
    public var destination: BindingDestination
    public var routingKey: String
    public var arguments: ArgumentTable

    public init(source: String, destination: BindingDestination, routingKey: String, arguments: ArgumentTable = [:]) {
        self.source = source
        self.destination = destination
        self.routingKey = routingKey
        self.arguments = arguments
    }
}
