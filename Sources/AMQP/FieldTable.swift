/// A field table: named values, in the order they were received or added.
///
/// Order matters to clients (RabbitMQ's `x-death` header, for one, is read in order), so
/// this is an ordered list of entries and not a dictionary. Entries with the same name
/// are kept as they came off the wire; the name subscript reads the first of them.
///
/// Tables and arrays nest; decoding and encoding stop at `nestingDepthMax` levels, so a
/// hostile peer cannot exhaust the stack.
public struct FieldTable: Hashable, Sendable {
    /// One named value.
    public struct Entry: Hashable, Sendable {
        public var name: String
        public var value: FieldValue

        public init(name: String, value: FieldValue) {
            self.name = name
            self.value = value
        }
    }

    /// The most tables and arrays nested in one another, counting the outermost table.
    /// Real headers need a handful (x-death: headers → array → table → array); deeper
    /// input is 502 SYNTAX_ERROR.
    public static let nestingDepthMax = 32

    /// The entries, in order.
    public private(set) var entries: [Entry]

    public init() {
        self.entries = []
    }

    public init(_ entries: [Entry]) {
        self.entries = entries
    }

    /// The value of the first entry named `name`. Setting replaces that entry in place
    /// (and drops later entries of the same name), appends when there is none, and
    /// removes every entry of that name when set to nil.
    public subscript(name: String) -> FieldValue? {
        get {
            self.entries.first { $0.name == name }?.value
        }
        set {
            guard let newValue else {
                self.entries.removeAll { $0.name == name }
                return
            }
            guard let index = self.entries.firstIndex(where: { $0.name == name }) else {
                self.entries.append(Entry(name: name, value: newValue))
                return
            }
            self.entries[index].value = newValue
            let later = self.entries.index(after: index)
            let laterKept = self.entries[later...].filter { $0.name != name }
            self.entries.replaceSubrange(later..., with: laterKept)
        }
    }

    /// Appends an entry, even when one of the same name exists (as the wire allows).
    public mutating func append(name: String, value: FieldValue) {
        self.entries.append(Entry(name: name, value: value))
    }
}

extension FieldTable: RandomAccessCollection {
    public var startIndex: Int { self.entries.startIndex }
    public var endIndex: Int { self.entries.endIndex }

    public subscript(position: Int) -> Entry {
        self.entries[position]
    }
}

extension FieldTable: ExpressibleByDictionaryLiteral {
    /// The literal's entries, in the literal's order.
    public init(dictionaryLiteral elements: (String, FieldValue)...) {
        self.entries = elements.map { Entry(name: $0.0, value: $0.1) }
    }
}
