import Auth
import Gossip
import Logging
import NIOCore
import NIOPosix

/// The UDP shell around one `SWIMInstance`: it binds the gossip socket, ticks the instance
/// every protocol period, hands it every datagram that decodes, carries out what it asks
/// (datagrams, timeouts, membership events) and reads the monotonic clock for it.
///
/// Every datagram is a message sealed with a key derived from the cluster secret
/// (`GossipSeal`): what a non-member sends, forges or replays is dropped before the
/// instance sees it, and counted.
///
/// Confined to one event loop: create it, call it and read it there; `onEvent` is called
/// there too. Every queue is bounded: datagrams over `datagramBytesMax` are dropped unread,
/// sends beyond `sendQueueBytesMax` waiting for the socket are dropped, and so are pending
/// timeouts beyond a small multiple of `membersMax`; each drop is counted. SWIM expects
/// loss, so a drop costs at most a probe.
///
/// Call `stop()` (abrupt) or `leave()` (graceful) when done: the timer and the socket live
/// until then.
public final class GossipShell {
    public struct Configuration: Sendable {
        public var nodeID: SWIM.NodeID
        /// Where the UDP socket binds; port 0 takes any free port (see `localAddress`).
        public var bind: SWIM.HostPort
        /// The host peers reach this node at, if not `bind.host` (e.g. when binding 0.0.0.0).
        /// The advertised port is always the bound one.
        public var advertisedHost: String?
        /// Where this node serves AMQP clients and HTTP, as published to the other members.
        public var amqp: SWIM.HostPort
        public var http: SWIM.HostPort
        /// Peer addresses (host names or IPs) to join through at start; empty for the first
        /// node of a cluster. Tried in turn, with backoff, until one answers.
        public var seeds: [SWIM.HostPort] = []
        public var swim: SWIM.Settings
        /// The cluster's secret, which every member holds: datagrams are sealed with a key
        /// derived from it.
        public var clusterSecret: [UInt8]
        /// Longer messages are dropped unread, and not sent (a datagram is one in its seal,
        /// `GossipSeal.overheadBytes` longer). Every member must agree, and it must fit a
        /// join reply of `membersMax` members.
        public var datagramBytesMax = SWIM.Wire.datagramBytesMax
        /// Bytes of datagrams waiting for the socket; beyond it, sends are dropped.
        public var sendQueueBytesMax = 1 << 20
        /// How long a leaving node keeps answering pings (with its `left` record) after it
        /// announced the departure, so the news spreads even if an announcement was lost.
        public var leaveLinger = TimeAmount.seconds(1)

        public init(
            nodeID: SWIM.NodeID, clusterSecret: [UInt8], bind: SWIM.HostPort, amqp: SWIM.HostPort, http: SWIM.HostPort, swim: SWIM.Settings
        ) {
            self.nodeID = nodeID
            self.clusterSecret = clusterSecret
            self.bind = bind
            self.amqp = amqp
            self.http = http
            self.swim = swim
        }

        /// The smallest `datagramBytesMax`: a message with one full member record.
        public static let datagramBytesMin = 64 + SWIM.Wire.memberBytesMax
    }

    public struct ConfigurationError: Error, CustomStringConvertible {
        public var description: String
    }

    /// `start()` after `start()`, or the shell stopped before its socket was bound.
    public struct NotStartable: Error, CustomStringConvertible {
        public var description: String
    }

    /// What the shell did with datagrams, counted since it was created.
    public struct Counters: Hashable, Sendable {
        public var datagramsReceived = 0
        /// Handed to the socket (its write succeeded).
        public var datagramsSent = 0
        /// Received but not sealed with the cluster's key (another key, changed on the way,
        /// not sealed at all): dropped.
        public var datagramsUnauthenticated = 0
        /// Sealed with the cluster's key but taken before, or from a sender's older epoch (a
        /// replay): dropped.
        public var datagramsReplayed = 0
        /// Authenticated but not a message (another version): dropped.
        public var datagramsUndecodable = 0
        /// Received over `datagramBytesMax`: dropped unread.
        public var datagramsTooLong = 0
        /// Not sent: the send queue was full, the address had no address of the socket's
        /// family, the message was over `datagramBytesMax`, or the socket was being bound
        /// again.
        public var sendsDropped = 0
        /// The socket refused the write.
        public var sendsFailed = 0
        /// Not scheduled, because too many were pending; the instance copes with a lost one.
        public var timeoutsDropped = 0
        /// Times the socket closed under the shell and was bound again (NIO closes a datagram
        /// channel on most send errors, e.g. a firewall's EPERM or a lost route).
        public var socketReopens = 0
    }

