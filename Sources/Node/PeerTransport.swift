import Crypto
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PeerWire
import Raft
import TLS

/// Where a peer listens.
public struct PeerAddress: Sendable, Hashable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

/// One TCP connection per pair of nodes: the node with the lower id dials, the other accepts.
/// Inside TLS keyed by the cluster secret (`PeerLinkTLS`), each side proves it knows the
/// secret (an HMAC over both hellos) before any Raft traffic is taken. Lost connections are
/// dialled again with backoff. Each link's send queue is bounded: past it, messages are
/// dropped, which Raft tolerates (it retransmits).
///
/// The same port takes client sessions: a node that does not lead forwards each of its
/// client connections to the leader over a connection of its own, authenticated the same
/// way, which then carries AMQP 0-9-1 (see `LeaderRelay`). Runs on the node's event loop.
final class PeerTransport {
    struct Settings {
        var limits = PeerWireLimits()
        /// Every link, Raft's and client sessions', inside TLS keyed by the cluster secret;
        /// nil: plain TCP (the proofs of the handshake still authenticate the peer, but no
        /// frame after them).
        var tls: PeerLinkTLS?
        /// Bytes queued to one peer beyond what the socket took; past it, frames are dropped.
        var sendQueueBytesMax = 64 << 20
        var reconnectDelayMin = TimeAmount.milliseconds(50)
        var reconnectDelayMax = TimeAmount.seconds(2)
        /// A link that stays up this long starts the next redial's backoff over; one closed
        /// sooner, even after its handshake (a peer that does not know us yet refuses us
        /// then), keeps backing off rather than dialling again at once, over and over.
        var settledLinkAge = TimeAmount.seconds(1)
        /// Data unacknowledged for this long closes a peer connection (the kernel's
        /// TCP_USER_TIMEOUT, zero-window probes included): a link into a black hole, or to a
        /// peer that stopped reading, is dropped and dialled again, rather than left open
        /// while frames pile up and are dropped behind it.
        var unacknowledgedTimeout = TimeAmount.seconds(10)
        /// A connection that has not finished its handshake this long after it opened is
        /// closed (and, if we dialled, dialled again): a peer that accepted and fell silent
        /// must not hold the link.
        var handshakeTimeout = TimeAmount.seconds(5)
        /// A Raft link on which we have sent frames but received none for this long is
        /// closed and dialled again: the peer, or something between us, lost the connection
        /// without closing it. The leader's heartbeats, every tick, keep a live link busy;
        /// an idle link (nothing sent) is left alone.
        var silenceTimeout = TimeAmount.seconds(5)
        /// How often each connection checks the two timeouts above.
        var watchdogInterval = TimeAmount.seconds(1)
    }

