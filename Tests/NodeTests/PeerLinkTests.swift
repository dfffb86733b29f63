import Glibc
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import PeerWire
import Raft
import Synchronization
import TLS
import XCTest

@testable import Node

/// Peer links inside TLS keyed by the cluster secret: Raft traffic passes, a plaintext peer
/// and a node with another secret get no link, and a frame slipped into an established
/// connection by someone on the path (which a plaintext link takes as its peer's) ends the
/// link instead of reaching Raft. And a frame partway through arriving tells Raft its
/// sender is alive.
final class PeerLinkTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!
    private let secret = Array("a secret only this cluster knows".utf8)
    private var transports: [NIOLoopBound<PeerTransport>] = []
    private var proxy: InjectingProxy?

    override func setUp() {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    override func tearDown() async throws {
        for transport in transports { try await group.next().submit { transport.value.stop() }.get() }
        try await proxy?.stop()
        try await group.shutdownGracefully()
    }

    /// What a node's transport received and which links it lost.
    private final class Received: Sendable {
        private let state = Mutex<(messages: [Message], lost: [NodeID], sending: [NodeID])>(([], [], []))
        func add(_ message: Message) { state.withLock { $0.messages.append(message) } }
        func lose(_ peer: NodeID) { state.withLock { $0.lost.append(peer) } }
        func hearSending(_ peer: NodeID) { state.withLock { $0.sending.append(peer) } }
        var messages: [Message] { state.withLock { $0.messages } }
        var lost: [NodeID] { state.withLock { $0.lost } }
        var sending: [NodeID] { state.withLock { $0.sending } }
    }

    private func startTransport(
        _ id: NodeID, peers: [NodeID: PeerAddress], listeningOn address: PeerAddress, tls: PeerLinkTLS?,
        configure: (inout PeerTransport.Settings) -> Void = { _ in }
    ) async throws -> Received {
        let received = Received()
        let loop = group.next()
        var configured = PeerTransport.Settings()
        configured.tls = tls
        configure(&configured)
        let (settings, secret) = (configured, self.secret)
        transports.append(try await loop.flatSubmit {
            let transport = PeerTransport(nodeID: id, secret: secret, peers: peers, loop: loop, settings: settings, logger: Logger(label: "test")) { _, message in
                received.add(message)
            }
            transport.linkLost = { received.lose($0) }
            transport.peerSending = { received.hearSending($0) }
            let bound = NIOLoopBound(transport, eventLoop: loop)
            return transport.start(listeningOn: address).map { bound }
        }.get())
        return received
    }

    private func heartbeat(term: UInt64) -> Message {
        Message(from: 1, to: 2, term: term, body: .heartbeat(commit: 0, readContext: 0))
    }

    /// Sends node 1's heartbeats to node 2 until one arrives: the link is up and carries Raft.
    private func waitForLink(_ received: Received) async throws {
        let sender = transports[0]
        let message = heartbeat(term: 1)
        _ = try await waitFor("a heartbeat from node 1 at node 2") { () async throws -> Bool? in
            try await self.group.next().submit { sender.value.send([message], group: 1) }.get()
            return received.messages.contains(message) ? true : nil
        }
    }

    /// Nodes 1 and 2 linked inside TLS; what node 2 receives.
    private func linkTwoNodesInsideTLS() async throws -> Received {
        let addresses: [NodeID: PeerAddress] = [1: PeerAddress(host: "127.0.0.1", port: try freePort()), 2: PeerAddress(host: "127.0.0.1", port: try freePort())]
        let tls = try PeerLinkTLS(clusterSecret: secret)
        _ = try await startTransport(1, peers: addresses, listeningOn: addresses[1]!, tls: tls)
        let node2 = try await startTransport(2, peers: addresses, listeningOn: addresses[2]!, tls: tls)
        try await waitForLink(node2)
        return node2
    }

    func testRaftMessagesPassALinkInsideTLS() async throws {
        _ = try await linkTwoNodesInsideTLS()
    }

    /// An append longer than a piece and a heartbeat sent right after it, in one turn of the
    /// loop: the heartbeat arrives first, between the append's pieces, and the append whole
    /// after it. Without pieces the heartbeat waits for all of the append to be encrypted,
    /// sent and read, and a follower campaigns meanwhile.
    func testAHeartbeatSentAfterALongAppendArrivesBeforeIt() async throws {
        let node2 = try await linkTwoNodesInsideTLS()

        let entry = Entry(term: 2, index: 1, data: (0..<(4 * PeerFramePieces.pieceBytes)).map { UInt8(truncatingIfNeeded: $0) })
        let append = Message(from: 1, to: 2, term: 2, body: .append(prevIndex: 0, prevTerm: 0, entries: [entry], commit: 0))
        let after = heartbeat(term: 2)
        let sender = transports[0]
        try await group.next().submit {
            sender.value.send([append], group: 1)
            sender.value.send([after], group: 1)
        }.get()
        let arrived = try await waitFor("the append at node 2") { () -> [Message]? in
            let messages = node2.messages.filter { $0.term == 2 }
            return messages.contains(append) ? messages : nil
        }
        XCTAssertEqual(arrived, [after, append])
    }

    /// A peer that proves the secret and then refuses the link (it does not know the dialler
    /// yet: a member that just joined) is dialled again ever more slowly, up to the longest
    /// wait, not at once each time; a link that then stays up starts the backoff over, so a
    /// link lost later is dialled again promptly.
    func testALinkRefusedAfterItsHandshakeIsDialledAgainWithBackoff() async throws {
        let addresses: [NodeID: PeerAddress] = [1: PeerAddress(host: "127.0.0.1", port: try freePort()), 2: PeerAddress(host: "127.0.0.1", port: try freePort())]
        let backoff: (inout PeerTransport.Settings) -> Void = {
            $0.reconnectDelayMin = .milliseconds(10)
            $0.reconnectDelayMax = .milliseconds(640)
            $0.settledLinkAge = .milliseconds(200)
        }
        _ = try await startTransport(1, peers: addresses, listeningOn: addresses[1]!, tls: nil, configure: backoff)
        // Node 2 knows no node 1: it refuses each link once node 1 has proved itself.
        let node2 = try await startTransport(2, peers: [2: addresses[2]!], listeningOn: addresses[2]!, tls: nil, configure: backoff)
        let dialler = transports[0], acceptor = transports[1]
        let loop = group.next()
        func delay() async throws -> TimeAmount? { try await loop.submit { dialler.value.redialDelay(to: 2) }.get() }
        _ = try await waitFor("node 1's redials of node 2 backing off to the longest wait") {
            try await delay() == .milliseconds(640) ? true : nil
        }

        try await loop.submit { acceptor.value.addPeer(1, at: addresses[1]!) }.get()
        try await waitForLink(node2)
        // Past the settled age by construction, not by hope: the link just carried a frame.
        try await Task.sleep(for: .milliseconds(250))
        try await loop.submit { acceptor.value.stop() }.get()
        _ = try await waitFor("node 1 dialling again from the shortest wait once the settled link closed") {
            let next = try await delay()
            return next != nil && next! < .milliseconds(640) ? true : nil
        }
    }

    /// A peer that speaks the plaintext protocol gets no hello back, only TLS's alert, and
    /// the connection closed.
    func testAPlaintextPeerGetsNoHelloFromATLSPort() async throws {
        let address = PeerAddress(host: "127.0.0.1", port: try freePort())
        _ = try await startTransport(2, peers: [2: address], listeningOn: address, tls: try PeerLinkTLS(clusterSecret: secret))
        let fd = try RawAMQPSession.connectToLoopback(port: address.port)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let hello = PeerFrame.hello(node: 1, nonce: Array(repeating: 3, count: PeerFrame.nonceBytes), purpose: .raft).encoded()
        XCTAssertEqual(hello.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }, hello.count)
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4_096)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 || (n < 0 && errno == ECONNRESET) { break }
            guard n > 0 else { return XCTFail("the connection stayed open 5 s after a plaintext hello") }
            answer += chunk[..<n]
        }
        let tlsAlert: UInt8 = 21
        XCTAssertTrue(answer.isEmpty || answer.first == tlsAlert, "nothing but a TLS alert before the close, got \(answer.prefix(8))")
    }

    /// TLS keyed by another secret does not complete its handshake with the cluster's.
    func testAnotherSecretCannotCompleteTheTLSHandshake() async throws {
        let address = PeerAddress(host: "127.0.0.1", port: try freePort())
        _ = try await startTransport(2, peers: [2: address], listeningOn: address, tls: try PeerLinkTLS(clusterSecret: secret))
        let stranger = try PeerLinkTLS(clusterSecret: Array("another cluster's secret".utf8))
        let handshake = group.next().makePromise(of: Void.self)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: stranger.clientContext, serverHostname: nil))
                    try channel.pipeline.syncOperations.addHandler(HandshakeWatcher(handshake))
                }
            }
            .connect(host: address.host, port: address.port).get()
        do {
            try await handshake.futureResult.get()
            XCTFail("a TLS handshake with another secret's key completed")
        } catch {
            // Refused: the keys differ, so neither side's Finished message checks out.
        }
        try? await channel.close()
    }

    /// Someone on the path between two nodes writes a well-formed Raft frame into their
    /// connection after the handshake. A plaintext link hands it to Raft as node 1's (the
    /// attack); inside TLS it fails the record's authentication and the link ends, and node
    /// 2 never sees it.
    func testAFrameInjectedIntoAnEstablishedLinkIsTakenWithoutTLSAndRefusedWithIt() async throws {
        for useTLS in [false, true] {
            for transport in transports { try await group.next().submit { transport.value.stop() }.get() }
            transports = []
            try await proxy?.stop()
            let node2Address = PeerAddress(host: "127.0.0.1", port: try freePort())
            let proxy = try await InjectingProxy.start(on: group, forwardingTo: node2Address)
            self.proxy = proxy
            let node1Address = PeerAddress(host: "127.0.0.1", port: try freePort())
            let tls = useTLS ? try PeerLinkTLS(clusterSecret: secret) : nil
            // Node 1 dials node 2 through the proxy.
            _ = try await startTransport(1, peers: [1: node1Address, 2: PeerAddress(host: "127.0.0.1", port: proxy.port)], listeningOn: node1Address, tls: tls)
            let node2 = try await startTransport(2, peers: [1: node1Address, 2: node2Address], listeningOn: node2Address, tls: tls)
            try await waitForLink(node2)

            let forged = heartbeat(term: 99)
            try await proxy.inject(PeerFrame.raft(group: 1, messages: [forged]).encoded())
            if useTLS {
                _ = try await waitFor("node 2 dropping the link the forged bytes arrived on") { node2.lost.contains(1) ? true : nil }
                XCTAssertFalse(node2.messages.contains(forged), "the forged message reached Raft through TLS")
            } else {
                _ = try await waitFor("the forged message at node 2 over plaintext") { node2.messages.contains(forged) ? true : nil }
            }
        }
    }

    /// Part of a long frame from node 1 reaches node 2, the rest not yet: node 2 is told
    /// node 1 is sending (Raft counts it as hearing node 1), and nothing is delivered.
    func testAFramePartwayThroughArrivingReportsItsSenderAsSending() async throws {
        let node2Address = PeerAddress(host: "127.0.0.1", port: try freePort())
        let proxy = try await InjectingProxy.start(on: group, forwardingTo: node2Address)
        self.proxy = proxy
        let node1Address = PeerAddress(host: "127.0.0.1", port: try freePort())
        _ = try await startTransport(1, peers: [1: node1Address, 2: PeerAddress(host: "127.0.0.1", port: proxy.port)], listeningOn: node1Address, tls: nil)
        let node2 = try await startTransport(2, peers: [1: node1Address, 2: node2Address], listeningOn: node2Address, tls: nil)
        try await waitForLink(node2)
        XCTAssertTrue(node2.sending.isEmpty, "whole frames are messages, not a long one arriving")

        let long = PeerFrame.raft(group: 1, messages: [Message(from: 1, to: 2, term: 1, body: .append(
            prevIndex: 0, prevTerm: 0, entries: [Entry(term: 1, index: 1, data: Array(repeating: 7, count: 1 << 20))], commit: 0))]).encoded()
        try await proxy.inject(Array(long.prefix(long.count / 2)))
        _ = try await waitFor("node 2 told that node 1 is sending") { node2.sending.contains(1) ? true : nil }
        XCTAssertEqual(node2.sending, [1])
        XCTAssertFalse(node2.messages.contains { if case .append = $0.body { true } else { false } }, "half a frame delivers nothing")
    }

}

