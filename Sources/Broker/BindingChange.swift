public struct BindingChange: Equatable, Sendable {
    public var vhost: String
    public var binding: Binding
    /// The requesting connection, checked against an exclusive destination queue's owner.
    public var owner: String?

    public init(vhost: String = "/", binding: Binding, owner: String? = nil) {
        self.vhost = vhost
        self.binding = binding
        self.owner = owner
    }
}
