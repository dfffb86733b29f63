// RabbitMQ's management API bodies for client connections, their channels and consumers:
// `/api/connections`, `/api/channels`, `/api/consumers`, with its field names.

/// Where a connection's client is and which node it reached: how RabbitMQ names a
/// connection (`"PEER:PORT -> HOST:PORT"`) and points a channel or consumer at it.
public struct ConnectionDetails: Codable, Sendable, Equatable {
    public var name: String
    public var peer_host: String
    public var peer_port: Int

    public init(name: String, peerHost: String, peerPort: Int) {
        self.name = name
        peer_host = peerHost
        peer_port = peerPort
    }
}

/// `GET /api/connections`: one client connection.
public struct ConnectionInfo: Codable, Sendable, Equatable {
    public var name: String
    /// The node the client is connected to (a follower relays its channels to the leader).
    public var node: String
    public var user: String
    public var vhost: String
    public var host: String
    public var port: Int
    public var peer_host: String
    public var peer_port: Int
    public var `protocol`: String
    public var type: String
    public var state: String
    public var ssl: Bool
    public var auth_mechanism: String
    public var channels: Int
    public var channel_max: Int
    public var frame_max: Int
    /// The heartbeat interval agreed, in seconds.
    public var timeout: Int
    /// Milliseconds since the Unix epoch.
    public var connected_at: Int64
    public var client_properties: [String: JSONValue]

    public init(
        name: String, node: String, user: String, vhost: String, host: String, port: Int, peerHost: String, peerPort: Int, ssl: Bool,
        authMechanism: String, channels: Int, channelMax: Int, frameMax: Int, heartbeat: Int, connectedAt: Int64,
        clientProperties: [String: JSONValue]
    ) {
        self.name = name
        self.node = node
        self.user = user
        self.vhost = vhost
        self.host = host
        self.port = port
        peer_host = peerHost
        peer_port = peerPort
        `protocol` = "AMQP 0-9-1"
        type = "network"
        state = "running"
        self.ssl = ssl
        auth_mechanism = authMechanism
        self.channels = channels
        channel_max = channelMax
        frame_max = frameMax
        timeout = heartbeat
        connected_at = connectedAt
        client_properties = clientProperties
    }

    public var details: ConnectionDetails { ConnectionDetails(name: name, peerHost: peer_host, peerPort: peer_port) }
}

/// `GET /api/channels`: one channel of a client connection.
public struct ChannelInfo: Codable, Sendable, Equatable {
    public var name: String
    public var node: String
    public var number: Int
    public var user: String
    public var vhost: String
    public var state: String
    public var connection_details: ConnectionDetails
    public var consumer_count: Int
    public var messages_unacknowledged: Int
    public var messages_unconfirmed: Int
    public var prefetch_count: Int
    public var global_prefetch_count: Int
    public var confirm: Bool
    public var transactional: Bool

    public init(
        connection: ConnectionInfo, number: Int, consumers: Int, unacknowledged: Int, unconfirmed: Int, prefetch: Int, globalPrefetch: Int,
        confirm: Bool, transactional: Bool
    ) {
        name = "\(connection.name) (\(number))"
        node = connection.node
        self.number = number
        user = connection.user
        vhost = connection.vhost
        state = "running"
        connection_details = connection.details
        consumer_count = consumers
        messages_unacknowledged = unacknowledged
        messages_unconfirmed = unconfirmed
        prefetch_count = prefetch
        global_prefetch_count = globalPrefetch
        self.confirm = confirm
        self.transactional = transactional
    }
}

/// `GET /api/consumers`: one consumer.
public struct ConsumerInfo: Codable, Sendable, Equatable {
    public struct QueueRef: Codable, Sendable, Equatable {
        public var name: String
        public var vhost: String
    }

    public struct ChannelDetails: Codable, Sendable, Equatable {
        public var name: String
        public var number: Int
        public var node: String
        public var user: String
        public var connection_name: String
        public var peer_host: String
        public var peer_port: Int
    }

    public var consumer_tag: String
    public var queue: QueueRef
    public var channel_details: ChannelDetails
    public var ack_required: Bool
    public var exclusive: Bool
    public var prefetch_count: Int
    public var active: Bool
    public var activity_status: String
    public var arguments: [String: JSONValue]

    /// `isSingleActive`: with single active consumer, whether this one is served; nil
    /// without (every consumer is then active and "up").
    public init(
        tag: String, queue: String, vhost: String, channel: ChannelInfo, ackRequired: Bool, exclusive: Bool, prefetch: Int, priority: Int64,
        isSingleActive: Bool? = nil
    ) {
        consumer_tag = tag
        self.queue = QueueRef(name: queue, vhost: vhost)
        channel_details = ChannelDetails(
            name: channel.name, number: channel.number, node: channel.node, user: channel.user, connection_name: channel.connection_details.name,
            peer_host: channel.connection_details.peer_host, peer_port: channel.connection_details.peer_port)
        ack_required = ackRequired
        self.exclusive = exclusive
        prefetch_count = prefetch
        active = isSingleActive ?? true
        activity_status = isSingleActive.map { $0 ? "single_active" : "waiting" } ?? "up"
        arguments = priority == 0 ? [:] : ["x-priority": .int(priority)]
    }
}

/// What the leader answers a follower asking for the cluster's client connections: every
/// connection with its channels and consumers (the leader serves every channel of the
/// cluster, and its dispatcher has every consumer).
public struct ClientConnections: Codable, Sendable, Equatable {
    public var connections: [ConnectionInfo]
    public var channels: [ChannelInfo]
    public var consumers: [ConsumerInfo]

    public init(connections: [ConnectionInfo], channels: [ChannelInfo], consumers: [ConsumerInfo]) {
        self.connections = connections
        self.channels = channels
        self.consumers = consumers
    }
}
