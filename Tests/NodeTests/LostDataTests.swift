import AMQP
import Client
import Glibc
import NIOCore
import Raft
import XCTest

@testable import Node

/// An operator's mistake: a member started again under its old id with its data directory
/// gone. It must stop and say what happened and what to do, not crash.
final class LostDataTests: XCTestCase {
    func testAMemberRestartedWithoutItsDataStopsAndSaysWhatToDo() async throws {
        let cluster = LocalCluster(name: "lost-data")
        var nodes = try await cluster.start(size: 3)
        let leader = try await cluster.leader(of: nodes)
        let connection = try await cluster.connect([nodes[leader]!])
        let channel = try await connection.openChannel()
        _ = try await channel.queueDeclare("kept", durable: true)
        try await channel.confirmSelect()
        for i in 0..<20 { try await channel.publish(routingKey: "kept", body: ByteBuffer(string: "k\(i)")).confirmed() }

        let victim = nodes.keys.sorted().first { $0 != leader }!
        try await nodes.removeValue(forKey: victim)!.shutdown()
        removeTree("\(cluster.root)/node-\(victim)")
        let restarted = try await cluster.startNode(victim)
        let deadline = ContinuousClock.now + .seconds(10)
        while try await restarted.statusReader.read({ $0.group.core.lostData == nil }) {
            guard ContinuousClock.now < deadline else { return XCTFail("the member did not find its data lost within 10 s") }
            try await Task.sleep(for: .milliseconds(20))
        }
        let reason = await restarted.stopRequested()
        let said = try XCTUnwrap(reason, "it asked to stop, with a reason")
        XCTAssertTrue(said.contains("lost data"), said)
        XCTAssertTrue(said.contains("berth remove \(victim)"), said)
        XCTAssertTrue(said.contains("new member"), said)
        try await restarted.shutdown()

        // The others go on.
        try await channel.publish(routingKey: "kept", body: ByteBuffer(string: "after")).confirmed()
        await connection.close()
        for node in nodes.values { try await node.shutdown() }
        try await cluster.tearDown()
    }
}
