// The bodies of RabbitMQ's management API routes for users, vhosts and permissions, with its
// field names, so that its tools (rabbitmqadmin, scripts, exported definitions) work.

/// `GET /api/users`, `GET /api/users/NAME`. `password_hash` is base64 of salt and digest.
public struct UserInfo: Codable, Sendable, Equatable {
    public var name: String
    public var password_hash: String
    public var hashing_algorithm: String
    public var tags: [String]
    public var limits: [String: Int]

    public init(name: String, password_hash: String, hashing_algorithm: String, tags: [String]) {
        self.name = name
        self.password_hash = password_hash
        self.hashing_algorithm = hashing_algorithm
        self.tags = tags
        limits = [:]
    }
}

/// The body of `PUT /api/users/NAME`: a `password` or a `password_hash` (neither: the user
/// cannot log in with a password), and `tags` as RabbitMQ takes them, a comma-separated
/// string or a list.
public struct UserChange: Codable, Sendable, Equatable {
    public var password: String?
    public var password_hash: String?
    public var tags: [String]

    public init(password: String?, tags: [String]) {
        self.password = password
        password_hash = nil
        self.tags = tags
    }

    enum CodingKeys: String, CodingKey {
        case password, password_hash, tags
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        password = try container.decodeIfPresent(String.self, forKey: .password)
        password_hash = try container.decodeIfPresent(String.self, forKey: .password_hash)
        if let list = try? container.decodeIfPresent([String].self, forKey: .tags) {
            tags = list
        } else {
            let text = try container.decodeIfPresent(String.self, forKey: .tags) ?? ""
            tags = text.split(separator: ",").map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
        }
    }
}

/// `GET /api/vhosts`, `GET /api/vhosts/NAME`.
public struct VHostInfo: Codable, Sendable, Equatable {
    public var name: String
    public var description: String
    public var tags: [String]
    public var tracing: Bool
    public var default_queue_type: String

    public init(name: String) {
        self.name = name
        description = ""
        tags = []
        tracing = false
        // Every Berth queue is replicated.
        default_queue_type = "quorum"
    }
}

/// `GET /api/permissions`, `GET /api/permissions/VHOST/USER`; the body of its `PUT` needs
/// only the three patterns.
public struct PermissionInfo: Codable, Sendable, Equatable {
    public var user: String
    public var vhost: String
    public var configure: String
    public var write: String
    public var read: String

    public init(user: String, vhost: String, configure: String, write: String, read: String) {
        self.user = user
        self.vhost = vhost
        self.configure = configure
        self.write = write
        self.read = read
    }
}

/// The body of `PUT /api/permissions/VHOST/USER`.
public struct PermissionChange: Codable, Sendable, Equatable {
    public var configure: String
    public var write: String
    public var read: String

    public init(configure: String, write: String, read: String) {
        self.configure = configure
        self.write = write
        self.read = read
    }
}

/// `GET /api/whoami`.
public struct WhoAmI: Codable, Sendable, Equatable {
    public var name: String
    public var tags: [String]

    public init(name: String, tags: [String]) {
        self.name = name
        self.tags = tags
    }
}

/// One entry of `GET /api/vhost-limits` (`vhost` set) or `GET /api/user-limits` (`user`
/// set): the limits as set, by name (`max-connections`, ...).
public struct LimitsInfo: Codable, Sendable, Equatable {
    public var vhost: String?
    public var user: String?
    public var value: [String: Int64]

    public init(vhost: String? = nil, user: String? = nil, value: [String: Int64]) {
        self.vhost = vhost
        self.user = user
        self.value = value
    }
}

/// The body of `PUT /api/vhost-limits/VHOST/NAME` and `PUT /api/user-limits/USER/NAME`.
public struct LimitChange: Codable, Sendable, Equatable {
    public var value: Int64

    public init(value: Int64) { self.value = value }
}

/// What a management route answers when it refuses: RabbitMQ's `error` and `reason`.
public struct ManagementError: Codable, Sendable, Equatable {
    public var error: String
    public var reason: String

    public init(error: String, reason: String) {
        self.error = error
        self.reason = reason
    }
}

extension String {
    var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
