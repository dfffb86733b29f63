// The bodies of RabbitMQ's management API routes for queues, exchanges, bindings, the
// overview and the nodes, with its field names, for what Berth has.

/// A JSON value of any shape: arguments as RabbitMQ's API gives and takes them.
public enum JSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

/// `GET /api/queues`, `/api/queues/VHOST`, `/api/queues/VHOST/NAME`. Every Berth queue is
/// replicated by the cluster's group: `leader`, `members` and `online` name its nodes.
public struct QueueInfo: Codable, Sendable, Equatable {
    public var name: String
    public var vhost: String
    public var durable: Bool
    public var auto_delete: Bool
    public var exclusive: Bool
    public var arguments: [String: JSONValue]
    /// "quorum" or "classic", as the declaration asked (`x-queue-type`).
    public var type: String
    public var node: String
    public var leader: String
    public var members: [String]
    public var online: [String]
    public var state: String
    public var messages: Int
    public var messages_ready: Int
    public var messages_unacknowledged: Int
    public var consumers: Int
    /// Quorum queues: messages dead-lettered at least once that a target has yet to take, and
    /// their body bytes (RabbitMQ's names); absent for other queue types.
    public var messages_dlx: Int?
    public var message_bytes_dlx: Int?
    /// The queue's message totals and rates on its leader (`publish`, `deliver_get`, `ack`,
    /// `redeliver`); absent when the leader's counts could not be had.
    public var message_stats: MessageStatsInfo?

    public init(
        name: String, vhost: String, durable: Bool, auto_delete: Bool, exclusive: Bool, arguments: [String: JSONValue], type: String,
        leader: String, members: [String], online: [String], messages: Int, messages_ready: Int, messages_unacknowledged: Int, consumers: Int,
        messagesDeadLettering: (count: Int, bytes: Int)? = nil, messageStats: MessageStatsInfo? = nil
    ) {
        self.name = name
        self.vhost = vhost
        self.durable = durable
        self.auto_delete = auto_delete
        self.exclusive = exclusive
        self.arguments = arguments
        self.type = type
        node = leader
        self.leader = leader
        self.members = members
        self.online = online
        state = "running"
        self.messages = messages
        self.messages_ready = messages_ready
        self.messages_unacknowledged = messages_unacknowledged
        self.consumers = consumers
        messages_dlx = messagesDeadLettering?.count
        message_bytes_dlx = messagesDeadLettering?.bytes
        message_stats = messageStats
    }
}

/// The body of `PUT /api/queues/VHOST/NAME` (RabbitMQ's defaults: durable, not auto-delete).
public struct QueueChange: Codable, Sendable, Equatable {
    public var durable: Bool?
    public var auto_delete: Bool?
    public var arguments: [String: JSONValue]?

    public init(durable: Bool? = nil, auto_delete: Bool? = nil, arguments: [String: JSONValue]? = nil) {
        self.durable = durable
        self.auto_delete = auto_delete
        self.arguments = arguments
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        durable = try container.decodeBoolOrText(forKey: .durable)
        auto_delete = try container.decodeBoolOrText(forKey: .auto_delete)
        arguments = try container.decodeIfPresent([String: JSONValue].self, forKey: .arguments)
    }
}

/// `GET /api/exchanges`, `/api/exchanges/VHOST`, `/api/exchanges/VHOST/NAME` (the default
/// exchange is the one named ""), and an exchange in definitions.
public struct ExchangeInfo: Codable, Sendable, Equatable {
    public var name: String
    public var vhost: String
    public var type: String
    public var durable: Bool
    public var auto_delete: Bool
    public var `internal`: Bool
    public var arguments: [String: JSONValue]
    /// An `x-delayed-message` exchange's held messages; absent for every other type.
    public var messages_delayed: Int?

    public init(
        name: String, vhost: String, type: String, durable: Bool, auto_delete: Bool, internal: Bool, arguments: [String: JSONValue],
        messages_delayed: Int? = nil
    ) {
        self.name = name
        self.vhost = vhost
        self.type = type
        self.durable = durable
        self.auto_delete = auto_delete
        self.internal = `internal`
        self.arguments = arguments
        self.messages_delayed = messages_delayed
    }
}

