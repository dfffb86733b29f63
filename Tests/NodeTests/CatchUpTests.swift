import AMQP
import Broker
import Client
import Log
import NIOCore
import Raft
import XCTest

@testable import Node

/// A follower behind the leader's log catches up through a snapshot that carries the
/// bodies its state refers to: afterwards its own message store holds every one of them.
final class CatchUpTests: XCTestCase {
    /// The bodies of a queue's messages as `node` holds them: its state's records, read from
    /// its own store.
    private func storedBodies(_ node: BerthNode, queue: String) async throws -> [String] {
        try await node.statusReader.read { core -> [String] in
            guard let stored = core.state.queue(QueueName(vhost: "/", queue)) else { return [] }
            let locations = stored.messages.map { stored.location(of: $0) }
            let records = try core.group.machine.store.read(
                locations.map { MessageStore.Extent(store: $0.store, position: $0.position, bytes: Int($0.bytes)) })
            return try records.map { String(decoding: try MessageRecord.decode($0, limits: core.state.limits).body, as: UTF8.self) }
        }
    }

    func testAFollowerBehindTheLogGetsTheBodiesWithTheSnapshot() async throws {
        let cluster = LocalCluster(name: "catch-up") {
            $0.snapshotEveryEntries = 40
            $0.entriesRetainedAfterSnapshot = 5
            $0.laggingFollowerLogBytesMax = 0
        }
        var nodes = try await cluster.start(size: 3)
        let leader = try await cluster.leader(of: nodes)
        let follower = nodes.keys.sorted().first { $0 != leader }!
        try await nodes.removeValue(forKey: follower)!.shutdown()
        let followerLast = try await nodes[leader]!.nodeStatus().lastIndex

        // While the follower is down: 600 messages, the first 200 consumed again, so the
        // snapshot it gets refers to only part of what was written.
        let connection = try await cluster.connect([nodes[leader]!])
        let channel = try await connection.openChannel()
        _ = try await channel.queueDeclare("bodies", durable: true)
        try await channel.confirmSelect(window: 64)
        func body(_ n: Int) -> String { "body \(n) " + String(repeating: "\(n % 10)", count: 1_000 + n % 97) }
        var bodies: [String] = []
        var confirmations: [PublishConfirmation] = []
        // At least 600, and on until the leader's log starts after the follower's.
        var compacted = false
        while bodies.count < 600 || !compacted {
            guard bodies.count < 20_000 else { return XCTFail("the leader never compacted its log") }
            for _ in 0..<64 {
                bodies.append(body(bodies.count))
                confirmations.append(try await channel.publish(routingKey: "bodies", body: ByteBuffer(string: bodies.last!), properties: BasicProperties(deliveryMode: 2)))
            }
            for confirmation in confirmations { try await confirmation.confirmed() }
            confirmations = []
            compacted = try await nodes[leader]!.nodeStatus().firstIndex > followerLast + 1
        }
        for expected in bodies.prefix(200) {
            let got = try await channel.get(queue: "bodies", noAck: true)
            XCTAssertEqual(got.map { String(buffer: $0.body) }, expected)
        }
        await connection.close()

        nodes[follower] = try await cluster.startNode(follower)
        let target = try await nodes[leader]!.appliedIndex()
        let deadline = ContinuousClock.now + .seconds(15)
        while try await nodes[follower]!.appliedIndex() < target {
            guard ContinuousClock.now < deadline else { return XCTFail("the follower did not catch up within 15 s") }
            try await Task.sleep(for: .milliseconds(20))
        }
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: "\(cluster.root)/node-\(follower)/group-1").filter { $0.hasSuffix(".snap") }
        XCTAssertFalse(snapshots.isEmpty, "it caught up through a snapshot")
        let onTheFollower = try await storedBodies(nodes[follower]!, queue: "bodies")
        XCTAssertEqual(onTheFollower, Array(bodies.dropFirst(200)))
        let onTheLeader = try await storedBodies(nodes[leader]!, queue: "bodies")
        XCTAssertEqual(onTheFollower, onTheLeader)
        for node in nodes.values { try await node.shutdown() }
        try await cluster.tearDown()
    }
}
