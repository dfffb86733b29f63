import ArgumentParser
import Auth
import Dispatch
import Glibc
import Log
import LogLines
import Logging
import NIOCore
import NIOPosix
import Node
import Raft
import TLS

/// `berth node`: runs one node until SIGINT or SIGTERM, then closes its log cleanly.
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a Berth node: an AMQP 0-9-1 broker whose every change goes through its Raft log.",
        discussion: """
            The data directory holds the node's id, its Raft log segments, hard state and \
            snapshots; nothing else is needed to restart it. A node that finds a damaged log \
            refuses to start and names the file and offset.
            """
    )

    @Option(name: .customLong("config"), help: ArgumentHelp(
        "A configuration file in rabbitmq.conf's style: `key = value` lines, `#` comments.",
        discussion: """
            It sets what the flags set, under RabbitMQ's keys where RabbitMQ has the setting \
            (listeners.tcp.default, management.tcp.port, heartbeat, vm_memory_high_watermark.relative, \
            ssl_options.certfile, log.console.level, ...) and berth.* keys for the rest (berth.data_dir, \
            berth.peer.1, ...); README.md lists them. Flags given override the file; --peer or --join \
            given replace the file's list. An unknown key or a bad value stops the node, naming the line.
            """,
        valueName: "file"))
    // Read by Berth.main before parsing (NodeCommand+ConfigFile.swift); here for --help.
    var configFile: String?

    @Option(name: .customLong("data-dir"), help: "The node's data directory (created if missing); or berth.data_dir in --config.")
    var dataDirectory: String

    @Option(name: .customLong("amqp-host"), help: "The address to listen on for AMQP clients.")
    var amqpHost = "127.0.0.1"

    @Option(name: .customLong("amqp-port"), help: "The port to listen on for AMQP clients.")
    var amqpPort = 5672

    @Option(name: .customLong("http-host"), help: "The address to listen on for the HTTP status API.")
    var httpHost = "127.0.0.1"

    @Option(
        name: .customLong("http-port"),
        help: """
            The port of the HTTP status API: GET /api/berth/node (Raft role, term, leader, log \
            indexes, followers' lag), /api/berth/queues (messages per queue) and /api/berth/health (200 \
            with a leader, 503 without), as JSON; what `berth nodes` and `berth queues` read. \
            0: any free port (the log says which).
            """)
    var httpPort = 15672

    @Option(name: .customLong("users-file"), help: ArgumentHelp(
        "A file of users to seed a new cluster with, one NAME:PASSWORD a line, its owner's alone (chmod 600).",
        discussion: """
            The first leader with such a file adds its users, each an administrator with every permission on "/"; \
            after that the file is not read again by the cluster: users, vhosts and permissions are managed through \
            the HTTP API (/api/users, /api/vhosts, /api/permissions) and replicated. guest:guest exists until \
            deleted, and logs in from loopback only.
            """))
    var usersFile: String?

    @Option(name: .customLong("heartbeat"), help: "The heartbeat interval offered to clients, in seconds (0: none).")
    var heartbeatSeconds: UInt16 = 60

    @Option(name: .customLong("consumer-timeout-ms"), help: "Cancel a consumer whose delivery stays unacknowledged this long, returning the delivery (0: never); a basic.get's delivery, or a client without consumer_cancel_notify, loses its channel instead.")
    var consumerTimeoutMs: Int64 = 30 * 60 * 1000

    @Flag(name: .customLong("consumer-timeout-closes-channel"), help: "Close the channel of every delivery past the consumer timeout instead of cancelling its consumer (consumer_timeout_response = close_channel).")
    var consumerTimeoutClosesChannel = false

    @Option(name: .customLong("election-timeout-ms"), help: "Raft's election timeout (20...60000): how long a follower waits for its leader before it campaigns, drawn between this and twice it. Keep it well above the round trip between members; every member of a cluster should use the same.")
    var electionTimeoutMs = NodeConfiguration(dataDirectory: "").electionTimeoutMs

    @Option(name: .customLong("max-message-size"), help: "The largest message body a client may publish, as RabbitMQ's max_message_size: a size such as 16MiB, at most 512MiB. A larger one closes its channel with 406. Every member should use the same.")
    var messageSizeMax = "\(NodeConfiguration(dataDirectory: "").messageSizeMax >> 20)MiB"

    @Option(name: .customLong("max-connections"), help: "Client connections this node serves at once, as RabbitMQ's connection_max; one more is refused at connection.open with 530.")
    var connectionsMax = NodeConfiguration(dataDirectory: "").connectionsMax

    @Option(name: .customLong("max-in-flight"), help: "Publishes a connection may have awaiting storage before it is blocked.")
    var publishesInFlightMax = 8_192

    @Option(name: .customLong("node-id"), help: "This node's id in a cluster (with --peer; with --join, made up and kept in DATA_DIR/node-id when not given).")
    var nodeID: UInt64?

    @Option(name: .customLong("peer"), help: "A cluster member as ID=HOST:PORT, where it listens for peers; repeat for every member, this node included.")
    var peers: [String] = []

    @Option(name: .customLong("cluster-secret-file"), help: "A file holding the cluster's shared secret (default: DATA_DIR/cluster-secret).")
    var clusterSecretFile: String?

    @Flag(name: .customLong("peer-tls"), inversion: .prefixedNo, help: ArgumentHelp(
        "Links between nodes inside TLS keyed by the cluster secret (on by default; every member must agree).",
        discussion: "--no-peer-tls leaves them plain TCP: the peer handshake still proves the secret, but nothing after it is encrypted or authenticated."))
    var peerTLS = true

    @Option(name: .customLong("join"), help: "Join a running cluster through this member's peer address, HOST:PORT (repeatable; any member will do). Needs --peer-address and the cluster's secret.")
    var join: [String] = []

    @Option(name: .customLong("peer-address"), help: "With --join: where this node listens for peers (TCP) and gossip (UDP), as HOST:PORT.")
    var peerAddress: String?

    @Option(name: .customLong("memory-high-watermark"), help: "Resident memory past which publishers are blocked: a fraction of the machine's memory (0.4) or a size (2GiB, 512MB).")
    var memoryHighWatermark = "0.4"

    @Option(name: .customLong("disk-free-limit"), help: "Free space on the data directory's file system below which publishers are blocked, as a size (2GiB, 500MB).")
    var diskFreeLimit = "2GiB"

    @Option(name: .customLong("snapshot-every-entries"), help: "Take a snapshot once this many log entries were applied since the last one.")
    var snapshotEveryEntries = NodeConfiguration(dataDirectory: "").snapshotEveryEntries

    @Option(name: .customLong("snapshot-every-bytes"), help: "Take a snapshot once this much log was applied since the last one (or four times the last snapshot's file, if more), as a size.")
    var snapshotEveryBytes = "\(NodeConfiguration(dataDirectory: "").snapshotEveryBytes >> 20)MiB"

    @Option(name: .customLong("snapshot-retained-entries"), help: "Log entries kept behind a snapshot, so that a follower a little behind catches up from the log rather than a whole snapshot.")
    var entriesRetainedAfterSnapshot = NodeConfiguration(dataDirectory: "").entriesRetainedAfterSnapshot

    @Option(name: .customLong("lagging-follower-log"), help: "Log a leader keeps past its snapshot for a follower behind it, so that the follower catches up from the log rather than from a whole snapshot (kept only while less than the snapshot would send), as a size; 0 keeps none.")
    var laggingFollowerLog = "\(NodeConfiguration(dataDirectory: "").laggingFollowerLogBytesMax >> 30)GiB"

    @Option(name: .customLong("tls-port"), help: "The port to listen on for AMQP clients over TLS (amqps), with --tls-certificate and --tls-key.")
    var tlsPort = 5671

    @Option(name: .customLong("tls-certificate"), help: "PEM file of this node's TLS certificate, then any intermediates (RabbitMQ's ssl_options.certfile): serves amqps on --tls-port.")
    var tlsCertificate: String?

    @Option(name: .customLong("tls-key"), help: "PEM file of the certificate's private key (ssl_options.keyfile); only its owner may read it.")
    var tlsKey: String?

    @Option(name: .customLong("tls-ca"), help: "PEM file of the certificate authorities that clients' certificates must chain to (ssl_options.cacertfile).")
    var tlsCA: String?

    @Flag(name: .customLong("tls-verify-peer"), help: "Ask TLS clients for a certificate and refuse one that does not chain to --tls-ca (ssl_options.verify = verify_peer).")
    var tlsVerifyPeer = false

    @Flag(name: .customLong("tls-fail-if-no-peer-cert"), help: "With --tls-verify-peer, refuse TLS clients that present no certificate (ssl_options.fail_if_no_peer_cert).")
    var tlsFailIfNoPeerCertificate = false

    @Option(name: .customLong("https-port"), help: "Serve the HTTP API over TLS too, on this port (RabbitMQ's management.ssl.port, 15671), with --tls-certificate and --tls-key; clients' certificates are not asked for.")
    var httpsPort: Int?

    @Option(name: .customLong("prometheus-port"), help: "The port of the Prometheus endpoint, on --http-host: GET /metrics (RabbitMQ's metric names, queues summed) and /metrics/per-object (a series per queue), as RabbitMQ's prometheus.tcp.port; 0: any free port.")
    var prometheusPort = 15692

    @Option(name: .customLong("log-level"), help: ArgumentHelp(
        "The least severe log events written: trace, debug, info, notice, warning, error or critical.",
        discussion: "Logins, connections opening and closing, leader changes and alarms are at info; refusals at warning."))
    var logLevel: Logger.Level = .info

    @Option(name: .customLong("log-format"), help: "How log lines look on standard error: text, or json (one object a line, for log shippers).")
    var logFormat: LogFormat = .text

    @Flag(name: .customLong("leave-on-shutdown"), help: "On SIGTERM, leave the cluster (the leader removes this node from the voters) before stopping.")
    var leaveOnShutdown = false

    func validate() throws {
        guard (0...65535).contains(amqpPort) else { throw ValidationError("--amqp-port must be in 0...65535") }
        guard (0...65535).contains(httpPort) else { throw ValidationError("--http-port must be in 0...65535") }
        guard consumerTimeoutMs >= 0 else { throw ValidationError("--consumer-timeout-ms must not be negative") }
        guard (20...60_000).contains(electionTimeoutMs) else { throw ValidationError("--election-timeout-ms must be in 20...60000") }
        guard publishesInFlightMax > 0 else { throw ValidationError("--max-in-flight must be positive") }
        guard connectionsMax > 0 else { throw ValidationError("--max-connections must be positive") }
        guard let size = Self.parseSize(messageSizeMax), (1...UInt64(NodeConfiguration.messageSizeCeiling)).contains(size) else {
            throw ValidationError("--max-message-size takes a size from 1 byte to 512MiB, such as 16MiB, got '\(messageSizeMax)'")
        }
        guard snapshotEveryEntries > 0 else { throw ValidationError("--snapshot-every-entries must be positive") }
        guard let bytes = Self.parseSize(snapshotEveryBytes), bytes > 0, bytes <= Int.max else {
            throw ValidationError("--snapshot-every-bytes takes a positive size such as 64MiB, got '\(snapshotEveryBytes)'")
        }
        guard entriesRetainedAfterSnapshot >= 0 else { throw ValidationError("--snapshot-retained-entries must not be negative") }
        guard let bytes = Self.parseSize(laggingFollowerLog), bytes <= Int.max else {
            throw ValidationError("--lagging-follower-log takes a size such as 4GiB or 0, got '\(laggingFollowerLog)'")
        }
        guard (0...65535).contains(tlsPort) else { throw ValidationError("--tls-port must be in 0...65535") }
        guard (tlsCertificate == nil) == (tlsKey == nil) else { throw ValidationError("--tls-certificate and --tls-key go together") }
        if tlsCertificate == nil, tlsCA != nil || tlsVerifyPeer {
            throw ValidationError("--tls-ca and --tls-verify-peer need --tls-certificate and --tls-key")
        }
        if tlsVerifyPeer, tlsCA == nil { throw ValidationError("--tls-verify-peer needs --tls-ca, the authorities clients' certificates chain to") }
        if tlsFailIfNoPeerCertificate, !tlsVerifyPeer { throw ValidationError("--tls-fail-if-no-peer-cert needs --tls-verify-peer") }
        guard (0...65535).contains(prometheusPort) else { throw ValidationError("--prometheus-port must be in 0...65535") }
        if let httpsPort {
            guard (0...65535).contains(httpsPort) else { throw ValidationError("--https-port must be in 0...65535") }
            guard tlsCertificate != nil else { throw ValidationError("--https-port needs --tls-certificate and --tls-key") }
        }
        _ = try resourceLimits()
        _ = try parsedPeers()
        if !peers.isEmpty, nodeID == nil { throw ValidationError("--peer needs --node-id") }
        for seed in join { _ = try Self.parseHostPort(seed, flag: "--join") }
        if !join.isEmpty {
            guard peers.isEmpty else { throw ValidationError("--join and --peer exclude each other: a founding member lists its peers, a newcomer joins") }
            guard let peerAddress else { throw ValidationError("--join needs --peer-address") }
            _ = try Self.parseHostPort(peerAddress, flag: "--peer-address")
        }
    }

    private func resourceLimits() throws -> ResourceLimits {
        var limits = ResourceLimits.defaults
        if let fraction = Double(memoryHighWatermark), !memoryHighWatermark.contains(where: \.isLetter) {
            guard fraction > 0, fraction <= 1 else { throw ValidationError("--memory-high-watermark as a fraction must be in (0, 1], got \(memoryHighWatermark)") }
            limits.memoryHighWatermarkBytes = UInt64(Double(ResourceLimits.physicalMemoryBytes) * fraction)
        } else {
            guard let bytes = Self.parseSize(memoryHighWatermark) else { throw ValidationError("--memory-high-watermark takes a fraction or a size, got '\(memoryHighWatermark)'") }
            limits.memoryHighWatermarkBytes = bytes
        }
        guard let disk = Self.parseSize(diskFreeLimit) else { throw ValidationError("--disk-free-limit takes a size such as 2GiB, got '\(diskFreeLimit)'") }
        limits.diskFreeLimitBytes = disk
        return limits
    }

    /// A size as RabbitMQ's configuration writes them: a number, and an optional unit (kB,
    /// MB, GB are powers of 1000; KiB, MiB, GiB of 1024).
    /// The TLS listener's files, read now: the key only if its owner alone may read it.
    private func tlsSettings() throws -> TLSSettings? {
        guard let tlsCertificate, let tlsKey else { return nil }
        func readPEM(_ path: String, flag: String) throws -> [UInt8] {
            let bytes: [UInt8]
            do { bytes = try FileHandle(path: path, flags: O_RDONLY).readAll() } catch { throw ValidationError("\(flag): \(error)") }
            guard !bytes.isEmpty else { throw ValidationError("\(flag): \(path) is empty") }
            return bytes
        }
        let key: [UInt8]
        do { key = try SecretFile.read(tlsKey) } catch { throw ValidationError("--tls-key: \(error)") }
        let verification: TLSSettings.PeerVerification = !tlsVerifyPeer ? .none : tlsFailIfNoPeerCertificate ? .required : .verifyIfPresented
        return TLSSettings(
            certificateChainPEM: try readPEM(tlsCertificate, flag: "--tls-certificate"), privateKeyPEM: key,
            trustedCertificatesPEM: try tlsCA.map { try readPEM($0, flag: "--tls-ca") }, peerVerification: verification)
    }

    static func parseSize(_ text: String) -> UInt64? {
        let digits = text.prefix { $0.isNumber }
        guard let number = UInt64(digits) else { return nil }
        let units: [String: UInt64] = [
            "": 1, "B": 1, "kB": 1_000, "KB": 1_000, "MB": 1_000_000, "GB": 1_000_000_000, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
        ]
        guard let unit = units[String(text.dropFirst(digits.count))] else { return nil }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: unit)
        return overflow ? nil : bytes
    }

    static func parseHostPort(_ text: String, flag: String) throws -> PeerAddress {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            throw ValidationError("\(flag) takes HOST:PORT, got '\(text)'")
        }
        return PeerAddress(host: String(text[..<colon]), port: port)
    }

    private func parsedPeers() throws -> [UInt64: PeerAddress] {
        var result: [UInt64: PeerAddress] = [:]
        for peer in peers {
            let (id, address) = try Self.parsePeer(peer)
            result[id] = address
        }
        return result
    }

    static func parsePeer(_ peer: String) throws -> (id: UInt64, address: PeerAddress) {
        let parts = peer.split(separator: "=", maxSplits: 1)
        guard parts.count == 2, let id = UInt64(parts[0]), id != 0, let colon = parts[1].lastIndex(of: ":"),
            let port = Int(parts[1][parts[1].index(after: colon)...])
        else { throw ValidationError("--peer takes ID=HOST:PORT, got '\(peer)'") }
        return (id, PeerAddress(host: String(parts[1][..<colon]), port: port))
    }

    func run() async throws {
        logFormat.bootstrap(level: logLevel)
        var configuration = NodeConfiguration(dataDirectory: dataDirectory)
        configuration.amqpHost = amqpHost
        configuration.amqpPort = amqpPort
        configuration.httpHost = httpHost
        configuration.httpPort = httpPort
        configuration.heartbeatSeconds = heartbeatSeconds
        configuration.acknowledgementTimeoutMs = consumerTimeoutMs == 0 ? nil : consumerTimeoutMs
        configuration.consumerTimeoutClosesChannel = consumerTimeoutClosesChannel
        configuration.electionTimeoutMs = electionTimeoutMs
        configuration.publishesInFlightMax = publishesInFlightMax
        configuration.messageSizeMax = Int(Self.parseSize(messageSizeMax)!)
        configuration.connectionsMax = connectionsMax
        configuration.snapshotEveryEntries = snapshotEveryEntries
        configuration.snapshotEveryBytes = Int(Self.parseSize(snapshotEveryBytes)!)
        configuration.entriesRetainedAfterSnapshot = entriesRetainedAfterSnapshot
        configuration.laggingFollowerLogBytesMax = Int(Self.parseSize(laggingFollowerLog)!)
        configuration.resourceLimits = try resourceLimits()
        configuration.nodeID = nodeID
        configuration.peers = try parsedPeers()
        configuration.join = try join.map { try Self.parseHostPort($0, flag: "--join") }
        configuration.peerAddress = try peerAddress.map { try Self.parseHostPort($0, flag: "--peer-address") }
        configuration.peerLinksUseTLS = peerTLS
        if !configuration.peers.isEmpty || !configuration.join.isEmpty {
            let path = clusterSecretFile ?? dataDirectory + "/cluster-secret"
            do {
                configuration.clusterSecret = try SecretFile.read(path)
            } catch .unreadable(_, ENOENT) {
                throw ValidationError("a cluster needs its secret in \(path) (or --cluster-secret-file)")
            } catch {
                throw ValidationError(error.description)
            }
        }
        configuration.tls = try tlsSettings()
        configuration.tlsPort = tlsPort
        configuration.httpsPort = httpsPort
        configuration.prometheusPort = prometheusPort
        if let usersFile {
            do {
                configuration.initialUsers = try UsersFile.parse(String(decoding: try SecretFile.read(usersFile), as: UTF8.self))
            } catch {
                throw ValidationError("--users-file \(usersFile): \(error)")
            }
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let node = try await BerthNode.start(configuration, on: group.next())
        // Until a signal comes, or the node is asked through its HTTP API to stop (it left),
        // or it cannot go on.
        enum Stop: Sendable {
            case signal(Int32?)
            case requested(reason: String?)
        }
        let (stops, stop) = AsyncStream<Stop>.makeStream()
        let signals = Task { stop.yield(.signal(await waitForSignal([SIGINT, SIGTERM]))) }
        Task { stop.yield(.requested(reason: await node.stopRequested())) }  // ends once the node has stopped
        var first: Stop = .signal(nil)
        for await next in stops {
            first = next
            break
        }
        signals.cancel()
        if leaveOnShutdown, case .signal(SIGTERM) = first {
            do { try await node.leave() } catch { Logger(label: "berth.node").warning("leaving the cluster: \(error)") }
        }
        try await node.shutdown()
        if case .requested(let reason?) = first {
            printError("berth: \(reason)")
            try await group.shutdownGracefully()
            throw ExitCode(1)
        }
        try await group.shutdownGracefully()
    }
}

/// Waits for the first of `signals`, which no longer end the process by default, and
/// returns it.
@discardableResult
func waitForSignal(_ signals: [Int32]) async -> Int32 {
    let (stream, continuation) = AsyncStream<Int32>.makeStream()
    let sources = signals.map { number in
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number)
        source.setEventHandler { continuation.yield(number) }
        source.resume()
        return source
    }
    var received: Int32 = 0
    for await number in stream {
        received = number
        break
    }
    sources.forEach { $0.cancel() }
    return received
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension LogFormat: ExpressibleByArgument {}