    private var unacknowledgedTimeoutOption: (ChannelOptions.Types.SocketOption, SocketOptionValue) {
        (ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: TCP_USER_TIMEOUT)),
         SocketOptionValue(settings.unacknowledgedTimeout.nanoseconds / 1_000_000))
    }

    let nodeID: NodeID
    private let secret: SymmetricKey
    /// Where each other member listens: the configured peers, and those gossip found.
    private var peers: [NodeID: PeerAddress]
    /// Where this node listens, for a session it forwards to itself once it leads.
    private let ownAddress: PeerAddress?
    /// Takes an accepted client session's channel, emptied of peer handlers, and the user
    /// it acts for. Unset: sessions are refused.
    var acceptSession: ((any Channel, String) -> Void)?
    /// Told when the authenticated link to a peer closes (not when a newer link replaces
    /// it): a killed process's connections close at once, long before a timeout says so.
    var linkLost: ((NodeID) -> Void)?
    /// Told (at most once a tick per link) that a peer is partway through sending a frame
    /// on its authenticated link: it is alive, though no whole message came yet.
    var peerSending: ((NodeID) -> Void)?
    /// Takes what a peer asks of this node, or answers, on its own authenticated link: a
    /// `leave`, a `proposal` or a `countsQuery`, and their answers.
    var requestArrived: ((PeerFrame, NodeID) -> Void)?
    private let loop: any EventLoop
    let settings: Settings
    private let logger: Logger
    /// A Raft message from a peer, with the group it is for.
    private let receive: (_ group: UInt64, _ message: Message) -> Void
    private var links: [NodeID: PeerLinkHandler] = [:]
    private var dialing: Set<NodeID> = []
    private var reconnectDelay: [NodeID: TimeAmount] = [:]
    private var listener: (any Channel)?
    private var stopped = false

    init(nodeID: NodeID, secret: [UInt8], peers: [NodeID: PeerAddress], loop: any EventLoop, settings: Settings = Settings(),
         logger: Logger, receive: @escaping (_ group: UInt64, _ message: Message) -> Void) {
        self.nodeID = nodeID
        self.secret = SymmetricKey(data: secret)
        self.peers = peers.filter { $0.key != nodeID }
        self.ownAddress = peers[nodeID]
        self.loop = loop
        self.settings = settings
        self.logger = logger
        self.receive = receive
    }

    /// Listens on `address` and dials the peers with higher ids.
    private var waterMark: ChannelOptions.Types.WriteBufferWaterMark {
        .init(low: settings.sendQueueBytesMax / 2, high: settings.sendQueueBytesMax)
    }

    func start(listeningOn address: PeerAddress) -> EventLoopFuture<Void> {
        let bound = NIOLoopBound(self, eventLoop: loop)
        let waterMark = self.waterMark
        let limits = settings.limits
        return ServerBootstrap(group: loop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(unacknowledgedTimeoutOption.0, value: unacknowledgedTimeoutOption.1)
            .childChannelOption(.writeBufferWaterMark, value: waterMark)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let transport = bound.value
                    if let tls = transport.settings.tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.serverContext)) }
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(PeerFrameDecoder(limits: limits)),
                        PeerLinkHandler(transport: transport, expectedPeer: nil, purpose: .raft),
                    ])
                }
            }
            .bind(host: address.host, port: address.port)
            .map { channel in
                bound.value.listener = channel
                for peer in bound.value.peers.keys.sorted() where peer > bound.value.nodeID { bound.value.dial(peer) }
            }
    }

    /// A member gossip found, or found at a new address. The lower id dials.
    func addPeer(_ peer: NodeID, at address: PeerAddress) {
        guard peer != nodeID, peers[peer] != address else { return }
        peers[peer] = address
        if peer > nodeID, listener != nil { dial(peer) }
    }

    func stop() {
        stopped = true
        acceptSession = nil
        listener?.close(promise: nil)
        for link in links.values { link.close() }
        links = [:]
    }

    /// Sends each peer its messages, in as few frames as the receiver's bounds allow, and
    /// flushes at once. Messages to unknown or unconnected peers are dropped.
    func send(_ messages: [Message], group: UInt64) {
        var byPeer: [NodeID: [Message]] = [:]
        for message in messages { byPeer[message.to, default: []].append(message) }
        for (peer, batch) in byPeer {
            guard let link = links[peer] else { continue }
            // Heartbeats, votes and responses in frames of their own, which may pass a long
            // append still going out (see `PeerFramePieces`).
            let overtaking = batch.filter(\.mayOvertake)
            send(overtaking, group: group, to: peer, on: link, mayOvertake: true)
            send(overtaking.isEmpty ? batch : batch.filter { !$0.mayOvertake }, group: group, to: peer, on: link, mayOvertake: false)
        }
    }

    private func send(_ messages: [Message], group: UInt64, to peer: NodeID, on link: PeerLinkHandler, mayOvertake: Bool) {
        guard !messages.isEmpty else { return }
        let (frames, oversized) = PeerFrame.encodeRaft(group: group, messages: messages, limits: settings.limits)
        if oversized > 0 {
            logger.error("dropped Raft messages larger than a peer frame", metadata: ["peer": "\(peer)", "count": "\(oversized)"])
        }
        for frame in frames { link.send(encoded: frame, mayOvertake: mayOvertake) }
    }

    /// Sends `peer` a request or an answer (a `leave`, a `proposal`, an `outcome`...) on its
    /// link; false, and dropped, if there is no link to it now (the caller asks again or
    /// gives up).
    @discardableResult
    func send(_ frame: PeerFrame, to peer: NodeID) -> Bool {
        guard let link = links[peer] else { return false }
        link.send(encoded: frame.encodedBuffer())
        return true
    }

    // MARK: Links

    private func dial(_ peer: NodeID) {
        guard !stopped, links[peer] == nil, !dialing.contains(peer), let address = peers[peer] else { return }
        dialing.insert(peer)
        let bound = NIOLoopBound(self, eventLoop: loop)
        let waterMark = self.waterMark
        let limits = settings.limits
        dialBootstrap()
            .channelOption(.writeBufferWaterMark, value: waterMark)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try bound.value.addClientTLS(to: channel)
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(PeerFrameDecoder(limits: limits)),
                        PeerLinkHandler(transport: bound.value, expectedPeer: peer, purpose: .raft),
                    ])
                }
            }
            .connect(host: address.host, port: address.port)
            .whenComplete { result in
                let transport = bound.value
                transport.dialing.remove(peer)
                switch result {
                case .failure: transport.scheduleRedial(peer)
                // A dial that was under way when the transport stopped is closed, not kept.
                case .success(let channel) where transport.stopped: channel.close(promise: nil)
                case .success: break
                }
            }
    }

    /// Connections to peers leave from this node's own peer address when it is an IP
    /// address, so that peers, and firewalls between them, see where they come from even on
    /// a host with several addresses on one interface.
    func dialBootstrap() -> ClientBootstrap {
        var bootstrap = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(unacknowledgedTimeoutOption.0, value: unacknowledgedTimeoutOption.1)
            .connectTimeout(.seconds(2))
        if let own = ownAddress, let source = try? SocketAddress(ipAddress: own.host, port: 0), !Self.isWildcard(own.host) {
            bootstrap = bootstrap.bind(to: source)
        }
        return bootstrap
    }

    /// The dialling side of the link's TLS, first in the pipeline; it stays there when a
    /// client session's channel is handed on, so the session is encrypted too.
    private func addClientTLS(to channel: any Channel) throws {
        guard let tls = settings.tls else { return }
        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls.clientContext, serverHostname: nil))
    }

    private static func isWildcard(_ host: String) -> Bool {
        host == "0.0.0.0" || host == "::"
    }

    /// How long the next redial of `peer` waits; nil: the shortest wait.
    func redialDelay(to peer: NodeID) -> TimeAmount? {
        reconnectDelay[peer]
    }

    private func scheduleRedial(_ peer: NodeID) {
        guard !stopped, peer > nodeID else { return }
        let delay = reconnectDelay[peer] ?? settings.reconnectDelayMin
        reconnectDelay[peer] = min(delay * 2, settings.reconnectDelayMax)
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.scheduleTask(in: delay) { bound.value.dial(peer) }
    }

    // MARK: Client sessions

    /// Where `peer` listens for peers; this node's own address when it is `peer`.
    func address(of peer: NodeID) -> PeerAddress? {
        peer == nodeID ? ownAddress : peers[peer]
    }

    /// Dials `peer` for a client session on behalf of `user`. Succeeds, once both sides
    /// proved the secret and the peer is ready, with the channel emptied of peer handlers:
    /// the caller adds its AMQP handlers and speaks first.
    func openSession(to peer: NodeID, user: String) -> EventLoopFuture<any Channel> {
        guard !stopped, let address = address(of: peer) else {
            return loop.makeFailedFuture(PeerSessionError.noAddress(peer))
        }
        let bound = NIOLoopBound(self, eventLoop: loop)
        let limits = settings.limits
        let ready = loop.makePromise(of: (any Channel).self)
        dialBootstrap()
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try bound.value.addClientTLS(to: channel)
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(PeerFrameDecoder(limits: limits)),
                        PeerLinkHandler(transport: bound.value, expectedPeer: peer, purpose: .clientSession(user: user), sessionReady: ready),
                    ])
                }
            }
            .connect(host: address.host, port: address.port)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    // A peer that drops the connection before it is ready fails the session.
                    channel.closeFuture.whenComplete { _ in ready.fail(PeerSessionError.closedBeforeReady(peer)) }
                case .failure(let error):
                    ready.fail(error)
                }
            }
        return ready.futureResult
    }

    func sessionAccepted(_ channel: any Channel, user: String) {
        guard !stopped, let acceptSession else {
            channel.close(promise: nil)
            return
        }
        acceptSession(channel, user)
    }

    // MARK: What links report

    var nonce: [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<PeerFrame.nonceBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// The proof that the side in `role` knows the secret, over everything both hellos of
    /// the link said: a proof made for one link, one pair of nodes or one side proves
    /// nothing on another.
    func proof(by role: PeerHandshake.Role, of handshake: PeerHandshake) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: handshake.provenBytes(by: role), using: secret))
    }

    func verify(proof: [UInt8], by role: PeerHandshake.Role, of handshake: PeerHandshake) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(proof, authenticating: handshake.provenBytes(by: role), using: secret)
    }

    func linkAuthenticated(_ link: PeerLinkHandler, peer: NodeID) {
        guard !stopped else {
            link.close()
            return
        }
        guard peers[peer] != nil else {
            logger.warning("refused a peer that is not in the cluster", metadata: ["peer": "\(peer)"])
            link.close()
            return
        }
        links[peer]?.close()
        links[peer] = link
        logger.info("peer connected", metadata: ["peer": "\(peer)"])
    }

    func linkRefused(peer: NodeID?, reason: String) {
        logger.warning("refused a peer connection", metadata: ["peer": "\(peer.map(String.init) ?? "unknown")", "reason": "\(reason)"])
    }

    func linkClosed(_ link: PeerLinkHandler, peer: NodeID?) {
        guard let peer else { return }
        if let since = link.authenticatedAt, .now() - since >= settings.settledLinkAge { reconnectDelay[peer] = nil }
        if links[peer] === link {
            links[peer] = nil
            if !stopped { linkLost?(peer) }
        }
        if peer > nodeID { scheduleRedial(peer) }
    }

    func deliver(_ messages: [Message], group: UInt64, from peer: NodeID) {
        for message in messages where message.from == peer && message.to == nodeID { receive(group, message) }
    }
}