    private enum State {
        case idle, binding, running, leaving, stopped
    }

    public let configuration: Configuration
    private let loop: any EventLoop
    private let logger: Logger
    private let onEvent: (GossipEvent) -> Void
    private var state = State.idle
    private var instance: SWIMInstance?
    private var channel: (any Channel)?
    private var resolver: GossipAddressResolver?
    private var ticker: RepeatedTask?
    private var lingering: Scheduled<Void>?
    /// The socket being bound again after it closed under the shell, and the next try.
    private var reopening: EventLoopFuture<any Channel>?
    private var reopenRetry: Scheduled<Void>?
    private var lastReopenWarning: NIODeadline?
    private var lastRefusalWarning: NIODeadline?
    private var timeouts: [SWIM.SequenceNumber: Scheduled<Void>] = [:]
    /// Made by `start()`; completes once the socket is closed.
    private var closed: EventLoopPromise<Void>?
    /// Set while a batch of directives is carried out: one flush at its end.
    private var batching = false
    private var unflushed = false
    /// This node's resource alarms, as `setAlarms` last said (kept until the socket is bound).
    private var alarms: SWIM.Alarms = []

    /// The address the socket is bound to, once `start()` succeeded.
    public private(set) var localAddress: SocketAddress?
    public private(set) var counters = Counters()
    private var sealer: GossipSealer
    private var opener: GossipOpener

    /// Call on `loop`. Checks the configuration; `start()` binds.
    public init(
        configuration: Configuration, loop: any EventLoop, logger: Logger = Logger(label: "berth.gossip"),
        onEvent: @escaping (GossipEvent) -> Void
    ) throws(ConfigurationError) {
        loop.preconditionInEventLoop()
        let limit = configuration.datagramBytesMax
        guard limit >= Configuration.datagramBytesMin, limit <= SWIM.Wire.datagramBytesMax else {
            throw ConfigurationError(description: "datagramBytesMax must be between \(Configuration.datagramBytesMin) and \(SWIM.Wire.datagramBytesMax)")
        }
        guard configuration.sendQueueBytesMax >= limit else {
            throw ConfigurationError(description: "sendQueueBytesMax must hold at least one datagram of datagramBytesMax")
        }
        guard configuration.advertisedHost != nil || !["0.0.0.0", "::"].contains(configuration.bind.host) else {
            throw ConfigurationError(description: "advertisedHost must be set when binding to every interface: peers need an address to reach")
        }
        guard configuration.leaveLinger >= .zero else {
            throw ConfigurationError(description: "leaveLinger must not be negative")
        }
        guard !configuration.clusterSecret.isEmpty else {
            throw ConfigurationError(description: "clusterSecret must not be empty: it is what makes a datagram a member's")
        }
        self.configuration = configuration
        let key = GossipSeal.key(secret: configuration.clusterSecret)
        // The epoch orders this shell's datagrams after those of any earlier run of this
        // node, whose counters started again from 1.
        sealer = GossipSealer(key: key, sender: configuration.nodeID, epoch: UInt64(max(0, wallClockMilliseconds())))
        opener = GossipOpener(key: key, sendersMax: configuration.swim.membersMax)
        self.loop = loop
        self.logger = logger
        self.onEvent = onEvent
        // The instance proper needs the bound port; this one only checks the rest now.
        _ = try Self.makeInstance(configuration, peerPort: configuration.bind.port)
    }

    // MARK: Observers

    /// This node's own record, once started: alive, or left after `leave()`.
    public var myself: SWIM.Member? { instance?.myself }

    /// Every member known, this node first, then by id; tombstones (dead, left) included.
    public var members: [SWIM.Member] {
        guard let instance else { return [] }
        return [instance.myself] + instance.members
    }

    /// Whether a seed answered (always true with no seeds).
    public var isJoined: Bool { instance?.isJoined ?? false }

    /// What the protocol did, once started: probes, refutations and the like.
    public var protocolCounters: SWIM.Counters? { instance?.counters }

    /// Completes once the socket is closed, by `stop()` or at the end of `leave()`; at once
    /// if the shell never started.
    private var closedFuture: EventLoopFuture<Void> { closed?.futureResult ?? loop.makeSucceededVoidFuture() }

