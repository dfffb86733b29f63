import AMQP
import Auth
import Broker
import Glibc
import Gossip
import Log
import Logging
import NIOCore
import NIOPosix
import Raft
import NIOSSL
import StatusAPI
import TLS

/// How to run one node.
public struct NodeConfiguration: Sendable {
    public var dataDirectory: String
    public var amqpHost = "127.0.0.1"
    public var amqpPort = 5672
    /// The HTTP status API's address; port 0 takes any free port, nil serves no HTTP.
    public var httpHost = "127.0.0.1"
    public var httpPort: Int?
    /// Users to add when the cluster is first seeded (see `BrokerCommand.seedUsers`): each
    /// with every permission on "/". After that, users are managed through the HTTP API.
    /// `guest`/`guest` exists until deleted, and logs in from loopback only.
    public var initialUsers: [User] = []
    /// A delivery not acknowledged for this long cancels its consumer (basic.cancel, the
    /// delivery back to its queue), as in RabbitMQ 4.3; a get's delivery, or one to a client
    /// that takes no basic.cancel, closes its channel with 406.
    public var acknowledgementTimeoutMs: Int64? = 30 * 60 * 1000
    /// Closes the channel of every overdue delivery instead (`consumer_timeout_response =
    /// close_channel`).
    public var consumerTimeoutClosesChannel = false
    public var heartbeatSeconds: UInt16 = 60
    public var frameSizeMax: UInt32 = 131_072
    public var channelMax: UInt16 = 2047
    public var publishesInFlightMax = 8_192
    /// The largest message body a client may publish (RabbitMQ's `max_message_size`): a
    /// larger one closes its channel with 406. 128 MiB, RabbitMQ 3's default, so that what
    /// applications sent there is taken here too (RabbitMQ 4 lowered it to 16 MiB: every
    /// member holds such a message in one Raft entry, and a large one delays the others).
    /// At most `messageSizeCeiling`; every member should use the same.
    public var messageSizeMax = 128 << 20
    /// The largest `messageSizeMax`: what every replica decodes.
    public static let messageSizeCeiling = BrokerLimits().messageBodyBytesMax
    /// Where the memory and disk alarms go off.
    public var resourceLimits = ResourceLimits.defaults
    public var snapshotEveryEntries = 100_000
    /// A snapshot holds no bodies, so taking one is cheap; the log since the last one is what
    /// a restart replays, so it stays short.
    public var snapshotEveryBytes = 64 << 20
    /// And one at least this often while anything is applied, so that what consumers
    /// settled is given back on disk soon after a drain.
    public var snapshotEveryMs: Int64 = 30_000
    /// Entries kept behind a snapshot for followers that lag a little.
    public var entriesRetainedAfterSnapshot = 1_000
    /// This node's id in a cluster; nil for a lone node (it makes one up, kept in node-id).
    public var nodeID: NodeID?
    /// Every member of the cluster by id, this node included: where each listens for peers.
    /// Empty for a lone node.
    public var peers: [NodeID: PeerAddress] = [:]
    /// Peers prove they belong to the cluster with an HMAC keyed by this secret.
    public var clusterSecret: [UInt8] = []
    /// Links between nodes (Raft and forwarded client sessions) inside TLS keyed by the
    /// cluster secret: encrypted, every frame authenticated. Every member runs with the same
    /// setting (a plain node and a TLS node cannot link); off only to look at the traffic.
    public var peerLinksUseTLS = true
    /// Peer addresses of running members to join through, for a node not among `peers`:
    /// gossip finds the cluster, and its leader takes this node in as a learner, then as a
    /// voter once it has caught up.
    public var join: [PeerAddress] = []
    /// Where this node listens for peers (TCP) and gossip (UDP, the same port) when it
    /// joins; with `peers`, its own entry there.
    public var peerAddress: PeerAddress?
    /// Gossip: how often each member probes another, and how long a suspect has to refute
    /// before it is declared dead.
    public var gossipProbeIntervalMs: UInt64 = 500
    public var gossipSuspicionTimeoutMs: UInt64 = 2_000
    /// Raft's election timeout: a follower that hears nothing from its leader for this long
    /// (drawn anew between it and twice it) campaigns, and a leader that hears from no
    /// majority for this long steps down. It must stay well above the round trip between
    /// members, or every delay starts an election; the default suits one data centre.
    public var electionTimeoutMs = 300
    /// A client connection that has not opened within this long of its accept is closed
    /// (RabbitMQ's `handshake_timeout`).
    public var amqpHandshakeTimeoutMs: Int64 = 10_000
    /// AMQP over TLS (amqps): with settings, a second listener on `tlsPort` serves the same
    /// broker to TLS clients (RabbitMQ's `listeners.ssl.default`); port 0 takes any free
    /// port.
    public var tls: TLSSettings?
    public var tlsPort = 5671
    /// The HTTP API over TLS too, with `tls`'s certificate and key (RabbitMQ's
    /// `management.ssl.port`, 15671); clients' certificates are not asked for. nil: none.
    public var httpsPort: Int?
    /// The Prometheus endpoint, on `httpHost` (RabbitMQ's `prometheus.tcp.port`, 15692);
    /// port 0 takes any free port, nil serves none.
    public var prometheusPort: Int?
    /// Client connections this node serves at once; one more is refused at connection.open
    /// with 530 NOT_ALLOWED (RabbitMQ's `connection_max`).
    public var connectionsMax = 65_536
    /// Log a leader keeps past its snapshot for a follower behind it (see `Config`), so
    /// that a follower stopped a while catches up from the log.
    public var laggingFollowerLogBytesMax = Config(id: 1, randomSeed: 1).laggingFollowerLogBytesMax
    /// Committed log bytes applied in one Ready, and so in about one turn of the event loop
    /// (`NodeCore.driveRaft`); tests make it small to see the turns.
    var applyBytesMax = Config(id: 1, randomSeed: 1).applyBytesMax
    /// Stands between the node and its storage: tests give it a disk that misbehaves.
    var wrapStorage: (@Sendable (DurableStorage) -> any RaftStorage & Sendable)?

