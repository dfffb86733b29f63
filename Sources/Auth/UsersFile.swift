import Broker

/// The users a node seeds a new cluster with (`berth node --users-file`): one `NAME:PASSWORD`
/// a line (split at the first colon, so a password may hold colons); blank lines and lines
/// starting with `#` are skipped. Each becomes an `administrator` with every permission on
/// "/", as RabbitMQ's `default_user`; the file is read as a secret (its owner's alone).
public enum UsersFile {
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public var line: Int
        public var reason: String

        public var description: String { "line \(line): \(reason)" }
    }

    /// The users, each with a freshly salted hash.
    public static func parse(_ text: String) throws(Invalid) -> [User] {
        var users: [User] = []
        var seen: Set<String> = []
        // A CRLF is one Character, a newline like LF.
        for (number, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                throw Invalid(line: number + 1, reason: "expected NAME:PASSWORD")
            }
            let name = String(line[..<colon])
            let password = String(line[line.index(after: colon)...])
            guard !password.isEmpty else { throw Invalid(line: number + 1, reason: "user '\(name)' has an empty password") }
            guard seen.insert(name).inserted else { throw Invalid(line: number + 1, reason: "user '\(name)' appears twice") }
            users.append(User(name: name, passwordHash: PasswordHashing.hash(password), tags: ["administrator"]))
        }
        return users
    }
}
