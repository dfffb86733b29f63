import Crypto
import Logging
import NIOCore
import NIOPosix
import PeerWire
import Raft

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
/// Each side proves it knows the cluster secret (an HMAC over the other's nonce) before any
/// Raft traffic is taken. Lost connections are dialled again with backoff. Each link's send
/// queue is bounded: past it, messages are dropped, which Raft tolerates (it retransmits).
/// Runs on the node's event loop.
final class PeerTransport {
    struct Settings {
        var limits = PeerWireLimits()
        /// Bytes queued to one peer beyond what the socket took; past it, frames are dropped.
        var sendQueueBytesMax = 64 << 20
        var reconnectDelayMin = TimeAmount.milliseconds(50)
        var reconnectDelayMax = TimeAmount.seconds(2)
    }

    let nodeID: NodeID
    private let secret: SymmetricKey
    private let peers: [NodeID: PeerAddress]
    private let loop: any EventLoop
    private let settings: Settings
    private let logger: Logger
    private let receive: (Message) -> Void
    private var links: [NodeID: PeerLinkHandler] = [:]
    private var dialing: Set<NodeID> = []
    private var reconnectDelay: [NodeID: TimeAmount] = [:]
    private var listener: (any Channel)?
    private var stopped = false

    init(nodeID: NodeID, secret: [UInt8], peers: [NodeID: PeerAddress], loop: any EventLoop, settings: Settings = Settings(),
         logger: Logger, receive: @escaping (Message) -> Void) {
        self.nodeID = nodeID
        self.secret = SymmetricKey(data: secret)
        self.peers = peers.filter { $0.key != nodeID }
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
            .childChannelOption(.writeBufferWaterMark, value: waterMark)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let transport = bound.value
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(PeerFrameDecoder(limits: limits)),
                        PeerLinkHandler(transport: transport, expectedPeer: nil),
                    ])
                }
            }
            .bind(host: address.host, port: address.port)
            .map { channel in
                bound.value.listener = channel
                for peer in bound.value.peers.keys.sorted() where peer > bound.value.nodeID { bound.value.dial(peer) }
            }
    }

    func stop() {
        stopped = true
        listener?.close(promise: nil)
        for link in links.values { link.close() }
        links = [:]
    }

    /// Sends each peer its messages as one frame per group. Messages to unknown or
    /// unconnected peers are dropped.
    func send(_ messages: [Message], group: UInt64) {
        var byPeer: [NodeID: [Message]] = [:]
        for message in messages { byPeer[message.to, default: []].append(message) }
        for (peer, batch) in byPeer {
            guard let link = links[peer] else { continue }
            for chunk in stride(from: 0, to: batch.count, by: settings.limits.messagesPerFrameMax) {
                let slice = Array(batch[chunk..<min(batch.count, chunk + settings.limits.messagesPerFrameMax)])
                link.send(PeerFrame.raft(group: group, messages: slice))
            }
        }
    }

    // MARK: Links

    private func dial(_ peer: NodeID) {
        guard !stopped, links[peer] == nil, !dialing.contains(peer), let address = peers[peer] else { return }
        dialing.insert(peer)
        let bound = NIOLoopBound(self, eventLoop: loop)
        let waterMark = self.waterMark
        let limits = settings.limits
        ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: waterMark)
            .connectTimeout(.seconds(2))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(PeerFrameDecoder(limits: limits)),
                        PeerLinkHandler(transport: bound.value, expectedPeer: peer),
                    ])
                }
            }
            .connect(host: address.host, port: address.port)
            .whenComplete { result in
                let transport = bound.value
                transport.dialing.remove(peer)
                if case .failure = result { transport.scheduleRedial(peer) }
            }
    }

    private func scheduleRedial(_ peer: NodeID) {
        guard !stopped, peer > nodeID else { return }
        let delay = reconnectDelay[peer] ?? settings.reconnectDelayMin
        reconnectDelay[peer] = min(delay * 2, settings.reconnectDelayMax)
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.scheduleTask(in: delay) { bound.value.dial(peer) }
    }

    // MARK: What links report

    var nonce: [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<PeerFrame.nonceBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// The proof that `prover` knows the secret, over the nonce the other side chose.
    func proof(nonce: [UInt8], prover: NodeID) -> [UInt8] {
        var message = Array("berth peer v1".utf8) + nonce
        withUnsafeBytes(of: prover.littleEndian) { message.append(contentsOf: $0) }
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: secret))
    }

    func verify(proof: [UInt8], nonce: [UInt8], prover: NodeID) -> Bool {
        var message = Array("berth peer v1".utf8) + nonce
        withUnsafeBytes(of: prover.littleEndian) { message.append(contentsOf: $0) }
        return HMAC<SHA256>.isValidAuthenticationCode(proof, authenticating: message, using: secret)
    }

    func linkAuthenticated(_ link: PeerLinkHandler, peer: NodeID) {
        guard peers[peer] != nil else {
            logger.warning("refused a peer that is not in the cluster", metadata: ["peer": "\(peer)"])
            link.close()
            return
        }
        links[peer]?.close()
        links[peer] = link
        reconnectDelay[peer] = nil
        logger.info("peer connected", metadata: ["peer": "\(peer)"])
    }

    func linkRefused(peer: NodeID?, reason: String) {
        logger.warning("refused a peer connection", metadata: ["peer": "\(peer.map(String.init) ?? "unknown")", "reason": "\(reason)"])
    }

    func linkClosed(_ link: PeerLinkHandler, peer: NodeID?) {
        guard let peer else { return }
        if links[peer] === link { links[peer] = nil }
        if peer > nodeID { scheduleRedial(peer) }
    }

    func deliver(_ messages: [Message], from peer: NodeID) {
        for message in messages where message.from == peer && message.to == nodeID { receive(message) }
    }
}

