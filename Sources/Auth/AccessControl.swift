import Broker
import Crypto

/// RabbitMQ's default password hashing (`rabbit_password_hashing_sha256`): a random 4-byte
/// salt, then SHA-256 of the salt and the password.
public enum PasswordHashing {
    public static func hash(_ password: String) -> PasswordHash {
        var generator = SystemRandomNumberGenerator()
        return hash(password, salt: (0..<4).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    public static func hash(_ password: String, salt: [UInt8]) -> PasswordHash {
        PasswordHash(algorithm: .sha256, salt: salt, digest: Array(SHA256.hash(data: salt + Array(password.utf8))))
    }

    public static func matches(_ hash: PasswordHash, _ password: String) -> Bool {
        let candidate = Self.hash(password, salt: hash.salt).digest
        // Constant time: the comparison does not stop at the first differing byte.
        guard candidate.count == hash.digest.count else { return false }
        return zip(candidate, hash.digest).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// Who may log in, and to which vhost, from the replicated users and permissions.
public enum AccessControl {
    /// RabbitMQ's `loopback_users`: this user logs in from loopback only.
    public static let guestName = "guest"

    /// The user, if `password` is its password; `guest` only from loopback.
    public static func authenticate(_ state: BrokerState, name: String, password: String, fromLoopback: Bool) -> User? {
        guard let user = state.user(name), let hash = user.passwordHash, PasswordHashing.matches(hash, password) else { return nil }
        guard name != guestName || fromLoopback else { return nil }
        return user
    }

    /// A user may open a connection to a vhost where it has any permission, as in RabbitMQ.
    public static func mayOpen(_ state: BrokerState, vhost: String, user: String) -> Bool {
        state.permission(vhost: vhost, user: user) != nil
    }

    /// RabbitMQ's text for a connection.open refused.
    public static func vhostRefusal(vhost: String, user: String) -> String {
        "access to vhost '\(vhost)' refused for user '\(user)'"
    }
}

/// What one user may do in one vhost, checked on every method as RabbitMQ's channel checks
/// it: each of the three patterns is searched for (unanchored, as Erlang's `re:run`) in the
/// resource's name; an empty pattern allows nothing; the default exchange is named
/// `amq.default`. Outcomes and compiled patterns are cached until the users or permissions
/// change.
public struct PermissionChecker {
    public enum Resource: Sendable, Hashable {
        case queue(String)
        case exchange(String)

        /// The name the patterns are matched against.
        var checkedName: String {
            switch self {
            case .queue(let name): name
            case .exchange(let name): name.isEmpty ? "amq.default" : name
            }
        }

        func described(in vhost: String) -> String {
            switch self {
            case .queue: "queue '\(checkedName)' in vhost '\(vhost)'"
            case .exchange: "exchange '\(checkedName)' in vhost '\(vhost)'"
            }
        }
    }

    public let user: String
    public let vhost: String
    private var madeAt: UInt64?
    private var outcomes: [Key: Bool] = [:]
    private var patterns: [String: Regex<AnyRegexOutput>] = [:]

    private struct Key: Hashable {
        var access: Permission.Access
        var resource: Resource
    }

    /// Cached outcomes beyond this are dropped all at once (a connection touching many
    /// names recompiles nothing, it only matches again).
    public static let outcomesMax = 1_024

    public init(user: String, vhost: String) {
        self.user = user
        self.vhost = vhost
    }

    /// Whether the user may have `access` to `resource` now.
    public mutating func allows(_ access: Permission.Access, _ resource: Resource, in state: BrokerState) -> Bool {
        if madeAt != state.accessChangedAt {
            madeAt = state.accessChangedAt
            outcomes = [:]
            patterns = [:]
        }
        let key = Key(access: access, resource: resource)
        if let known = outcomes[key] { return known }
        let allowed = evaluate(access, resource, in: state)
        if outcomes.count >= Self.outcomesMax { outcomes = [:] }
        outcomes[key] = allowed
        return allowed
    }

    /// nil if allowed, else RabbitMQ's reason: "access to queue 'q' in vhost '/' refused
    /// for user 'bob'" (sent with 403 ACCESS_REFUSED).
    public mutating func refusal(_ access: Permission.Access, _ resource: Resource, in state: BrokerState) -> String? {
        allows(access, resource, in: state) ? nil : "access to \(resource.described(in: vhost)) refused for user '\(user)'"
    }

    private mutating func evaluate(_ access: Permission.Access, _ resource: Resource, in state: BrokerState) -> Bool {
        guard let permission = state.permission(vhost: vhost, user: user) else { return false }
        let pattern = permission.pattern(for: access)
        guard !pattern.isEmpty else { return false }
        if patterns[pattern] == nil {
            // The state accepted only patterns that compile; one that does not allows nothing.
            guard let compiled = try? Regex(pattern) else { return false }
            patterns[pattern] = compiled
        }
        guard let regex = patterns[pattern] else { return false }
        return (try? regex.firstMatch(in: resource.checkedName)) != nil
    }
}
