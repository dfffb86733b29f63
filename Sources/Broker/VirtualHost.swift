/// One virtual host: its exchanges (bindings live with their source) and its queues.
struct VirtualHost: Sendable {
    let name: String
    var exchanges: [String: Exchange] = [:]
    var queues: [String: Queue] = [:]

    /// The exchanges every vhost starts with, as RabbitMQ predeclares them.
    static let standardExchanges: [(String, ExchangeType)] = [
        ("", .direct), ("amq.direct", .direct), ("amq.fanout", .fanout), ("amq.topic", .topic),
        ("amq.headers", .headers), ("amq.match", .headers),
    ]

    init(name: String) {
        self.name = name
        for (exchange, type) in Self.standardExchanges {
            exchanges[exchange] = Exchange(
                name: ExchangeName(vhost: name, exchange), type: type, durable: true, autoDelete: false, isInternal: false,
                arguments: [:])
        }
    }

    init(name: String, exchanges: [String: Exchange], queues: [String: Queue]) {
        self.name = name
        self.exchanges = exchanges
        self.queues = queues
    }

    var bindingCount: Int { exchanges.values.reduce(0) { $0 + $1.bindingCount } }

    func exists(_ destination: BindingDestination) -> Bool {
        switch destination {
        case .queue(let name): return queues[name] != nil
        case .exchange(let name): return exchanges[name] != nil
        }
    }
}
