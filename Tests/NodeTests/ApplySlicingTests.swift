import AMQP
import Client
import NIOCore
import Raft
import XCTest

@testable import Node

/// A follower sent a long log to apply (one that was stopped a while, or that installed a
/// snapshot) applies it a Ready at a time, with its event loop's other work between: the
/// loop is never taken for the whole log, or its peers would cut its links as silent.
final class ApplySlicingTests: XCTestCase {
    func testALongCommittedLogIsAppliedInTurnsWithTheLoopsOtherWorkBetween() async throws {
        // A Ready applies one entry: each publish below is one.
        let cluster = LocalCluster(name: "apply-slicing") { $0.applyBytesMax = 1 }
        var nodes = try await cluster.start(size: 3)
        let leader = try await cluster.leader(of: nodes)
        let follower = nodes.keys.sorted().first { $0 != leader }!
        try await nodes.removeValue(forKey: follower)!.shutdown()

        let connection = try await cluster.connect([nodes[leader]!])
        let channel = try await connection.openChannel()
        _ = try await channel.queueDeclare("slices", durable: true)
        try await channel.confirmSelect(window: 1)
        let count = 300
        for n in 0..<count {
            try await channel.publish(routingKey: "slices", body: ByteBuffer(string: "message \(n)"), properties: BasicProperties(deliveryMode: 2)).confirmed()
        }
        await connection.close()
        let target = try await nodes[leader]!.appliedIndex()

        // Back, the follower is sent the log in a few appends; each look at it is a task on
        // its loop, and sees the applied index move by slices.
        let restarted = try await cluster.startNode(follower)
        nodes[follower] = restarted
        var seen: Set<UInt64> = []
        let deadline = ContinuousClock.now + .seconds(15)
        while true {
            let applied = try await restarted.appliedIndex()
            seen.insert(applied)
            if applied >= target { break }
            guard ContinuousClock.now < deadline else { return XCTFail("the follower did not catch up within 15 s") }
        }
        XCTAssertGreaterThan(seen.count, count / 10, "the log applied in \(seen.count) looks, not in a few turns of the loop")
        for node in nodes.values { try await node.shutdown() }
        try await cluster.tearDown()
    }
}
