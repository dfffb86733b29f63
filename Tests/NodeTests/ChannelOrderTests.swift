import AMQP
import Client
import NIOCore
import Node
import Raft
import XCTest

/// A channel's methods take effect in the order they were sent, through the leader and
/// through a follower alike: what a channel published (without confirms, not waiting for
/// anything) is seen by the get, declare, purge and delete it sends next.
final class ChannelOrderTests: XCTestCase {
    private var cluster: LocalCluster!

    override func setUp() {
        cluster = LocalCluster(name: "order")
    }

    override func tearDown() async throws {
        try await cluster.tearDown()
    }

    func testWhatAChannelPublishedIsSeenByItsNextMethodsThroughTheLeaderAndAFollower() async throws {
        let nodes = try await cluster.start(size: 3)
        let leader = try await cluster.leader(of: nodes)
        let follower = nodes.keys.sorted().first { $0 != leader }!
        for (role, id) in [("leader", leader), ("follower", follower)] {
            let connection = try await cluster.connect([nodes[id]!])
            let channel = try await connection.openChannel()
            let queue = "order-\(role)"
            _ = try await channel.queueDeclare(queue, durable: true)

            for i in 0..<100 {
                try await channel.publish(routingKey: queue, body: ByteBuffer(string: "m\(i)"))
                let got = try await channel.get(queue: queue, noAck: true)
                XCTAssertEqual(got.map { String(buffer: $0.body) }, "m\(i)", "through the \(role): the get right after publish \(i)")
            }

            let batch = (0..<50).map { OutgoingMessage(routingKey: queue, body: ByteBuffer(string: "b\($0)")) }
            for result in await channel.publish(batch: batch) { _ = try result.get() }
            let declared = try await channel.queueDeclare(queue, durable: true, passive: true)
            XCTAssertEqual(declared.messageCount, 50, "through the \(role): declare-ok counts what was just published")
            let purged = try await channel.queuePurge(queue)
            XCTAssertEqual(purged, 50, "through the \(role): purge-ok counts it")

            for i in 0..<20 { try await channel.publish(routingKey: queue, body: ByteBuffer(string: "d\(i)")) }
            let deleted = try await channel.queueDelete(queue)
            XCTAssertEqual(deleted, 20, "through the \(role): delete-ok counts it")
            await connection.close()
        }
        for node in nodes.values { try await node.shutdown() }
    }
}
