import Glibc
import Logging
import NIOCore
import NIOPosix
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
                settings: settings, logger: Logger(label: "test")) { _ in }
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
