/// An exchange and the bindings that leave it, compiled for routing.
public struct Exchange: Sendable {
    public let name: ExchangeName
    /// The type it was declared with.
    public let type: ExchangeType
    /// How it picks destinations: its type, or an `x-delayed-message` exchange's `x-delayed-type`.
    public let routingType: ExchangeType
    public let durable: Bool
    public let autoDelete: Bool
    /// An internal exchange takes no publishes, only messages from other exchanges.
    public let isInternal: Bool
    public let arguments: ArgumentTable
    /// An `x-delayed-message` exchange's store of held messages (see `DelayStore`): the
    /// index of the entry that declared it.
    public internal(set) var delayStoreID: UInt64?
    /// An `x-message-deduplication` exchange's window of keys seen.
    public internal(set) var deduplication: DeduplicationCache?

    private struct Entry: Sendable {
        var binding: Binding
        var matcher: Matcher
    }

    private enum Matcher: Sendable {
        case direct
        case fanout
        case topic(TopicPattern)
        case headers(HeadersMatcher)
    }

    /// Bindings in the order they were made; routing follows this order.
    private var entries: [Entry] = []
    /// Direct exchanges: routing key → indexes into `entries`.
    private var directIndex: [String: [Int]] = [:]

    /// An `x-delayed-message` exchange MUST have a valid `x-delayed-type`: declare and
    /// restore check it first.
    init(name: ExchangeName, type: ExchangeType, durable: Bool, autoDelete: Bool, isInternal: Bool, arguments: ArgumentTable) {
        self.name = name
        self.type = type
        if type.routes {
            routingType = type
        } else {
            do {
                routingType = try ExchangeType.delayedRoutingType(in: arguments)
            } catch {
                preconditionFailure("\(name) declared with an invalid x-delayed-type: \(error)")
            }
        }
        self.durable = durable
        self.autoDelete = autoDelete
        self.isInternal = isInternal
        self.arguments = arguments
    }

    /// `alternate-exchange`: where messages go that this exchange routes nowhere.
    public var alternateExchange: String? { arguments["alternate-exchange"]?.stringValue }

    public var bindings: [Binding] { entries.map(\.binding) }
    public var bindingCount: Int { entries.count }

    /// Checks a binding before it is made (headers bindings validate `x-match`).
    func validate(_ binding: Binding) throws(BrokerError) {
        _ = try matcher(for: binding)
    }

    private func matcher(for binding: Binding) throws(BrokerError) -> Matcher {
        switch routingType {
        case .direct: return .direct
        case .fanout, .deduplication: return .fanout
        case .topic: return .topic(TopicPattern(binding.routingKey))
        case .headers: return .headers(try HeadersMatcher(arguments: binding.arguments))
        case .delayedMessage: preconditionFailure("\(name) routes as x-delayed-message")
        }
    }

    /// Adds a binding; false if it already existed.
    mutating func add(_ binding: Binding) throws(BrokerError) -> Bool {
        guard !contains(binding) else { return false }
        let matcher = try matcher(for: binding)
        entries.append(Entry(binding: binding, matcher: matcher))
        if case .direct = matcher { directIndex[binding.routingKey, default: []].append(entries.count - 1) }
        return true
    }

    func hasBinding(to destination: BindingDestination) -> Bool {
        entries.contains { $0.binding.destination == destination }
    }

    func contains(_ binding: Binding) -> Bool {
        if routingType == .direct {
            return directIndex[binding.routingKey]?.contains { entries[$0].binding == binding } ?? false
        }
        return entries.contains { $0.binding == binding }
    }

    /// Removes the bindings `shouldRemove` picks; returns them in binding order.
    mutating func removeBindings(where shouldRemove: (Binding) -> Bool) -> [Binding] {
        var removed: [Binding] = []
        entries.removeAll { entry in
            guard shouldRemove(entry.binding) else { return false }
            removed.append(entry.binding)
            return true
        }
        if !removed.isEmpty { rebuildDirectIndex() }
        return removed
    }

    private mutating func rebuildDirectIndex() {
        directIndex = [:]
        guard routingType == .direct else { return }
        for (index, entry) in entries.enumerated() { directIndex[entry.binding.routingKey, default: []].append(index) }
    }

    /// The destinations a message with these routing keys and headers goes to, in binding
    /// order, each once.
    func destinations(routingKeys: [String], headers: ArgumentTable?) -> [BindingDestination] {
        var result: [BindingDestination] = []
        var seen: Set<BindingDestination> = []
        func take(_ destination: BindingDestination) {
            if seen.insert(destination).inserted { result.append(destination) }
        }
        switch routingType {
        case .direct:
            for key in routingKeys {
                for index in directIndex[key] ?? [] { take(entries[index].binding.destination) }
            }
        case .fanout, .deduplication:
            for entry in entries { take(entry.binding.destination) }
        case .topic:
            let keys = routingKeys.map(TopicPattern.split)
            for entry in entries {
                guard case .topic(let pattern) = entry.matcher else { continue }
                if keys.contains(where: pattern.matches) { take(entry.binding.destination) }
            }
        case .headers:
            for entry in entries {
                guard case .headers(let matcher) = entry.matcher else { continue }
                if matcher.matches(headers) { take(entry.binding.destination) }
            }
        case .delayedMessage:
            preconditionFailure("\(name) routes as x-delayed-message")
        }
        return result
    }
}