/// The body of `PUT /api/exchanges/VHOST/NAME`: `type` is required, as RabbitMQ requires it.
public struct ExchangeChange: Codable, Sendable, Equatable {
    public var type: String
    public var durable: Bool?
    public var auto_delete: Bool?
    public var `internal`: Bool?
    public var arguments: [String: JSONValue]?

    public init(type: String, durable: Bool? = nil, auto_delete: Bool? = nil, internal: Bool? = nil, arguments: [String: JSONValue]? = nil) {
        self.type = type
        self.durable = durable
        self.auto_delete = auto_delete
        self.internal = `internal`
        self.arguments = arguments
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decode(String.self, forKey: .type)
        durable = try container.decodeBoolOrText(forKey: .durable)
        auto_delete = try container.decodeBoolOrText(forKey: .auto_delete)
        `internal` = try container.decodeBoolOrText(forKey: .internal)
        arguments = try container.decodeIfPresent([String: JSONValue].self, forKey: .arguments)
    }
}

/// The body of `POST /api/bindings/VHOST/e/SOURCE/q/QUEUE` (or `/e/EXCHANGE`).
public struct BindingCreation: Codable, Sendable, Equatable {
    public var routing_key: String?
    public var arguments: [String: JSONValue]?

    public init(routing_key: String? = nil, arguments: [String: JSONValue]? = nil) {
        self.routing_key = routing_key
        self.arguments = arguments
    }
}

extension KeyedDecodingContainer {
    /// A boolean as RabbitMQ's API takes it: JSON's, or the text "true" or "false" (what
    /// rabbitmqadmin sends).
    func decodeBoolOrText(forKey key: Key) throws -> Bool? {
        if let value = try? decodeIfPresent(Bool.self, forKey: key) { return value }
        guard let text = try decodeIfPresent(String.self, forKey: key) else { return nil }
        switch text.lowercased() {
        case "true": return true
        case "false": return false
        default: throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "'\(text)' is not true or false")
        }
    }

    /// An integer as RabbitMQ's API takes it: JSON's, or its decimal text (what rabbitmqadmin
    /// sends).
    func decodeIntOrText(forKey key: Key) throws -> Int? {
        if let value = try? decodeIfPresent(Int.self, forKey: key) { return value }
        guard let text = try decodeIfPresent(String.self, forKey: key) else { return nil }
        guard let value = Int(text) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "'\(text)' is not an integer")
        }
        return value
    }
}

/// `GET /api/bindings`, `/api/bindings/VHOST` (the default exchange's implicit bindings
/// first, as RabbitMQ lists them), and a binding in definitions (without `properties_key`).
public struct BindingInfo: Codable, Sendable, Equatable {
    public var source: String
    public var vhost: String
    public var destination: String
    /// "queue" or "exchange".
    public var destination_type: String
    public var routing_key: String
    public var arguments: [String: JSONValue]
    public var properties_key: String?

    public init(
        source: String, vhost: String, destination: String, destination_type: String, routing_key: String, arguments: [String: JSONValue],
        properties_key: String? = nil
    ) {
        self.source = source
        self.vhost = vhost
        self.destination = destination
        self.destination_type = destination_type
        self.routing_key = routing_key
        self.arguments = arguments
        self.properties_key = properties_key
    }
}

/// `GET /api/overview`: what the cluster holds, the node that answers and its listeners.
public struct OverviewInfo: Codable, Sendable, Equatable {
    public struct ObjectTotals: Codable, Sendable, Equatable {
        public var queues: Int
        public var exchanges: Int
        public var connections: Int
        public var channels: Int
        public var consumers: Int

        public init(queues: Int, exchanges: Int, connections: Int, channels: Int, consumers: Int) {
            self.queues = queues
            self.exchanges = exchanges
            self.connections = connections
            self.channels = channels
            self.consumers = consumers
        }
    }