    // MARK: Life cycle

    /// Binds the socket, then starts ticking and, with seeds, joining. Completes once bound.
    public func start() -> EventLoopFuture<Void> {
        loop.preconditionInEventLoop()
        guard state == .idle else { return loop.makeFailedFuture(NotStartable(description: "the gossip shell was started already")) }
        state = .binding
        closed = loop.makePromise()
        let bound = NIOLoopBound(self, eventLoop: loop)
        return openSocket(port: Int(configuration.bind.port))
            .assumeIsolated()
            .flatMapErrorThrowing { error in
                bound.value.bindFailed()
                throw error
            }
            .flatMapThrowing { channel in try bound.value.bound(channel) }
            .nonisolated()
    }

    /// Closes the socket at once, saying nothing: to the others this node just went quiet
    /// (they will find it dead). Safe to call in any state, and again.
    @discardableResult
    public func stop() -> EventLoopFuture<Void> {
        loop.preconditionInEventLoop()
        let wasBinding = state == .binding
        guard state != .stopped else { return closedFuture }
        state = .stopped
        ticker?.cancel()
        ticker = nil
        lingering?.cancel()
        lingering = nil
        reopenRetry?.cancel()
        reopenRetry = nil
        for timeout in timeouts.values { timeout.cancel() }
        timeouts = [:]
        resolver?.stop()
        if let channel {
            self.channel = nil
            let closed = self.closed
            channel.close().whenComplete { _ in closed?.succeed() }
        } else if reopening != nil {
            // `reopen` closes the socket being bound again once it arrives.
        } else if !wasBinding {
            closed?.succeed()
        }
        // While binding, `bound(_:)` closes the channel once it arrives.
        return closedFuture
    }

    /// Announces the departure to a few members (who spread it), keeps answering pings
    /// with the `left` record for `leaveLinger`, then closes the socket. The others report
    /// it as left, never as dead. Before the shell runs, the same as `stop()`.
    @discardableResult
    public func leave() -> EventLoopFuture<Void> {
        loop.preconditionInEventLoop()
        guard state == .running else {
            return state == .leaving ? closedFuture : stop()
        }
        state = .leaving
        drive { instance, now in instance.leave(now: now) }
        guard state == .leaving else { return closedFuture }
        lingering = loop.assumeIsolated().scheduleTask(in: configuration.leaveLinger) { [self] in
            lingering = nil
            stop()
        }
        return closedFuture
    }

    /// This node's resource alarms are now `alarms`: its record carries them to every
    /// member (see `SWIMInstance.setAlarms`).
    public func setAlarms(_ alarms: SWIM.Alarms) {
        loop.preconditionInEventLoop()
        self.alarms = alarms
        drive { instance, now in instance.setAlarms(alarms, now: now) }
    }

    // MARK: Binding