    /// The election timeout in the core's ticks, at least two (a tick is also the heartbeat).
    public var electionTimeoutTicks: Int { max(2, (electionTimeoutMs + Int(NodeCore.tickIntervalMs) - 1) / Int(NodeCore.tickIntervalMs)) }

    public init(dataDirectory: String) {
        self.dataDirectory = dataDirectory
    }
}

/// A running node: its durable Raft group with the broker state, and its AMQP listener.
/// Everything runs on one event loop; fsyncs are group commits between loop turns.
public final class BerthNode: Sendable {
    public let amqpAddress: SocketAddress
    /// Where AMQP over TLS is served, if it is.
    public let amqpsAddress: SocketAddress?
    let loop: any EventLoop
    private let serverChannel: any Channel
    private let tlsServerChannel: (any Channel)?
    let core: NIOLoopBound<NodeCore>
    let httpServer: StatusHTTPServer?
    let httpsServer: StatusHTTPServer?
    let metricsServer: StatusHTTPServer?
    private let logger: Logger

    private init(
        amqpAddress: SocketAddress, loop: any EventLoop, serverChannel: any Channel, tlsServerChannel: (any Channel)?, core: NIOLoopBound<NodeCore>,
        httpServer: StatusHTTPServer?, httpsServer: StatusHTTPServer?, metricsServer: StatusHTTPServer?, logger: Logger
    ) {
        self.amqpAddress = amqpAddress
        amqpsAddress = tlsServerChannel?.localAddress
        self.loop = loop
        self.serverChannel = serverChannel
        self.tlsServerChannel = tlsServerChannel
        self.core = core
        self.httpServer = httpServer
        self.httpsServer = httpsServer
        self.metricsServer = metricsServer
        self.logger = logger
    }

