import AMQP
import Client
import NIOCore
import Node
import XCTest

/// A follower relays its clients' channels to the leader over a session of its own; when the
/// follower stops answering (paused, its loop held), the leader gives that session up within
/// a few seconds, so the deliveries it held for the follower's consumers go to others.
final class RelaySessionTests: XCTestCase {
    func testDeliveriesHeldForASilentFollowersConsumerReturnToTheQueueWithinSeconds() async throws {
        // A thread per node: holding the follower's loop must not stop the leader's.
        let cluster = LocalCluster(name: "relay-silence", threads: 3)
        let nodes = try await cluster.start(size: 3)
        let leader = try await cluster.leader(of: nodes)
        let follower = nodes.keys.sorted().first { $0 != leader }!

        let direct = try await cluster.connect([nodes[leader]!])
        let channel = try await direct.openChannel()
        try await channel.confirmSelect()
        _ = try await channel.queueDeclare("held-by-follower", durable: true)
        try await channel.publish(routingKey: "held-by-follower", body: ByteBuffer(string: "m"), properties: BasicProperties(deliveryMode: 2)).confirmed()

        let relayed = try await cluster.connect([nodes[follower]!])
        let consumer = try await relayed.openChannel()
        try await consumer.qos(prefetchCount: 1)
        var deliveries = try await consumer.consume(queue: "held-by-follower").makeAsyncIterator()
        let first = try await deliveries.next()
        XCTAssertEqual(first.map { String(buffer: $0.body) }, "m")

        // The follower goes silent for 6 s, its unacknowledged delivery with it.
        let heldSince = ContinuousClock.now
        let held = cluster.holdLoop(of: nodes[follower]!, for: .seconds(6))
        var again: GetResponse?
        while again == nil, held.isHeld {
            again = try await channel.get(queue: "held-by-follower")
            if again == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let waited = ContinuousClock.now - heldSince
        XCTAssertEqual(again.map { String(buffer: $0.body) }, "m", "no redelivery while the follower was silent (\(waited))")
        XCTAssertEqual(again?.redelivered, true)
        XCTAssertLessThan(waited, .seconds(5), "given up after two silent session heartbeats")

        // Let the follower run again before stopping it (its loop is needed to shut down).
        try await held.waitForRelease()
        await relayed.close()
        await direct.close()
        for node in nodes.values { try await node.shutdown() }
        try await cluster.tearDown()
    }
}