    public struct QueueTotals: Codable, Sendable, Equatable {
        public var messages: Int
        public var messages_ready: Int
        public var messages_unacknowledged: Int

        public init(messages: Int, messages_ready: Int, messages_unacknowledged: Int) {
            self.messages = messages
            self.messages_ready = messages_ready
            self.messages_unacknowledged = messages_unacknowledged
        }
    }

    public struct Listener: Codable, Sendable, Equatable {
        public var node: String
        public var `protocol`: String
        public var ip_address: String
        public var port: Int

        public init(node: String, protocol: String, ip_address: String, port: Int) {
            self.node = node
            self.protocol = `protocol`
            self.ip_address = ip_address
            self.port = port
        }
    }

    public var management_version: String
    public var rabbitmq_version: String
    public var product_name: String
    public var product_version: String
    public var cluster_name: String
    public var node: String
    public var object_totals: ObjectTotals
    public var queue_totals: QueueTotals
    public var message_stats: MessageStatsInfo
    public var listeners: [Listener]

    public init(
        version: String, rabbitmqVersion: String, clusterName: String, node: String, objectTotals: ObjectTotals, queueTotals: QueueTotals,
        messageStats: MessageStatsInfo, listeners: [Listener]
    ) {
        management_version = rabbitmqVersion
        rabbitmq_version = rabbitmqVersion
        product_name = "Berth"
        product_version = version
        cluster_name = clusterName
        self.node = node
        object_totals = objectTotals
        queue_totals = queueTotals
        message_stats = messageStats
        self.listeners = listeners
    }
}

/// The cluster's message totals and their rates per second, as RabbitMQ's overview gives
/// them: `"publish": 1000, "publish_details": {"rate": 12.5}`, and the same for `confirm`,
/// `deliver_get`, `ack` and `redeliver`.
public struct MessageStatsInfo: Codable, Sendable, Equatable {
    public struct Count: Sendable, Equatable {
        public var total: UInt64
        public var rate: Double

        public init(total: UInt64, rate: Double) {
            self.total = total
            self.rate = rate
        }
    }

    public static let names = ["publish", "confirm", "deliver_get", "ack", "redeliver"]
    /// By name, one of `names`.
    public var counts: [String: Count]