/// Completes its promise when TLS's handshake does, fails it on the first error or close.
private final class HandshakeWatcher: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let promise: EventLoopPromise<Void>
    private var completed = false

    init(_ promise: EventLoopPromise<Void>) { self.promise = promise }

    private func complete(_ result: Result<Void, any Error>) {
        guard !completed else { return }
        completed = true
        promise.completeWith(result)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event { complete(.success(())) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        complete(.failure(error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        complete(.failure(ChannelError.eof))
    }
}

/// A TCP proxy on loopback for one connection, which can also write bytes of its own
/// toward the target, as someone on the network path could.
private final class InjectingProxy: Sendable {
    private let listener: any Channel
    private let upstream: Mutex<(any Channel)?> = Mutex(nil)
    var port: Int { listener.localAddress!.port! }

    private init(listener: any Channel) { self.listener = listener }

    static func start(on group: any EventLoopGroup, forwardingTo target: PeerAddress) async throws -> InjectingProxy {
        let box = Mutex<InjectingProxy?>(nil)
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { downstream in
                ClientBootstrap(group: downstream.eventLoop)
                    .channelInitializer { upstream in
                        upstream.eventLoop.makeCompletedFuture {
                            try upstream.pipeline.syncOperations.addHandler(Forward(to: downstream))
                        }
                    }
                    .connect(host: target.host, port: target.port)
                    .flatMap { upstream in
                        box.withLock { $0?.upstream.withLock { $0 = upstream } }
                        return downstream.eventLoop.makeCompletedFuture {
                            try downstream.pipeline.syncOperations.addHandler(Forward(to: upstream))
                        }
                    }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let proxy = InjectingProxy(listener: listener)
        box.withLock { $0 = proxy }
        return proxy
    }

    func inject(_ bytes: [UInt8]) async throws {
        guard let upstream = upstream.withLock({ $0 }) else { throw ChannelError.ioOnClosedChannel }
        try await upstream.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    func stop() async throws {
        try? await upstream.withLock({ $0 })?.close()
        try await listener.close()
    }

    /// Writes what one side reads to the other; closes the other when its side closes.
    private final class Forward: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        private let other: any Channel

        init(to other: any Channel) { self.other = other }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            other.writeAndFlush(Self.unwrapInboundIn(data), promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            other.close(promise: nil)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
