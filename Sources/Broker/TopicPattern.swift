/// A topic binding key split into words: `*` matches exactly one word, `#` zero or more.
/// Words are separated by dots and may be empty; the empty key has no words (RabbitMQ splits
/// "" into no words and "a." into "a" and "").
struct TopicPattern: Hashable, Sendable {
    private enum Word: Hashable, Sendable {
        case literal(Substring)
        case one
        case any
    }

    private let words: [Word]

    init(_ key: String) {
        words = Self.split(key).map { word in
            switch word {
            case "*": return .one
            case "#": return .any
            default: return .literal(word)
            }
        }
    }

    static func split(_ key: String) -> [Substring] {
        key.isEmpty ? [] : key.split(separator: ".", omittingEmptySubsequences: false)
    }

    /// Whether the routing key, already split into words, matches. Tracks the set of pattern
    /// positions reachable after each word: O(pattern × words), no backtracking blow-up.
    func matches(_ key: [Substring]) -> Bool {
        let n = words.count
        var reachable = [Bool](repeating: false, count: n + 1)
        reachable[0] = true
        closeOverHashes(&reachable)
        for word in key {
            var next = [Bool](repeating: false, count: n + 1)
            var any = false
            for position in 0..<n where reachable[position] {
                switch words[position] {
                case .any:
                    next[position] = true
                    any = true
                case .one:
                    next[position + 1] = true
                    any = true
                case .literal(let literal):
                    if literal == word {
                        next[position + 1] = true
                        any = true
                    }
                }
            }
            guard any else { return false }
            closeOverHashes(&next)
            reachable = next
        }
        return reachable[n]
    }

    /// A `#` may match no word: whoever reaches it also reaches the position after it.
    private func closeOverHashes(_ reachable: inout [Bool]) {
        for position in 0..<words.count where reachable[position] {
            if case .any = words[position] { reachable[position + 1] = true }
        }
    }
}
