public struct ExchangeDeletion: Equatable, Sendable {
    public var vhost: String
    public var name: String
    public var ifUnused: Bool

    public init(vhost: String = "/", name: String, ifUnused: Bool = false) {
        self.vhost = vhost
        self.name = name
        self.ifUnused = ifUnused
    }
}
