/// A broker user, as RabbitMQ's internal database keeps one: a salted password hash and
/// tags. The hash is made by the node that takes the password (the state draws no random
/// salt); tags decide what the user may do through the HTTP API (`administrator`,
/// `monitoring`, `policymaker`, `management`), not over AMQP.
public struct User: Equatable, Sendable {
    public var name: String
    /// nil: the user cannot log in with a password (RabbitMQ's passwordless users).
    public var passwordHash: PasswordHash?
    public var tags: [String]

    public init(name: String, passwordHash: PasswordHash?, tags: [String] = []) {
        self.name = name
        self.passwordHash = passwordHash
        self.tags = tags
    }
}

/// RabbitMQ's `rabbit_password_hashing_sha256`: a 4-byte salt, then SHA-256 of the salt and
/// the password. Stored as salt and digest; which algorithm made them is named, so that
/// another can follow.
public struct PasswordHash: Equatable, Sendable {
    public enum Algorithm: UInt8, Sendable {
        case sha256 = 1

        /// The name RabbitMQ's management API gives it.
        public var name: String {
            switch self {
            case .sha256: "rabbit_password_hashing_sha256"
            }
        }
    }

    public var algorithm: Algorithm
    public var salt: [UInt8]
    public var digest: [UInt8]

    public init(algorithm: Algorithm = .sha256, salt: [UInt8], digest: [UInt8]) {
        self.algorithm = algorithm
        self.salt = salt
        self.digest = digest
    }

    /// Salt then digest, as RabbitMQ's `password_hash` holds them (base64 in its API).
    public var saltedDigest: [UInt8] { salt + digest }

    /// The inverse of `saltedDigest`: a 4-byte salt, then a 32-byte digest.
    public init?(saltedDigest bytes: [UInt8]) {
        guard bytes.count == 36 else { return nil }
        self.init(salt: Array(bytes[..<4]), digest: Array(bytes[4...]))
    }
}

/// What one user may do in one vhost: three regular expressions over resource names, as
/// RabbitMQ's `set_permissions` takes them. `configure` covers declaring and deleting,
/// `write` publishing to an exchange and binding to a queue or exchange, `read` consuming,
/// getting, purging and binding from an exchange.
public struct Permission: Equatable, Sendable {
    public var configure: String
    public var write: String
    public var read: String

    public init(configure: String, write: String, read: String) {
        self.configure = configure
        self.write = write
        self.read = read
    }

    /// Everything, as a fresh node gives `guest` on "/".
    public static let all = Permission(configure: ".*", write: ".*", read: ".*")

    /// The three kinds of access, each checked against its own pattern.
    public enum Access: Sendable, CaseIterable {
        case configure, write, read
    }

    public func pattern(for access: Access) -> String {
        switch access {
        case .configure: configure
        case .write: write
        case .read: read
        }
    }
}
