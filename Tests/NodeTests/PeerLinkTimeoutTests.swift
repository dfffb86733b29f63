import Glibc
import Logging
import NIOCore
import NIOPosix
import PeerWire
import Raft
import Synchronization
import XCTest

@testable import Node

/// A peer connection whose data goes unacknowledged (a black hole, or a peer that stopped
/// reading) is closed by the kernel after the transport's timeout, so it is dialled again
/// rather than left open with frames dropped behind it.
final class PeerLinkTimeoutTests: XCTestCase {
    func testConnectionsToPeersCarryTheUnacknowledgedDataTimeout() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let listener = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let loop = group.next()
        let settings = {
            var settings = PeerTransport.Settings()
            settings.unacknowledgedTimeout = .milliseconds(7_500)
            return settings
        }()
        let address = try XCTUnwrap(listener.localAddress)
        let channel = try await loop.flatSubmit {
            let transport = PeerTransport(
                nodeID: 1, secret: Array("secret".utf8), peers: [1: PeerAddress(host: "127.0.0.1", port: 1)], loop: loop,
                settings: settings, logger: Logger(label: "test")) { _, _ in }
            return transport.dialBootstrap().connect(to: address)
        }.get()
        let timeout = try await channel.getOption(
            ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: TCP_USER_TIMEOUT))).get()
        try await channel.close()
        XCTAssertEqual(timeout, 7_500)
        try await listener.close()
        try await group.shutdownGracefully()
    }
}

/// A link's own watchdog: a connection that never finishes its handshake, and a Raft link
/// that takes our frames but never answers, are closed and dialled again.
final class PeerLinkWatchdogTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!
    private var loop: (any EventLoop)!
    private var fakePeer: (any Channel)!
    private let accepted = AcceptedChannels()
    private let secret = Array("a secret only this cluster knows".utf8)

    override func setUp() async throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        loop = group.next()
    }

    override func tearDown() async throws {
        try? await fakePeer?.close()
        try await group.shutdownGracefully()
    }

    private var fastSettings: PeerTransport.Settings {
        var settings = PeerTransport.Settings()
        settings.handshakeTimeout = .milliseconds(300)
        settings.silenceTimeout = .milliseconds(300)
        settings.watchdogInterval = .milliseconds(50)
        return settings
    }

    /// Node 1's transport, with node 2 at the fake peer: node 1 dials it at once.
    private func startTransport() async throws -> NIOLoopBound<PeerTransport> {
        let own = PeerAddress(host: "127.0.0.1", port: try freePort())
        let peer = PeerAddress(host: "127.0.0.1", port: try XCTUnwrap(fakePeer.localAddress?.port))
        let settings = fastSettings
        let secret = self.secret
        let loop = self.loop!
        return try await loop.flatSubmit {
            let transport = PeerTransport(nodeID: 1, secret: secret, peers: [1: own, 2: peer], loop: loop, settings: settings,
                                          logger: Logger(label: "test")) { _, _ in }
            let bound = NIOLoopBound(transport, eventLoop: loop)
            return transport.start(listeningOn: own).map { bound }
        }.get()
    }

    private func waitUntil(seconds: Double, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while !condition() {
            guard ContinuousClock.now < deadline else { return XCTFail("condition not met within \(seconds) s") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func testAConnectionThatNeverFinishesItsHandshakeIsClosedAndDialledAgain() async throws {
        let accepted = self.accepted
        fakePeer = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                accepted.channels.withLock { $0.append(channel) }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let transport = try await startTransport()
        try await waitUntil(seconds: 10) { accepted.channels.withLock { $0.count >= 2 } }
        let first = try XCTUnwrap(accepted.channels.withLock { $0.first })
        try await waitUntil(seconds: 10) { !first.isActive }
        try await loop.submit { transport.value.stop() }.get()
    }

    func testARaftLinkThatTakesFramesButNeverAnswersIsClosed() async throws {
        let accepted = self.accepted
        let raftFrames = RaftFrameCount()
        // Node 2 as far as the handshake goes, then silent: it reads everything, answers nothing.
        let secret = self.secret
        let loop = self.loop!
        let prover = try await loop.submit {
            NIOLoopBound(PeerTransport(nodeID: 2, secret: secret, peers: [:], loop: loop, logger: Logger(label: "prover")) { _, _ in }, eventLoop: loop)
        }.get()
        fakePeer = try await ServerBootstrap(group: loop)
            .childChannelInitializer { channel in
                accepted.channels.withLock { $0.append(channel) }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(PeerFrameDecoder(limits: PeerWireLimits())),
                        HandshakeThenSilence(prover: prover, raftFrames: raftFrames),
                    ])
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let transport = try await startTransport()
        // The leader's heartbeats, as the node would send them.
        let heartbeats = loop.scheduleRepeatedTask(initialDelay: .milliseconds(20), delay: .milliseconds(20)) { _ in
            transport.value.send([Message(from: 1, to: 2, term: 1, body: .heartbeat(commit: 0, readContext: 0))], group: 1)
        }
        // The link is the connection the Raft frames came on (not, say, a stray dial that
        // an earlier test's transport made to a port now reused, and closed at once).
        try await waitUntil(seconds: 10) { raftFrames.link.withLock { $0 != nil } }
        let link = try XCTUnwrap(raftFrames.link.withLock { $0 })
        try await waitUntil(seconds: 10) { !link.isActive }
        heartbeats.cancel()
        XCTAssertGreaterThan(raftFrames.count.withLock { $0 }, 0)
        try await loop.submit { transport.value.stop() }.get()
    }
}

/// Answers a dialler's hello with its own and the acceptor's proof, then never writes again.
private final class HandshakeThenSilence: ChannelInboundHandler {
    typealias InboundIn = PeerFrame
    typealias OutboundOut = ByteBuffer
    let prover: NIOLoopBound<PeerTransport>
    let raftFrames: RaftFrameCount

    init(prover: NIOLoopBound<PeerTransport>, raftFrames: RaftFrameCount) {
        self.prover = prover
        self.raftFrames = raftFrames
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if case .raft = frame {
            raftFrames.count.withLock { $0 += 1 }
            let channel = context.channel
            raftFrames.link.withLock { $0 = $0 ?? channel }
        }
        guard case .hello(let dialler, let nonce, let purpose) = frame else { return }
        let transport = prover.value
        let ourNonce = transport.nonce
        let handshake = PeerHandshake(dialler: dialler, diallerNonce: nonce, diallerPurpose: purpose, acceptor: 2, acceptorNonce: ourNonce)
        for frame in [PeerFrame.hello(node: 2, nonce: ourNonce, purpose: .raft),
                      .proof(mac: transport.proof(by: .acceptor, of: handshake))] {
            context.write(wrapOutboundOut(ByteBuffer(bytes: frame.encoded())), promise: nil)
        }
        context.flush()
    }
}

/// The channels a fake peer accepted, in order.
private final class AcceptedChannels: Sendable {
    let channels = Mutex<[any Channel]>([])
}

private final class RaftFrameCount: Sendable {
    let count = Mutex(0)
    /// The connection the first Raft frame came on.
    let link = Mutex<(any Channel)?>(nil)
}
