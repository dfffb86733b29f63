import NIOCore
import NIOPosix
import Synchronization
import XCTest

@testable import berth_chaos

/// The delaying proxy on the peer links: bytes go both ways, each held back by the delay in
/// force when it was read, and never reordered, even when the delay drops.
final class DelayProxyTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!
    private var echo: (any Channel)!
    private var proxy: DelayProxy!
    private var proxyPort = 0

    override func setUp() async throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        echo = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(EchoHandler()) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        proxy = DelayProxy(group: group, seed: 1)
        let target = try SocketAddress(ipAddress: "127.0.0.1", port: try XCTUnwrap(echo.localAddress?.port))
        proxyPort = try await proxy.start(host: "127.0.0.1", routes: [DelayProxy.Route(listenPort: 0, target: target)])[0]
    }

    override func tearDown() async throws {
        echoConnections.withLock { $0.removeAll() }
        await proxy.stop()
        try await echo.close()
        try await group.shutdownGracefully()
    }

    /// A client of the proxy: what it receives, with when.
    private func connect() async throws -> (any Channel, Received) {
        let received = Received()
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Recorder(received: received)) }
            }
            .connect(host: "127.0.0.1", port: proxyPort).get()
        return (channel, received)
    }

    func testBytesComeBackThroughBothDirectionsAtOnceWithoutDelay() async throws {
        let (channel, received) = try await connect()
        try await channel.writeAndFlush(ByteBuffer(string: "hello")).get()
        let text = try await received.waitForText(count: 5, timeout: .seconds(10))
        XCTAssertEqual(text, "hello")
        try await channel.close()
    }

    func testEachDirectionHoldsBytesBackByTheDelay() async throws {
        proxy.setDelay(milliseconds: 150)
        let (channel, received) = try await connect()
        let sent = ContinuousClock.now
        try await channel.writeAndFlush(ByteBuffer(string: "ping")).get()
        _ = try await received.waitForText(count: 4, timeout: .seconds(10))
        let roundTrip = try XCTUnwrap(received.firstArrival) - sent
        // Out through the proxy and back through it: held twice.
        XCTAssertGreaterThanOrEqual(roundTrip, .milliseconds(300))
        try await channel.close()
    }

    func testBytesReadUnderALongDelayAreNotOvertakenOnceTheDelayDrops() async throws {
        proxy.setDelay(milliseconds: 400)
        let (channel, received) = try await connect()
        for chunk in 0..<5 {
            try await channel.writeAndFlush(ByteBuffer(string: "slow\(chunk);")).get()
        }
        // Once the proxy has read them all, they wait in it for their delay; then it drops.
        let slowBytes = (0..<5).map { "slow\($0);" }.joined().utf8.count
        let proxy = try XCTUnwrap(self.proxy)
        try await waitUntil(timeout: .seconds(10)) { proxy.bytesRead >= slowBytes }
        proxy.setDelay(milliseconds: 0)
        for chunk in 0..<5 {
            try await channel.writeAndFlush(ByteBuffer(string: "fast\(chunk);")).get()
        }
        let expected = (0..<5).map { "slow\($0);" }.joined() + (0..<5).map { "fast\($0);" }.joined()
        let text = try await received.waitForText(count: expected.utf8.count, timeout: .seconds(10))
        XCTAssertEqual(text, expected)
        try await channel.close()
    }

    func testWhenTheTargetClosesTheClientsConnectionCloses() async throws {
        let (channel, received) = try await connect()
        try await channel.writeAndFlush(ByteBuffer(string: "x")).get()
        _ = try await received.waitForText(count: 1, timeout: .seconds(10))
        let accepted = try XCTUnwrap(echoConnections.withLock { $0.first })
        try await accepted.close()
        try await waitUntil(timeout: .seconds(10)) { !channel.isActive }
    }

    private func waitUntil(timeout: Duration, _ condition: @Sendable () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

/// The echo server's accepted connections.
private let echoConnections = Mutex<[any Channel]>([])

private final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        echoConnections.withLock { $0.append(channel) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(data, promise: nil)
    }
}

/// What a client received, and when the first bytes came.
private final class Received: Sendable {
    private let state = Mutex<(text: String, first: ContinuousClock.Instant?)>(("", nil))

    func append(_ text: String) {
        state.withLock { state in
            if state.first == nil { state.first = .now }
            state.text += text
        }
    }

    var firstArrival: ContinuousClock.Instant? { state.withLock { $0.first } }

    func waitForText(count: Int, timeout: Duration) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let text = state.withLock { $0.text }
            if text.utf8.count >= count { return text }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw CancellationError()
    }
}

private final class Recorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let received: Received

    init(received: Received) {
        self.received = received
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received.append(String(buffer: unwrapInboundIn(data)))
    }
}