    public init(counts: [String: Count]) {
        self.counts = counts
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    private struct Details: Codable {
        var rate: Double
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for name in Self.names {
            guard let count = counts[name] else { continue }
            try container.encode(count.total, forKey: Key(stringValue: name))
            try container.encode(Details(rate: count.rate), forKey: Key(stringValue: name + "_details"))
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        counts = [:]
        for name in Self.names {
            guard let total = try container.decodeIfPresent(UInt64.self, forKey: Key(stringValue: name)) else { continue }
            let details = try container.decodeIfPresent(Details.self, forKey: Key(stringValue: name + "_details"))
            counts[name] = Count(total: total, rate: details?.rate ?? 0)
        }
    }
}

/// `GET /api/nodes`: each member of the cluster as gossip and Raft see it.
public struct ClusterNodeInfo: Codable, Sendable, Equatable {
    public var name: String
    public var type: String
    public var running: Bool
    /// Berth's own: the member's Raft role as this node knows it ("leader", "voter", "learner").
    public var berth_role: String

    public init(name: String, running: Bool, role: String) {
        self.name = name
        type = "disc"
        self.running = running
        berth_role = role
    }
}

/// `GET /api/definitions` and the body of `POST /api/definitions`: what RabbitMQ exports
/// and imports, for what Berth has (its users, vhosts, permissions, queues, exchanges and
/// bindings; policies and parameters are always empty). The default exchange, the `amq.*`
/// ones, exclusive queues and the default exchange's bindings are not listed.
public struct Definitions: Codable, Sendable, Equatable {
    public var rabbit_version: String?
    public var rabbitmq_version: String?
    public var product_name: String?
    public var product_version: String?
    public var users: [DefinedUser]?
    public var vhosts: [DefinedVHost]?
    public var permissions: [PermissionInfo]?
    public var topic_permissions: [JSONValue]?
    public var parameters: [JSONValue]?
    public var global_parameters: [JSONValue]?
    public var policies: [JSONValue]?
    public var queues: [DefinedQueue]?
    public var exchanges: [ExchangeInfo]?
    public var bindings: [BindingInfo]?

    public init(
        version: String, rabbitmqVersion: String, users: [DefinedUser], vhosts: [DefinedVHost], permissions: [PermissionInfo],
        queues: [DefinedQueue], exchanges: [ExchangeInfo], bindings: [BindingInfo]
    ) {
        rabbit_version = rabbitmqVersion
        rabbitmq_version = rabbitmqVersion
        product_name = "Berth"
        product_version = version
        self.users = users
        self.vhosts = vhosts
        self.permissions = permissions
        topic_permissions = []
        parameters = []
        global_parameters = []
        policies = []
        self.queues = queues
        self.exchanges = exchanges
        self.bindings = bindings
    }
}

/// A user in definitions: `password_hash` is base64 of salt and digest; `tags` a list (a
/// comma-separated string is taken too, as older exports have it).
public struct DefinedUser: Codable, Sendable, Equatable {
    public var name: String
    public var password_hash: String
    public var hashing_algorithm: String
    public var tags: [String]

    public init(name: String, password_hash: String, hashing_algorithm: String, tags: [String]) {
        self.name = name
        self.password_hash = password_hash
        self.hashing_algorithm = hashing_algorithm
        self.tags = tags
    }

    enum CodingKeys: String, CodingKey {
        case name, password_hash, hashing_algorithm, tags
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        let change = try UserChange(from: decoder)
        password_hash = change.password_hash ?? ""
        hashing_algorithm = try container.decodeIfPresent(String.self, forKey: .hashing_algorithm) ?? "rabbit_password_hashing_sha256"
        tags = change.tags
    }
}

public struct DefinedVHost: Codable, Sendable, Equatable {
    public var name: String

    public init(name: String) { self.name = name }
}

public struct DefinedQueue: Codable, Sendable, Equatable {
    public var name: String
    public var vhost: String
    public var durable: Bool
    public var auto_delete: Bool
    public var arguments: [String: JSONValue]

    public init(name: String, vhost: String, durable: Bool, auto_delete: Bool, arguments: [String: JSONValue]) {
        self.name = name
        self.vhost = vhost
        self.durable = durable
        self.auto_delete = auto_delete
        self.arguments = arguments
    }
}

/// The answer of a health check (`/api/health/checks/...`): `status` "ok", or "failed" with
/// RabbitMQ's `reason` and what the check found (the fields it does not use are left out).
public struct HealthCheck: Codable, Sendable, Equatable {
    public struct Alarm: Codable, Sendable, Equatable {
        public var node: String
        public var resource: String

        public init(node: String, resource: String) {
            self.node = node
            self.resource = resource
        }
    }

    public struct CriticalQueue: Codable, Sendable, Equatable {
        public var name: String
        public var readable_name: String
        public var virtual_host: String
        public var type: String

        public init(name: String, readable_name: String, virtual_host: String, type: String) {
            self.name = name
            self.readable_name = readable_name
            self.virtual_host = virtual_host
            self.type = type
        }
    }

    public var status: String
    public var reason: String?
    public var alarms: [Alarm]?
    public var queues: [CriticalQueue]?
    public var port: Int?
    public var `protocol`: String?
    /// The port or protocol asked for that no listener serves.
    public var missing: JSONValue?
    public var ports: [Int]?
    public var protocols: [String]?

    public init(
        status: String, reason: String? = nil, alarms: [Alarm]? = nil, queues: [CriticalQueue]? = nil, port: Int? = nil, protocol: String? = nil,
        missing: JSONValue? = nil, ports: [Int]? = nil, protocols: [String]? = nil
    ) {
        self.status = status
        self.reason = reason
        self.alarms = alarms
        self.queues = queues
        self.port = port
        self.protocol = `protocol`
        self.missing = missing
        self.ports = ports
        self.protocols = protocols
    }
}

/// The body of `POST /api/exchanges/VHOST/NAME/publish`: the message's `properties` as
/// RabbitMQ's API names them (`delivery_mode`, `headers`, `content_type`, ...), its routing
/// key, and its payload as text or base64 (`payload_encoding` "string" or "base64").
public struct PublishRequest: Codable, Sendable, Equatable {
    public var properties: [String: JSONValue]?
    public var routing_key: String
    public var payload: String
    public var payload_encoding: String?

    public init(properties: [String: JSONValue]? = nil, routing_key: String, payload: String, payload_encoding: String? = nil) {
        self.properties = properties
        self.routing_key = routing_key
        self.payload = payload
        self.payload_encoding = payload_encoding
    }
}

/// The answer of a publish through the API: whether any queue took the message.
public struct PublishAnswer: Codable, Sendable, Equatable {
    public var routed: Bool

    public init(routed: Bool) { self.routed = routed }
}

/// The body of `POST /api/queues/VHOST/NAME/get`: how many messages, how to settle them
/// (`ackmode`), how to show their payloads (`encoding` "auto" or "base64") and, with
/// `truncate`, how many bytes of each to show. RabbitMQ needs the first three; a number comes
/// as JSON's or as its text (what rabbitmqadmin sends).
public struct QueueGetRequest: Codable, Sendable, Equatable {
    public var count: Int
    public var ackmode: String
    public var encoding: String
    public var truncate: Int?

    public init(count: Int, ackmode: String, encoding: String, truncate: Int? = nil) {
        self.count = count
        self.ackmode = ackmode
        self.encoding = encoding
        self.truncate = truncate
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard let count = try container.decodeIntOrText(forKey: .count) else {
            throw DecodingError.keyNotFound(CodingKeys.count, .init(codingPath: [], debugDescription: "count is needed"))
        }
        self.count = count
        ackmode = try container.decode(String.self, forKey: .ackmode)
        encoding = try container.decode(String.self, forKey: .encoding)
        truncate = try container.decodeIntOrText(forKey: .truncate)
    }
}

/// One message of the answer to a get, with RabbitMQ's fields: `payload_bytes` is the whole
/// body's size, `payload` the body (cut to `truncate` bytes) as text (`payload_encoding`
/// "string") or base64, `message_count` what the queue held after it was taken.
public struct GotMessage: Encodable, Sendable, Equatable {
    public var payload_bytes: Int
    public var redelivered: Bool
    public var exchange: String
    public var routing_key: String
    public var message_count: Int
    /// The properties the message has, by RabbitMQ's names.
    public var properties: [String: JSONValue]
    public var payload: String
    public var payload_encoding: String

    public init(
        payload_bytes: Int, redelivered: Bool, exchange: String, routing_key: String, message_count: Int, properties: [String: JSONValue],
        payload: String, payload_encoding: String
    ) {
        self.payload_bytes = payload_bytes
        self.redelivered = redelivered
        self.exchange = exchange
        self.routing_key = routing_key
        self.message_count = message_count
        self.properties = properties
        self.payload = payload
        self.payload_encoding = payload_encoding
    }

    enum CodingKeys: String, CodingKey {
        case payload_bytes, redelivered, exchange, routing_key, message_count, properties, payload, payload_encoding
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(payload_bytes, forKey: .payload_bytes)
        try container.encode(redelivered, forKey: .redelivered)
        try container.encode(exchange, forKey: .exchange)
        try container.encode(routing_key, forKey: .routing_key)
        try container.encode(message_count, forKey: .message_count)
        // RabbitMQ's properties are an Erlang property list: with none set, JSON's empty array.
        if properties.isEmpty {
            try container.encode([JSONValue](), forKey: .properties)
        } else {
            try container.encode(properties, forKey: .properties)
        }
        try container.encode(payload, forKey: .payload)
        try container.encode(payload_encoding, forKey: .payload_encoding)
    }
}
