/// RabbitMQ's per-vhost and per-user limits, as `rabbitmqctl set_vhost_limits` and
/// `set_user_limits` (and the management API's `/api/vhost-limits`, `/api/user-limits`) set
/// them: a vhost's `max-connections` and `max-queues`, a user's `max-connections` and
/// `max-channels`. A negative value is no limit, as RabbitMQ's -1; 0 allows none.
public enum ResourceLimit: String, CaseIterable, Hashable, Sendable {
    case maxConnections = "max-connections"
    case maxQueues = "max-queues"
    case maxChannels = "max-channels"

    /// Its byte in commands and snapshots.
    var code: UInt8 {
        switch self {
        case .maxConnections: 0
        case .maxQueues: 1
        case .maxChannels: 2
        }
    }

    init?(code: UInt8) {
        guard let found = Self.allCases.first(where: { $0.code == code }) else { return nil }
        self = found
    }
}

/// What a limit is set on.
public enum LimitSubject: Hashable, Sendable, CustomStringConvertible {
    case vhost(String)
    case user(String)

    /// The limits this kind of subject takes.
    public var allowed: [ResourceLimit] {
        switch self {
        case .vhost: [.maxConnections, .maxQueues]
        case .user: [.maxConnections, .maxChannels]
        }
    }

    public var name: String {
        switch self {
        case .vhost(let name), .user(let name): name
        }
    }

    public var description: String {
        switch self {
        case .vhost(let name): "vhost '\(name)'"
        case .user(let name): "user '\(name)'"
        }
    }
}