    /// Recovers the data directory (refusing to start on damage, naming file and offset),
    /// elects itself, and starts listening.
    public static func start(_ configuration: NodeConfiguration, on loop: any EventLoop, logger: Logger = Logger(label: "berth.node")) async throws -> BerthNode {
        let settings = AMQPConnectionHandler.Settings(
            channelMax: configuration.channelMax, frameSizeMax: configuration.frameSizeMax, heartbeatSeconds: configuration.heartbeatSeconds,
            messageSizeMax: UInt64(configuration.messageSizeMax), publishesInFlightMax: configuration.publishesInFlightMax,
            handshakeTimeout: .milliseconds(configuration.amqpHandshakeTimeoutMs), connectionsMax: configuration.connectionsMax)
        // A bad certificate or key stops the start before anything runs, not at the first client.
        let tlsContext: NIOSSLContext?
        let httpsTLS: TLSConfiguration?
        do {
            tlsContext = try configuration.tls?.makeServerContext()
            httpsTLS = try configuration.httpsTLS()
        } catch { throw NodeStartError.tls(error) }
        let core = try await loop.flatSubmit { () -> EventLoopFuture<NIOLoopBound<NodeCore>> in
            do {
                let core = try makeCore(configuration, loop: loop, logger: logger)
                let sessionCore = NIOLoopBound(core, eventLoop: loop)
                // A client session another node forwards: AMQP from here on, as that node's client.
                core.transport?.acceptSession = { channel, user in
                    do {
                        try channel.pipeline.syncOperations.addHandlers([
                            ByteToMessageHandler(AMQPFrameDecoder(role: .server, frameSizeMax: settings.frameSizeMax, channelMax: settings.channelMax)),
                            AMQPFrameEncodingHandler(),
                            AMQPConnectionHandler(core: sessionCore.value, settings: settings, peerIsLoopback: false, forwardedUser: user),
                        ])
                    } catch {
                        channel.close(promise: nil)
                    }
                }
                let listening = core.transport.flatMap { transport in core.peerListenAddress.map { transport.start(listeningOn: $0) } }
                    ?? loop.makeSucceededVoidFuture()
                let bound = NIOLoopBound(core, eventLoop: loop)
                return listening.flatMapThrowing {
                    try bound.value.start()
                    return bound
                }
            } catch {
                return loop.makeFailedFuture(error)
            }
        }.get()
        let server = try await listenForClients(host: configuration.amqpHost, port: configuration.amqpPort, tls: nil, loop: loop, core: core, settings: settings)
        guard let address = server.localAddress else { throw NodeStartError.noAddress }
        logger.info("serving AMQP 0-9-1", metadata: ["address": "\(address)", "data": "\(configuration.dataDirectory)"])
        var tlsServer: (any Channel)?
        var httpServer: StatusHTTPServer?
        var httpsServer: StatusHTTPServer?
        var metricsServer: StatusHTTPServer?
        do {
            if let tlsContext, let tls = configuration.tls {
                tlsServer = try await listenForClients(host: configuration.amqpHost, port: configuration.tlsPort, tls: tlsContext, loop: loop, core: core, settings: settings)
                logger.info("serving AMQP 0-9-1 over TLS", metadata: ["address": "\(tlsServer?.localAddress.map { "\($0)" } ?? "?")", "peer-verification": "\(tls.peerVerification)"])
            }
            httpServer = try await startHTTP(configuration, port: configuration.httpPort, reader: NodeAccess(loop: loop, core: core), logger: logger)
            httpsServer = try await startHTTP(
                configuration, port: httpsTLS == nil ? nil : configuration.httpsPort, tls: httpsTLS, reader: NodeAccess(loop: loop, core: core), logger: logger)
            if let address = httpsServer?.address { logger.info("serving the HTTP API over TLS", metadata: ["address": "\(address)"]) }
            if let port = configuration.prometheusPort {
                metricsServer = try await StatusHTTPServer.startMetrics(
                    host: configuration.httpHost, port: port, reader: NodeAccess(loop: loop, core: core), logger: httpLogger(logger))
            }
            try await startGossip(configuration, core: core, amqpPort: address.port ?? configuration.amqpPort,
                                  httpPort: httpServer?.address.port ?? 0, on: loop, logger: logger)
            let listeners = [
                ("amqp", address), ("amqp/ssl", tlsServer?.localAddress), ("http", httpServer?.address), ("https", httpsServer?.address),
                ("http/prometheus", metricsServer?.address),
            ].compactMap { protocolName, address in
                address.flatMap { address in address.port.map { NodeCore.Listener(protocolName: protocolName, host: address.ipAddress ?? "", port: $0) } }
            }
            try await loop.submit { core.value.listeners += listeners }.get()
        } catch {
            try? await httpServer?.stop()
            try? await httpsServer?.stop()
            try? await metricsServer?.stop()
            try? await server.close()
            try? await tlsServer?.close()
            if let persister = try? await loop.submit({ try core.value.stop(); return core.value.driver.persister }).get() {
                await persister.finished()
            }
            throw error
        }
        return BerthNode(amqpAddress: address, loop: loop, serverChannel: server, tlsServerChannel: tlsServer, core: core, httpServer: httpServer, httpsServer: httpsServer,
                         metricsServer: metricsServer, logger: logger)
    }