/// One peer connection: the handshake, then Raft frames both ways; or, for a client
/// session, the handshake and then the hand-over of the connection to AMQP.
final class PeerLinkHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = PeerFrame

    private let transport: PeerTransport
    /// Set when we dialled: the peer must turn out to be this node.
    private let expectedPeer: NodeID?
    /// What we announced: Raft, or a client session we dialled for.
    private let purpose: LinkPurpose
    /// A session we dialled completes this once the other side is ready.
    private let sessionReady: EventLoopPromise<any Channel>?
    private var context: ChannelHandlerContext?
    private var ourNonce: [UInt8] = []
    private var peer: NodeID?
    private var peerNonce: [UInt8] = []
    /// What the other side announced.
    private var peerPurpose = LinkPurpose.raft
    private var authenticated = false
    /// When both sides had proved the secret.
    private(set) var authenticatedAt: NIODeadline?
    /// Refused and closing: frames already read behind the refusal are not acted on.
    private var refused = false
    private var openedAt = NIODeadline.now()
    /// When the first frame went out since the last one came in; nil once answered.
    private var unansweredSince: NIODeadline?
    private var watchdog: RepeatedTask?
    private var arrivalReportedAt = NIODeadline.uptimeNanoseconds(0)
    /// Frames waiting behind a long one that goes out in pieces.
    private var sendQueue: PeerSendQueue
    /// A piece (or a frame) of `sendQueue` is being written.
    private var writingQueued = false
    /// A Raft tick: reporting a frame's arrival more often tells Raft nothing more.
    static let arrivalReportInterval = TimeAmount.milliseconds(NodeCore.tickIntervalMs)

    init(transport: PeerTransport, expectedPeer: NodeID?, purpose: LinkPurpose, sessionReady: EventLoopPromise<any Channel>? = nil) {
        self.transport = transport
        self.expectedPeer = expectedPeer
        self.purpose = purpose
        self.sessionReady = sessionReady
        self.sendQueue = PeerSendQueue(bytesMax: transport.settings.sendQueueBytesMax)
    }

    private var isDialler: Bool { expectedPeer != nil }

    /// Both hellos, once the other side's came.
    private var handshake: PeerHandshake? {
        guard let peer else { return nil }
        return isDialler
            ? PeerHandshake(dialler: transport.nodeID, diallerNonce: ourNonce, diallerPurpose: purpose, acceptor: peer, acceptorNonce: peerNonce)
            : PeerHandshake(dialler: peer, diallerNonce: peerNonce, diallerPurpose: peerPurpose, acceptor: transport.nodeID, acceptorNonce: ourNonce)
    }

    private var isSession: Bool {
        if case .clientSession = purpose { return true }
        if case .clientSession = peerPurpose { return true }
        return false
    }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        ourNonce = transport.nonce
        openedAt = .now()
        let settings = transport.settings
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        watchdog = context.eventLoop.scheduleRepeatedTask(initialDelay: settings.watchdogInterval, delay: settings.watchdogInterval) { _ in
            bound.value.checkTimeouts(settings)
        }
        write(.hello(node: transport.nodeID, nonce: ourNonce, purpose: purpose), flush: true)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        watchdog?.cancel()
        watchdog = nil
    }

    private func checkTimeouts(_ settings: PeerTransport.Settings) {
        let now = NIODeadline.now()
        if !authenticated, now - openedAt > settings.handshakeTimeout {
            refuse("no handshake within \(settings.handshakeTimeout)")
        } else if authenticated, !isSession, let since = unansweredSince, now - since > settings.silenceTimeout {
            refuse("nothing received for \(now - since) while sending")
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        watchdog?.cancel()
        watchdog = nil
        if !isSession {
            if authenticated { transport.linkClosed(self, peer: peer) } else { transport.linkClosed(self, peer: expectedPeer) }
        }
        self.context = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        transport.linkRefused(peer: peer ?? expectedPeer, reason: "\(error)")
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is PeerFrameArriving else { return context.fireUserInboundEventTriggered(event) }
        guard !refused, authenticated, !isSession, let peer else { return }
        unansweredSince = nil
        let now = NIODeadline.now()
        if now - arrivalReportedAt >= Self.arrivalReportInterval {
            arrivalReportedAt = now
            transport.peerSending?(peer)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        unansweredSince = nil
        let frame = unwrapInboundIn(data)
        switch frame {
        case .hello(let node, let nonce, let announced):
            guard peer == nil, expectedPeer == nil || expectedPeer == node else { return refuse("unexpected hello from \(node)") }
            guard nonce != ourNonce else { return refuse("a hello with our own nonce") }
            switch (announced, expectedPeer) {
            case (.raft, _):
                // Only a session may come from this node itself: a leader forwarding to itself.
                guard node != transport.nodeID || isSession else { return refuse("a hello from this node itself") }
            case (.clientSession, nil):
                break
            case (.clientSession, _?):
                return refuse("node \(node) answered a dial with a client session")
            }
            peer = node
            peerNonce = nonce
            peerPurpose = announced
            // The acceptor proves itself first; the dialler only once it has checked that.
            if !isDialler, let handshake { write(.proof(mac: transport.proof(by: .acceptor, of: handshake)), flush: true) }
        case .proof(let mac):
            guard let peer, let handshake, !authenticated else { return refuse("proof before hello") }
            guard transport.verify(proof: mac, by: isDialler ? .acceptor : .dialler, of: handshake) else {
                return refuse("node \(peer) does not know the cluster secret")
            }
            if isDialler { write(.proof(mac: transport.proof(by: .dialler, of: handshake)), flush: true) }
            authenticated = true
            authenticatedAt = .now()
            switch (purpose, peerPurpose) {
            case (.raft, .raft):
                transport.linkAuthenticated(self, peer: peer)
            case (.raft, .clientSession(let user)):
                write(.sessionReady, flush: true)
                let channel = context.channel
                handOver(context)
                transport.sessionAccepted(channel, user: user)
            case (.clientSession, _):
                break  // the session starts at `sessionReady`
            }
        case .sessionReady:
            guard authenticated, let sessionReady else { return refuse("session ready out of place") }
            let channel = context.channel
            handOver(context)
            sessionReady.succeed(channel)
        case .raft(let group, let messages):
            guard authenticated, let peer, !isSession else { return refuse("Raft traffic before the handshake") }
            transport.deliver(messages, group: group, from: peer)
        case .leave, .proposal, .outcome, .countsQuery, .counts, .connectionsQuery, .connections, .closeConnection, .connectionClosed:
            guard authenticated, let peer, !isSession else { return refuse("a request before the handshake") }
            transport.requestArrived?(frame, peer)
        }
    }

    /// Takes the peer-frame handlers out: the connection carries AMQP from here on.
    private func handOver(_ context: ChannelHandlerContext) {
        let pipeline = context.pipeline.syncOperations
        if let decoder = try? pipeline.handler(type: ByteToMessageHandler<PeerFrameDecoder>.self) {
            pipeline.removeHandler(decoder, promise: nil)
        }
        pipeline.removeHandler(context: context, promise: nil)
    }

    /// Sends an encoded frame (see `PeerFrame.encodeRaft`) after those sent before it, or,
    /// if it `mayOvertake`, at once. A peer that does not keep up loses frames rather than
    /// grow our memory: the channel turns unwritable once `sendQueueBytesMax` is queued
    /// (its high water mark), and the queue of long frames holds no more either.
    func send(encoded frame: ByteBuffer, mayOvertake: Bool = false) {
        guard authenticated, let context else { return }
        if unansweredSince == nil { unansweredSince = .now() }
        if mayOvertake || (sendQueue.isEmpty && PeerFramePieces.goesWhole(frame)) {
            guard context.channel.isWritable else { return }
            write(encoded: frame, flush: true)
        } else if sendQueue.append(frame) {
            writeQueued()
        }
    }

    /// Writes the queue's next piece or frame, and the next once that one is written, a
    /// loop turn later: ticks, reads and frames that may overtake go in between.
    private func writeQueued() {
        guard !writingQueued, let context, let buffers = sendQueue.next() else { return }
        writingQueued = true
        let written = context.eventLoop.makePromise(of: Void.self)
        for (index, buffer) in buffers.enumerated() {
            context.write(NIOAny(buffer), promise: index == buffers.count - 1 ? written : nil)
        }
        context.flush()
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        written.futureResult.whenComplete { result in
            bound.value.writingQueued = false
            guard case .success = result else { return }
            loop.execute { bound.value.writeQueued() }
        }
    }

    private func write(_ frame: PeerFrame, flush: Bool) {
        write(encoded: frame.encodedBuffer(), flush: flush)
    }

    private func write(encoded frame: ByteBuffer, flush: Bool) {
        guard let context else { return }
        context.write(NIOAny(frame), promise: nil)
        if flush { context.flush() }
    }

    private func refuse(_ reason: String) {
        guard !refused else { return }
        refused = true
        transport.linkRefused(peer: peer ?? expectedPeer, reason: reason)
        context?.close(promise: nil)
    }

    func close() {
        context?.close(promise: nil)
    }
}

enum PeerSessionError: Error, CustomStringConvertible {
    case noAddress(NodeID)
    case closedBeforeReady(NodeID)

    var description: String {
        switch self {
        case .noAddress(let peer): "no peer address is known for node \(peer)"
        case .closedBeforeReady(let peer): "node \(peer) closed the session before it was ready"
        }
    }
}