    private func openSocket(port: Int) -> EventLoopFuture<any Channel> {
        let bound = NIOLoopBound(self, eventLoop: loop)
        let limit = configuration.datagramBytesMax
        let queueMax = configuration.sendQueueBytesMax
        return DatagramBootstrap(group: loop)
            // One byte more than the limit, so that a longer datagram shows (the kernel
            // truncates what does not fit).
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: limit + GossipSeal.overheadBytes + 1))
            .channelOption(.writeBufferWaterMark, value: .init(low: queueMax / 2, high: queueMax))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(GossipDatagramHandler(shell: bound.value))
                }
            }
            .bind(host: configuration.bind.host, port: port)
    }

    /// Binds the same port again after the socket closed under a running shell: the
    /// instance, its timers and its view carry on, and what it sends meanwhile is dropped
    /// (to the others, a short loss). Tried again every `reopenRetryInterval` until it binds.
    private func reopen() {
        guard state == .running || state == .leaving, let port = localAddress?.port else { return }
        reopenRetry = nil
        let bound = NIOLoopBound(self, eventLoop: loop)
        let opened = openSocket(port: port)
        reopening = opened
        opened.assumeIsolated().whenComplete { result in
            let shell = bound.value
            shell.reopening = nil
            let stillRunning = shell.state == .running || shell.state == .leaving
            switch result {
            case .success(let channel) where stillRunning:
                shell.channel = channel
                shell.logger.debug("gossip socket bound again", metadata: ["node": "\(shell.configuration.nodeID)"])
            case .success(let channel):
                // Stopped meanwhile: `stop()` left the close to this.
                let closed = shell.closed
                channel.close().whenComplete { _ in closed?.succeed() }
            case .failure(let error) where stillRunning:
                shell.logger.debug("binding the gossip socket again failed", metadata: ["error": "\(error)"])
                shell.reopenRetry = shell.loop.assumeIsolated().scheduleTask(in: Self.reopenRetryInterval) { bound.value.reopen() }
            case .failure:
                shell.closed?.succeed()
            }
        }
    }

    private static let reopenRetryInterval = TimeAmount.seconds(1)
    /// A cut that refuses every send closes the socket again and again, a stranger may send
    /// without end: one warning a minute for each.
    private static let warningInterval = TimeAmount.minutes(1)

    private static func makeInstance(_ configuration: Configuration, peerPort: UInt16) throws(ConfigurationError) -> SWIMInstance {
        let peer = SWIM.HostPort(host: configuration.advertisedHost ?? configuration.bind.host, port: peerPort)
        let addresses = SWIM.Addresses(peer: peer, amqp: configuration.amqp, http: configuration.http)
        do {
            return try SWIMInstance(settings: configuration.swim, id: configuration.nodeID, addresses: addresses)
        } catch {
            throw ConfigurationError(description: error.description)
        }
    }

    /// No socket: stopped, whether or not `stop()` came first.
    private func bindFailed() {
        state = .stopped
        closed?.succeed()
    }

    private func bound(_ channel: any Channel) throws {
        guard state == .binding else {
            let closed = self.closed
            channel.close().whenComplete { _ in closed?.succeed() }
            throw NotStartable(description: "the gossip shell was stopped before its socket was bound")
        }
        self.channel = channel
        let address: SocketAddress
        do {
            guard let local = channel.localAddress, let port = local.port else {
                throw NotStartable(description: "the gossip socket has no local address")
            }
            instance = try Self.makeInstance(configuration, peerPort: UInt16(port))
            address = local
        } catch {
            stop()
            throw error
        }
        localAddress = address
        resolver = GossipAddressResolver(loop: loop, family: address.protocol)
        state = .running
        let period = TimeAmount.milliseconds(Int64(configuration.swim.probeIntervalMs))
        let bound = NIOLoopBound(self, eventLoop: loop)
        ticker = loop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            bound.value.drive { instance, now in instance.onPeriodicTick(now: now) }
        }
        logger.debug("gossip listening", metadata: ["address": "\(address)", "node": "\(configuration.nodeID)"])
        if !alarms.isEmpty {
            let alarms = self.alarms
            drive { instance, now in instance.setAlarms(alarms, now: now) }
        }
        let seeds = configuration.seeds
        if !seeds.isEmpty {
            drive { instance, now in instance.join(seeds: seeds, now: now) }
        }
    }

    // MARK: Driving the instance

    /// Milliseconds on the monotonic clock: the only clock the instance sees.
    private static func now() -> SWIM.Millis {
        SWIM.Millis(NIODeadline.now().uptimeNanoseconds / 1_000_000)
    }

    /// Runs one handler of the instance and carries out what it returns.
    private func drive(_ handler: (inout SWIMInstance, SWIM.Millis) -> [SWIM.Directive]) {
        guard state == .running || state == .leaving, instance != nil else { return }
        let directives = handler(&instance!, Self.now())
        // An event handler may drive the instance again (say, leave): only the outermost
        // batch flushes.
        let outermost = !batching
        batching = true
        for directive in directives {
            switch directive {
            case .send(let message, let address):
                send(message, to: address)
            case .scheduleTimeout(let sequence, let delayMs):
                scheduleTimeout(sequence, afterMs: delayMs)
            case .event(let event):
                // May call back into the shell, even stop it: every step checks the state.
                onEvent(GossipEvent(event))
            }
        }
        guard outermost else { return }
        batching = false
        flush()
    }

    /// Called by the handler with every datagram.
    fileprivate func receive(_ envelope: AddressedEnvelope<ByteBuffer>) {
        guard state == .running || state == .leaving else { return }
        counters.datagramsReceived += 1
        let data = envelope.data
        guard data.readableBytes <= configuration.datagramBytesMax + GossipSeal.overheadBytes else {
            counters.datagramsTooLong += 1
            return
        }
        let sealed: (sender: UInt64, message: ArraySlice<UInt8>)
        switch opener.open(Array(data.readableBytesView)) {
        case .success(let opened): sealed = opened
        case .failure(.malformed), .failure(.forged):
            counters.datagramsUnauthenticated += 1
            warnOfRefusal(from: envelope.remoteAddress)
            return
        case .failure(.replayed), .failure(.stale):
            counters.datagramsReplayed += 1
            return
        }
        guard let host = envelope.remoteAddress.ipAddress, let port = envelope.remoteAddress.port,
            let message = try? SWIM.Message(decoding: Array(sealed.message))
        else {
            counters.datagramsUndecodable += 1
            return
        }
        // The message speaks for the member that sealed it, no other.
        guard message.from == sealed.sender else {
            counters.datagramsUnauthenticated += 1
            warnOfRefusal(from: envelope.remoteAddress)
            return
        }
        let source = SWIM.HostPort(host: host, port: UInt16(port))
        drive { instance, now in instance.onMessage(message, from: source, now: now) }
    }

    /// A node with another cluster's secret, or someone forging: one warning a minute.
    private func warnOfRefusal(from address: SocketAddress) {
        let now = NIODeadline.now()
        guard lastRefusalWarning.map({ now - $0 >= Self.warningInterval }) ?? true else { return }
        lastRefusalWarning = now
        logger.warning("dropped gossip datagrams not sealed with this cluster's key (another cluster's secret, or forged)", metadata: [
            "from": "\(address)", "dropped": "\(counters.datagramsUnauthenticated)",
        ])
    }

    private func scheduleTimeout(_ sequence: SWIM.SequenceNumber, afterMs delayMs: SWIM.Millis) {
        guard state == .running || state == .leaving else { return }
        // A probe's timeout and one per relay, which the instance bounds by membersMax;
        // twice that leaves room for ones about to fire.
        guard timeouts.count < 2 * configuration.swim.membersMax + 2 else {
            counters.timeoutsDropped += 1
            return
        }
        timeouts[sequence] = loop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(delayMs))) { [self] in
            timeouts[sequence] = nil
            drive { instance, now in instance.onTimeout(sequence: sequence, now: now) }
        }
    }

    private func send(_ message: SWIM.Message, to address: SWIM.HostPort) {
        guard let resolver else { return }
        let encoded = message.encoded()
        guard encoded.count <= configuration.datagramBytesMax else {
            counters.sendsDropped += 1
            return
        }
        let bytes = sealer.seal(encoded)
        resolver.resolve(address) { [self] socketAddress in
            guard let socketAddress else {
                counters.sendsDropped += 1
                return
            }
            write(bytes, to: socketAddress)
            // Resolved later, outside any batch: nothing else will flush it.
            if !batching { flush() }
        }
    }

    private func write(_ bytes: [UInt8], to address: SocketAddress) {
        guard state == .running || state == .leaving else { return }
        guard let channel, channel.isWritable else {
            counters.sendsDropped += 1
            return
        }
        let buffer = channel.allocator.buffer(bytes: bytes)
        let written = loop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success: counters.datagramsSent += 1
            case .failure: counters.sendsFailed += 1
            }
        }
        channel.write(AddressedEnvelope(remoteAddress: address, data: buffer), promise: written)
        unflushed = true
    }

    private func flush() {
        guard unflushed else { return }
        unflushed = false
        channel?.flush()
    }

    fileprivate func socketError(_ error: any Error) {
        // Datagram sockets stay open on errors (e.g. an ICMP unreachable); only note it.
        logger.debug("gossip socket error", metadata: ["error": "\(error)"])
    }

    fileprivate func socketClosed(_ socket: any Channel) {
        guard state == .running || state == .leaving, socket === channel else { return }
        channel = nil
        counters.socketReopens += 1
        let now = NIODeadline.now()
        if lastReopenWarning.map({ now - $0 >= Self.warningInterval }) ?? true {
            lastReopenWarning = now
            logger.warning("gossip socket closed under the shell (a refused send); binding it again", metadata: [
                "node": "\(configuration.nodeID)", "times": "\(counters.socketReopens)",
            ])
        }
        reopen()
    }
}

/// Hands each datagram to the shell.
private final class GossipDatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let shell: GossipShell

    init(shell: GossipShell) {
        self.shell = shell
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        shell.receive(unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        shell.socketError(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        shell.socketClosed(context.channel)
        context.fireChannelInactive()
    }
}