    /// A listener for AMQP clients, over TLS with a context: the TLS handler goes first, and
    /// the AMQP handshake's timeout runs from the TCP accept, so it bounds the TLS
    /// handshake too.
    private static func listenForClients(
        host: String, port: Int, tls: NIOSSLContext?, loop: any EventLoop, core: NIOLoopBound<NodeCore>,
        settings: AMQPConnectionHandler.Settings
    ) async throws -> any Channel {
        try await ServerBootstrap(group: loop)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    let handler = AMQPConnectionHandler(core: core.value, settings: settings,
                                                        peerIsLoopback: Self.isLoopback(channel.remoteAddress))
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(AMQPFrameDecoder(role: .server, frameSizeMax: settings.frameSizeMax, channelMax: settings.channelMax)),
                        AMQPFrameEncodingHandler(),
                        handler,
                    ])
                }
            }
            .bind(host: host, port: port)
            .get()
    }

    private static func makeCore(_ configuration: NodeConfiguration, loop: any EventLoop, logger: Logger) throws -> NodeCore {
        let nodeID = try configuration.nodeID ?? NodeIdentity.loadOrCreate(dataDirectory: configuration.dataDirectory)
        // Whatever this node's own message size, it stores what any member may propose.
        var logOptions = WriteAheadLog.Options()
        logOptions.entryBytesMax = NodeCore.entryBytesMax(messageSizeMax: NodeConfiguration.messageSizeCeiling)
        // One log for all of the node's groups: more groups never mean more syncs.
        let log = try WriteAheadLog.open(dataDirectory: configuration.dataDirectory, options: logOptions)
        var storageOptions = DurableStorage.Options()
        storageOptions.entryBytesMax = logOptions.entryBytesMax
        let (durable, recovery) = try DurableStorage.open(dataDirectory: configuration.dataDirectory, groupID: 1, log: log, options: storageOptions)
        for warning in recovery.warnings { logger.warning("\(warning)") }
        let storage = configuration.wrapStorage?(durable) ?? durable
        var options = RaftGroup<BrokerMachine>.Options()
        options.snapshotEveryEntries = configuration.snapshotEveryEntries
        options.snapshotEveryBytes = configuration.snapshotEveryBytes
        options.snapshotEveryMs = configuration.snapshotEveryMs
        options.entriesRetainedAfterSnapshot = configuration.entriesRetainedAfterSnapshot
        var raftConfig = Config(id: nodeID, randomSeed: UInt64.random(in: 1...UInt64.max))
        raftConfig.electionTimeoutTicks = configuration.electionTimeoutTicks
        // One entry carries a whole message with its command around it. Appends and what is
        // in flight to a follower keep Raft's bounds (1 MiB, 32 MiB), a larger entry going
        // alone: a follower catching up from the log is not sent hundreds of megabytes in a
        // few frames, encoded at once on the leader's loop.
        let entryBytesMax = NodeCore.entryBytesMax(messageSizeMax: configuration.messageSizeMax)
        raftConfig.entryBytesMax = entryBytesMax
        raftConfig.uncommittedBytesMax = 8 * entryBytesMax
        raftConfig.applyBytesMax = configuration.applyBytesMax
        raftConfig.laggingFollowerLogBytesMax = configuration.laggingFollowerLogBytesMax
        // A founding member knows the first voters; a joining node waits to be taken in.
        let voters: Set<NodeID>? = configuration.peers.isEmpty
            ? (configuration.join.isEmpty ? [nodeID] : nil) : Set(configuration.peers.keys).union([nodeID])
        var limits = BrokerLimits()
        limits.argumentDepthMax = FieldTable.nestingDepthMax
        var storeOptions = MessageStore.Options()
        storeOptions.segmentBytes = limits.storeSegmentBytes
        let store = try MessageStore.open(groupDirectory: durable.directory, options: storeOptions)
        let group = try RaftGroup(
            config: raftConfig, storage: storage, recovered: recovery.state, snapshot: recovery.snapshot?.snapshot,
            machine: BrokerMachine(state: BrokerState(limits: limits), store: store), bootstrapVoters: voters, options: options)
        let metrics = NodeMetrics()
        let core = NodeCore(
            loop: loop, group: group, persister: Persister(storage: storage, metrics: metrics), groupDirectory: durable.directory,
            latestSnapshot: recovery.snapshot, clock: wallClockMilliseconds, acknowledgementTimeoutMs: configuration.acknowledgementTimeoutMs,
            resourceLimits: configuration.resourceLimits, metrics: metrics, logger: logger)
        core.initialUsers = configuration.initialUsers
        core.consumerTimeoutClosesChannel = configuration.consumerTimeoutClosesChannel
        if !configuration.peers.isEmpty || !configuration.join.isEmpty {
            guard let own = configuration.peers[nodeID] ?? configuration.peerAddress else { throw NodeStartError.notAPeer(nodeID) }
            guard !configuration.clusterSecret.isEmpty else { throw NodeStartError.noClusterSecret }
            var peers = configuration.peers
            peers[nodeID] = own
            var transportSettings = PeerTransport.Settings()
            if configuration.peerLinksUseTLS {
                do { transportSettings.tls = try PeerLinkTLS(clusterSecret: configuration.clusterSecret) } catch { throw NodeStartError.peerLinkTLS("\(error)") }
            }
            transportSettings.limits.entryBytesMax = entryBytesMax
            transportSettings.limits.frameBytesMax = max(transportSettings.limits.frameBytesMax, entryBytesMax + (1 << 20))
            let transport = PeerTransport(
                nodeID: nodeID, secret: configuration.clusterSecret, peers: peers, loop: loop, settings: transportSettings, logger: logger
            ) { [weak core] group, message in core?.receive(message, group: group) }
            transport.linkLost = { [weak core] peer in core?.leaderMayBeGone(peer, reason: "its peer link closed") }
            transport.requestArrived = { [weak core] frame, peer in core?.requestArrived(frame, from: peer) }
            transport.peerSending = { [weak core] peer in core?.group.heardFrom(peer) }
            core.transport = transport
            core.peerListenAddress = own
        }
        return core
    }

    /// Gossip for a node in a cluster: it binds the peer port's number over UDP, announces
    /// this node's addresses, and reports membership events to the core.
    private static func startGossip(_ configuration: NodeConfiguration, core: NIOLoopBound<NodeCore>, amqpPort: Int, httpPort: Int, on loop: any EventLoop,
                                    logger: Logger) async throws {
        try await loop.flatSubmit { () -> EventLoopFuture<Void> in
            let node = core.value
            guard node.transport != nil, let own = node.peerListenAddress else { return loop.makeSucceededVoidFuture() }
            var swim = SWIM.Settings(randomSeed: UInt64.random(in: 1...UInt64.max))
            swim.probeIntervalMs = configuration.gossipProbeIntervalMs
            swim.probeTimeoutMs = max(1, configuration.gossipProbeIntervalMs / 4)
            swim.suspicionTimeoutMs = configuration.gossipSuspicionTimeoutMs
            var gossipConfiguration = GossipShell.Configuration(
                nodeID: node.group.core.id, clusterSecret: configuration.clusterSecret, bind: SWIM.HostPort(host: own.host, port: UInt16(own.port)),
                amqp: SWIM.HostPort(host: configuration.amqpHost, port: UInt16(amqpPort)),
                http: SWIM.HostPort(host: configuration.httpHost, port: UInt16(httpPort)), swim: swim)
            let others = configuration.peers.filter { $0.key != node.group.core.id }.sorted { $0.key < $1.key }.map(\.value)
            gossipConfiguration.seeds = (configuration.join + others).map { SWIM.HostPort(host: $0.host, port: UInt16($0.port)) }
            do {
                let shell = try GossipShell(configuration: gossipConfiguration, loop: loop, logger: logger) { event in
                    core.value.gossipEvent(event)
                }
                node.gossip = shell
                shell.setAlarms(node.resources.alarms.gossip)
                return shell.start()
            } catch {
                return loop.makeFailedFuture(error)
            }
        }.get()
    }

    /// Leaves the cluster gracefully (see `NodeAccess.leave`); then `shutdown()`.
    public func leave(timeout: Duration = .seconds(10)) async throws {
        try await statusReader.leave(timeout: timeout)
    }

    /// Returns when the node is asked to stop through its HTTP API (after `POST /api/berth/leave`),
    /// or once it has stopped (nil); or with the reason when it cannot go on and must stop
    /// (it found its data lost).
    public func stopRequested() async -> String? {
        (try? await loop.submit { [core] in core.value.stopRequest.futureResult }.get().get()) ?? nil
    }

    /// The group's voters and learners as this node last applied them.
    public func membership() async throws -> Membership {
        try await loop.submit { [core] in core.value.group.core.membership }.get()
    }

    /// Stops listening and closes the log cleanly (the latest commit index written).
    public func shutdown() async throws {
        try await httpServer?.stop()
        try await httpsServer?.stop()
        try await metricsServer?.stop()
        try await loop.flatSubmit { [core] in core.value.gossip?.stop() ?? core.value.loop.makeSucceededVoidFuture() }.get()
        try await serverChannel.close()
        try await tlsServerChannel?.close()
        let persister = try await loop.submit { [core] in try core.value.stop(); return core.value.driver.persister }.get()
        // Its lanes' last outcomes must reach the loop before whoever owns it shuts it down.
        await persister.finished()
        logger.info("stopped")
    }

    /// The index of the last log entry this node has applied.
    public func appliedIndex() async throws -> UInt64 {
        try await loop.submit { [core] in core.value.group.core.appliedIndex }.get()
    }

    /// Whether this node leads its group and serves clients.
    public func isLeading() async throws -> Bool {
        try await loop.submit { [core] in core.value.isLeading }.get()
    }

    /// Waits until the listener closes.
    public func wait() async throws {
        try await serverChannel.closeFuture.get()
    }

    static func isLoopback(_ address: SocketAddress?) -> Bool {
        guard let ip = address?.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }
}

