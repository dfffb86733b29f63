/// A node's configuration file (`berth node --config FILE`) as rabbitmq.conf (cuttlefish's
/// grammar) writes one: `key = value` lines, whitespace around the `=` ignored, the value
/// everything after the first `=` (so it may hold one) up to a `#`, which starts a comment
/// there as on a line of its own; a value in single quotes may hold a `#`. Blank lines are
/// skipped.
///
/// This is the text alone: which keys exist and what their values mean is
/// `NodeCommand.configKeys`.
struct NodeConfigFile: Equatable {
    struct Entry: Equatable {
        var key: String
        var value: String
        /// From 1, for errors.
        var line: Int
    }

    /// A file larger than this is refused before it is read: no configuration comes near.
    static let textBytesMax = 1 << 20

    /// Where the text came from, for errors.
    var path: String
    /// In the file's order.
    var entries: [Entry]

    /// A key is words of letters, digits, `_` and `-` joined by dots, as RabbitMQ's are.
    private static func isKey(_ text: Substring) -> Bool {
        text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { word in
            !word.isEmpty && word.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
        }
    }

    /// `'quoted'`, or up to a comment; nil if a quote is left open or followed by more than a comment.
    private static func value(_ text: Substring) -> String? {
        guard text.hasPrefix("'") else { return String(text.prefix { $0 != "#" }.trimmingWhitespace()) }
        let quoted = text.dropFirst()
        guard let close = quoted.firstIndex(of: "'") else { return nil }
        let rest = quoted[quoted.index(after: close)...].trimmingWhitespace()
        return rest.isEmpty || rest.hasPrefix("#") ? String(quoted[..<close]) : nil
    }

    init(path: String, text: String) throws(NodeConfigFileError) {
        self.path = path
        entries = []
        var lineOfKey: [String: Int] = [:]
        // A CRLF is one Character, a newline like LF.
        for (index, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = index + 1
            let text = rawLine.trimmingWhitespace()
            if text.isEmpty || text.hasPrefix("#") { continue }
            guard let equals = text.firstIndex(of: "=") else {
                throw NodeConfigFileError(path: path, line: line, problem: "expected KEY = VALUE, got '\(text)'")
            }
            guard Self.isKey(text[..<equals].trimmingWhitespace()) else {
                throw NodeConfigFileError(path: path, line: line, problem: "expected KEY = VALUE, the key words of letters, digits, _ and - joined by dots, got '\(text)'")
            }
            let key = String(text[..<equals].trimmingWhitespace())
            guard let value = Self.value(text[text.index(after: equals)...].trimmingWhitespace()) else {
                throw NodeConfigFileError(path: path, line: line, key: key, problem: "has a quote left open, or text after its closing quote")
            }
            guard !value.isEmpty else { throw NodeConfigFileError(path: path, line: line, key: key, problem: "has no value") }
            if let earlier = lineOfKey[key] {
                throw NodeConfigFileError(path: path, line: line, key: key, problem: "given twice, on lines \(earlier) and \(line)")
            }
            lineOfKey[key] = line
            entries.append(Entry(key: key, value: value, line: line))
        }
    }
}

/// What is wrong with a configuration file, and where: `FILE:LINE: KEY: problem`.
struct NodeConfigFileError: Error, Equatable, CustomStringConvertible {
    var path: String
    /// nil: the file as a whole (unreadable, too large).
    var line: Int?
    var key: String?
    var problem: String

    init(path: String, line: Int? = nil, key: String? = nil, problem: String) {
        self.path = path
        self.line = line
        self.key = key
        self.problem = problem
    }

    var description: String {
        path + (line.map { ":\($0)" } ?? "") + ": " + (key.map { "\($0): " } ?? "") + problem
    }
}

extension StringProtocol {
    fileprivate func trimmingWhitespace() -> SubSequence {
        let start = firstIndex { !$0.isWhitespace } ?? endIndex
        let end = lastIndex { !$0.isWhitespace }.map(index(after:)) ?? start
        return self[start..<end]
    }
}
