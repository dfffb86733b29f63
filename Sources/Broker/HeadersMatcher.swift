/// A headers-exchange binding, compiled: its `x-match` mode and the arguments it tests.
struct HeadersMatcher: Hashable, Sendable {
    enum Mode: Hashable, Sendable {
        case all, any, allWithX, anyWithX
    }

    let mode: Mode
    /// The arguments tested; nil value: the header need only be present (a `void` argument).
    private let tests: [(key: String, value: ArgumentValue?)]

    static func == (a: HeadersMatcher, b: HeadersMatcher) -> Bool {
        a.mode == b.mode && a.tests.elementsEqual(b.tests) { $0.key == $1.key && $0.value == $1.value }
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(mode)
        for test in tests {
            hasher.combine(test.key)
            hasher.combine(test.value)
        }
    }

    /// Refuses an `x-match` other than RabbitMQ's four, with its text.
    init(arguments: ArgumentTable) throws(BrokerError) {
        switch arguments["x-match"] {
        case nil, .string("all")?: mode = .all
        case .string("any")?: mode = .any
        case .string("all-with-x")?: mode = .allWithX
        case .string("any-with-x")?: mode = .anyWithX
        case .string(let other)?:
            throw BrokerError(
                .preconditionFailed,
                "Invalid x-match field value <<\"\(other)\">>; expected all, any, all-with-x, or any-with-x")
        case let other?:
            throw BrokerError(
                .preconditionFailed,
                "Invalid x-match field type \(other.typeName) (value \(other.erlangText)); expected longstr")
        }
        let withX = mode == .allWithX || mode == .anyWithX
        tests = arguments.entries.compactMap { entry in
            if entry.key == "x-match" { return nil }
            if !withX, entry.key.hasPrefix("x-") { return nil }
            if case .void = entry.value { return (entry.key, nil) }
            return (entry.key, entry.value)
        }
    }

    func matches(_ headers: ArgumentTable?) -> Bool {
        switch mode {
        case .all, .allWithX:
            return tests.allSatisfy { test(headers, $0.key, $0.value) }
        case .any, .anyWithX:
            return tests.contains { test(headers, $0.key, $0.value) }
        }
    }

    private func test(_ headers: ArgumentTable?, _ key: String, _ value: ArgumentValue?) -> Bool {
        guard let found = headers?[key] else { return false }
        guard let value else { return true }
        return found.matches(value)
    }
}