extension NodeConfiguration {
    /// The HTTPS listener's TLS: `tls`'s certificate and key, no client certificates (a
    /// browser or rabbitmqadmin has none); nil without an HTTPS port or certificate.
    func httpsTLS() throws(TLSSettings.Invalid) -> TLSConfiguration? {
        guard httpsPort != nil, var settings = tls else { return nil }
        settings.peerVerification = .none
        return try settings.makeServerConfiguration()
    }
}

public enum NodeStartError: Error, CustomStringConvertible {
    case noAddress
    case badNodeID(String)
    case notAPeer(NodeID)
    case noClusterSecret
    case leaveTimedOut
    case tls(TLSSettings.Invalid)
    /// The peer links' TLS could not be set up from the cluster secret.
    case peerLinkTLS(String)

    public var description: String {
        switch self {
        case .tls(let invalid): return "TLS: \(invalid)"
        case .peerLinkTLS(let reason): return "the peer links' TLS: \(reason)"
        case .noAddress: return "the AMQP listener has no address"
        case .badNodeID(let path): return "\(path) does not hold a node id"
        case .notAPeer(let id): return "node \(id) is not among the configured peers"
        case .noClusterSecret: return "a cluster needs a secret for its peers to prove membership"
        case .leaveTimedOut: return "the leader did not remove this node in time; it may still be a member"
        }
    }
}

/// A node's id, chosen once and kept in `<data directory>/node-id`.
enum NodeIdentity {
    static func loadOrCreate(dataDirectory: String) throws -> NodeID {
        try FileSystem.createDirectory(dataDirectory)
        let path = dataDirectory + "/node-id"
        if FileSystem.exists(path) {
            let text = String(decoding: try FileHandle(path: path, flags: O_RDONLY).readAll(), as: UTF8.self)
            guard let id = NodeID(String(text.filter { $0.isNumber })), id != 0 else { throw NodeStartError.badNodeID(path) }
            return id
        }
        let id = NodeID.random(in: 1...(1 << 53))
        try FileSystem.writeAtomically(Array("\(id)\n".utf8), to: path, directory: dataDirectory)
        return id
    }
}

/// Milliseconds since the Unix epoch: the leader's timestamps for TTL and expiry.
func wallClockMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}
