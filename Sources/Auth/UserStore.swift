import Crypto

/// The users allowed to connect, each with a salted SHA-256 password hash (as RabbitMQ's
/// default hashing: a 4-byte salt, then SHA-256 of salt and password). The built-in
/// `guest`/`guest` may connect only from loopback, as in RabbitMQ.
public struct UserStore: Sendable {
    public struct PasswordHash: Sendable, Equatable {
        public var salt: [UInt8]
        public var digest: [UInt8]

        public init(password: String, salt: [UInt8]) {
            self.salt = salt
            digest = Array(SHA256.hash(data: salt + Array(password.utf8)))
        }

        /// A fresh random salt for each password.
        public init(password: String) {
            var generator = SystemRandomNumberGenerator()
            self.init(password: password, salt: (0..<4).map { _ in UInt8.random(in: 0...255, using: &generator) })
        }

        func matches(_ password: String) -> Bool {
            let candidate = Array(SHA256.hash(data: salt + Array(password.utf8)))
            // Constant time: the comparison does not stop at the first differing byte.
            guard candidate.count == digest.count else { return false }
            return zip(candidate, digest).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
        }
    }

    public static let guestName = "guest"

    private var users: [String: PasswordHash] = [:]

    /// Only `guest`/`guest`, limited to loopback.
    public init() {
        users[Self.guestName] = PasswordHash(password: "guest")
    }

    public mutating func add(name: String, password: String) {
        users[name] = PasswordHash(password: password)
    }

    public func authenticate(name: String, password: String, fromLoopback: Bool) -> Bool {
        guard let hash = users[name], hash.matches(password) else { return false }
        return name != Self.guestName || fromLoopback
    }
}

/// The SASL responses of connection.start-ok.
public enum Credentials {
    /// PLAIN: `[authzid] NUL user NUL password`; AMQPLAIN: the entries of a field table
    /// (LOGIN and PASSWORD, long strings) without its length prefix.
    public static func parse(mechanism: String, response: [UInt8]) -> (name: String, password: String)? {
        switch mechanism {
        case "PLAIN":
            let parts = response.split(separator: 0, omittingEmptySubsequences: false)
            guard parts.count == 3 else { return nil }
            return (String(decoding: parts[1], as: UTF8.self), String(decoding: parts[2], as: UTF8.self))
        case "AMQPLAIN":
            var fields: [String: String] = [:]
            var offset = 0
            while offset < response.count {
                let nameLength = Int(response[offset])
                guard offset + 1 + nameLength + 5 <= response.count else { return nil }
                let name = String(decoding: response[offset + 1..<offset + 1 + nameLength], as: UTF8.self)
                offset += 1 + nameLength
                guard response[offset] == UInt8(ascii: "S") else { return nil }
                let length = response[offset + 1..<offset + 5].reduce(0) { $0 << 8 | Int($1) }
                offset += 5
                guard offset + length <= response.count else { return nil }
                fields[name] = String(decoding: response[offset..<offset + length], as: UTF8.self)
                offset += length
            }
            guard let name = fields["LOGIN"], let password = fields["PASSWORD"] else { return nil }
            return (name, password)
        default:
            return nil
        }
    }
}