/// Splits the byte stream into peer frames, refusing an oversized one from its prefix.
struct PeerFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = PeerFrame
    let limits: PeerWireLimits

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let prefix = buffer.getBytes(at: buffer.readerIndex, length: PeerFrame.lengthPrefixBytes) else { return .needMoreData }
        let length = try PeerFrame.payloadLength(prefix: prefix, limits: limits)
        guard buffer.readableBytes >= PeerFrame.lengthPrefixBytes + length else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: PeerFrame.lengthPrefixBytes)
        let payload = buffer.readBytes(length: length)!
        context.fireChannelRead(Self.wrapInboundOut(try PeerFrame(payload: payload, limits: limits)))
        return .continue
    }
}

/// One peer connection: the handshake, then Raft frames both ways.
final class PeerLinkHandler: ChannelInboundHandler {
    typealias InboundIn = PeerFrame

    private let transport: PeerTransport
    /// Set when we dialled: the peer must turn out to be this node.
    private let expectedPeer: NodeID?
    private var context: ChannelHandlerContext?
    private var ourNonce: [UInt8] = []
    private var peer: NodeID?
    private var authenticated = false

    init(transport: PeerTransport, expectedPeer: NodeID?) {
        self.transport = transport
        self.expectedPeer = expectedPeer
    }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        ourNonce = transport.nonce
        write(.hello(node: transport.nodeID, nonce: ourNonce), flush: true)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if authenticated { transport.linkClosed(self, peer: peer) } else { transport.linkClosed(self, peer: expectedPeer) }
        self.context = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        transport.linkRefused(peer: peer ?? expectedPeer, reason: "\(error)")
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .hello(let node, let nonce):
            guard peer == nil, expectedPeer == nil || expectedPeer == node, node != transport.nodeID else {
                return refuse("unexpected hello from \(node)")
            }
            peer = node
            write(.proof(mac: transport.proof(nonce: nonce, prover: transport.nodeID)), flush: true)
        case .proof(let mac):
            guard let peer, !authenticated else { return refuse("proof before hello") }
            guard transport.verify(proof: mac, nonce: ourNonce, prover: peer) else {
                return refuse("node \(peer) does not know the cluster secret")
            }
            authenticated = true
            transport.linkAuthenticated(self, peer: peer)
        case .raft(_, let messages):
            guard authenticated, let peer else { return refuse("Raft traffic before the handshake") }
            transport.deliver(messages, from: peer)
        }
    }

    func send(_ frame: PeerFrame) {
        guard authenticated, let context else { return }
        // A peer that does not keep up loses frames rather than grow our memory: the
        // channel turns unwritable once `sendQueueBytesMax` is queued (its high water mark).
        guard context.channel.isWritable else { return }
        write(frame, flush: false)
        scheduleFlush()
    }

    private var flushScheduled = false

    private func scheduleFlush() {
        guard !flushScheduled, let context else { return }
        flushScheduled = true
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            bound.value.flushScheduled = false
            bound.value.context?.flush()
        }
    }

    private func write(_ frame: PeerFrame, flush: Bool) {
        guard let context else { return }
        let bytes = frame.encoded()
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        context.write(NIOAny(buffer), promise: nil)
        if flush { context.flush() }
    }

    private func refuse(_ reason: String) {
        transport.linkRefused(peer: peer ?? expectedPeer, reason: reason)
        context?.close(promise: nil)
    }

    func close() {
        context?.close(promise: nil)
    }
}
