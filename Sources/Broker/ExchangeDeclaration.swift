public struct ExchangeDeclaration: Equatable, Sendable {
    public var vhost: String
    public var name: String
    public var type: ExchangeType
    public var durable: Bool
    public var autoDelete: Bool
    public var isInternal: Bool
    public var passive: Bool
    public var arguments: ArgumentTable

    public init(
        vhost: String = "/", name: String, type: ExchangeType, durable: Bool = true, autoDelete: Bool = false,
        isInternal: Bool = false, passive: Bool = false, arguments: ArgumentTable = [:]
    ) {
        self.vhost = vhost
        self.name = name
        self.type = type
        self.durable = durable
        self.autoDelete = autoDelete
        self.isInternal = isInternal
        self.passive = passive
        self.arguments = arguments
    }
}
