/// An ordered table of named argument values (an AMQP field table). Order is kept as
/// received; lookups find the first entry with a key, as RabbitMQ does.
public struct ArgumentTable: Equatable, Hashable, Sendable {
    public struct Entry: Equatable, Hashable, Sendable {
        public var key: String
        public var value: ArgumentValue

        public init(key: String, value: ArgumentValue) {
            self.key = key
            self.value = value
        }
    }

    public var entries: [Entry]

    public init(_ entries: [Entry] = []) {
        self.entries = entries
    }

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }
    public var keys: [String] { entries.map(\.key) }

    /// Reads the first entry named `key`. Setting replaces it in place (or appends);
    /// setting nil removes every entry named `key`.
    public subscript(key: String) -> ArgumentValue? {
        get { entries.first { $0.key == key }?.value }
        set {
            guard let newValue else {
                entries.removeAll { $0.key == key }
                return
            }
            if let index = entries.firstIndex(where: { $0.key == key }) {
                entries[index].value = newValue
            } else {
                entries.append(Entry(key: key, value: newValue))
            }
        }
    }
}

extension ArgumentTable: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, ArgumentValue)...) {
        self.init(elements.map { Entry(key: $0.0, value: $0.1) })
    }
}
