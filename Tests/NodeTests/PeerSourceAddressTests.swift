import NIOCore
import NIOPosix
import Node
import Raft
import Synchronization
import XCTest

/// A node's connections to its peers leave from its own peer address, so that a peer (and
/// any firewall rule between them) sees which node is calling, even when several nodes
/// share one host's loopback.
final class PeerSourceAddressTests: XCTestCase {
    func testConnectionsToAPeerComeFromTheNodesOwnPeerAddress() async throws {
        let cluster = LocalCluster(name: "peer-source")
        let ownHost = "127.0.0.2"
        let peerHost = "127.0.0.3"
        let callers = Mutex<[String]>([])
        // Peer 2 is a bare listener that notes where each connection comes from.
        let listener = try await ServerBootstrap(group: cluster.clientLoop)
            .childChannelInitializer { channel in
                let caller = channel.remoteAddress?.ipAddress ?? "?"
                callers.withLock { $0.append(caller) }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: peerHost, port: 0).get()
        var configuration = cluster.configuration(1)
        configuration.amqpHost = ownHost
        configuration.peers = [
            1: PeerAddress(host: ownHost, port: try freePort()),
            2: PeerAddress(host: peerHost, port: try XCTUnwrap(listener.localAddress?.port)),
        ]
        let node = try await BerthNode.start(configuration, on: cluster.nodeLoops.next())
        // Node 1 has the lower id, so it dials node 2.
        let deadline = ContinuousClock.now + .seconds(10)
        while callers.withLock({ $0.isEmpty }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTAssertEqual(callers.withLock { $0.first }, ownHost)
        try await node.shutdown()
        try await listener.close()
        try await cluster.tearDown()
    }
}
