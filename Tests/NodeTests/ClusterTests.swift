import AMQP
import Client
import Glibc
import NIOCore
import NIOPosix
import Node
import Raft
import Synchronization
import XCTest

/// Three nodes in one process, talking Raft over loopback TCP.
final class ClusterTests: XCTestCase {
    private var cluster: LocalCluster!

    override func setUp() {
        // Snapshots early and keeps little log, so a lagging follower needs a snapshot.
        cluster = LocalCluster(name: "cluster") {
            $0.snapshotEveryEntries = 40
            $0.entriesRetainedAfterSnapshot = 5
            $0.laggingFollowerLogBytesMax = 0
        }
    }

    override func tearDown() async throws {
        try await cluster.tearDown()
    }

    func testAConfirmedMessageSurvivesTheLossOfTheLeader() async throws {
        var nodes = try await cluster.start(size: 3)
        let first = try await cluster.leader(of: nodes)

        // The client tries every node; whichever takes it serves it.
        let connection = try await cluster.connect(Array(nodes.values))
        let channel = try await connection.openChannel()
        _ = try await channel.queueDeclare("replicated", durable: true)
        try await channel.confirmSelect(window: 128)
        var confirmations: [PublishConfirmation] = []
        for i in 0..<300 {
            confirmations.append(try await channel.publish(routingKey: "replicated", body: ByteBuffer(string: "r\(i)"), properties: BasicProperties(deliveryMode: 2)))
        }
        for confirmation in confirmations { try await confirmation.confirmed() }
        await connection.close()

        // The leader goes; the other two elect one of themselves and hold every confirmed message.
        try await nodes.removeValue(forKey: first)!.shutdown()
        let second = try await cluster.leader(of: nodes)
        XCTAssertNotEqual(second, first)
        let survivor = try await cluster.connect(Array(nodes.values))
        let consumer = try await survivor.openChannel()
        try await consumer.qos(prefetchCount: 100)
        var received: [String] = []
        for try await delivery in try await consumer.consume(queue: "replicated") {
            received.append(String(buffer: delivery.body))
            try await consumer.ack(deliveryTag: delivery.deliveryTag)
            if received.count == 300 { break }
        }
        XCTAssertEqual(received, (0..<300).map { "r\($0)" })
        await survivor.close()
        for node in nodes.values { try await node.shutdown() }
    }

    func testAClientOfAFollowerDeclaresPublishesGetsAndConsumesThroughTheLeader() async throws {
        let nodes = try await cluster.start(size: 3)
        let leader = try await cluster.leader(of: nodes)
        let follower = nodes.keys.sorted().first { $0 != leader }!
        let connection = try await cluster.connect([nodes[follower]!])
        let channel = try await connection.openChannel()
        _ = try await channel.queueDeclare("via-follower", durable: true)
        try await channel.confirmSelect(window: 64)
        var confirmations: [PublishConfirmation] = []
        for i in 0..<500 {
            confirmations.append(try await channel.publish(routingKey: "via-follower", body: ByteBuffer(string: "f\(i)"), properties: BasicProperties(deliveryMode: 2)))
        }
        for confirmation in confirmations { try await confirmation.confirmed() }
        XCTAssertEqual(confirmations.last?.deliveryTag, 500)
        let declared = try await channel.queueDeclare("via-follower", durable: true, passive: true)
        XCTAssertEqual(declared.messageCount, 500)

        let first = try await channel.get(queue: "via-follower")
        XCTAssertEqual(first.map { String(buffer: $0.body) }, "f0")
        try await channel.ack(deliveryTag: first!.deliveryTag)
        try await channel.qos(prefetchCount: 50)
        var received: [String] = []
        for try await delivery in try await channel.consume(queue: "via-follower") {
            XCTAssertFalse(delivery.redelivered)
            received.append(String(buffer: delivery.body))
            try await channel.ack(deliveryTag: delivery.deliveryTag)
            if received.count == 499 { break }
        }
        XCTAssertEqual(received, (1..<500).map { "f\($0)" })
        // A channel error reaches the client as the leader gave it, and the connection stays.
        let probe = try await connection.openChannel()
        do {
            _ = try await probe.queueDeclare("no-such-queue", passive: true)
            XCTFail("a passive declare of a missing queue succeeded")
        } catch {
            guard case .channelClosedByServer(_, let reason) = error else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(reason.replyCode, .notFound)
        }
        let after = try await channel.queueDeclare("via-follower", durable: true, passive: true)
        XCTAssertEqual(after.messageCount, 0)
        await connection.close()
        for node in nodes.values { try await node.shutdown() }
    }

    /// A message far over RabbitMQ 4's 16 MiB and within the node's default limit (RabbitMQ
    /// 3's 128 MiB) is confirmed, replicated and got back whole, through either node.
    func testA20MiBMessageIsConfirmedAndGotBackThroughTheLeaderAndAFollower() async throws {
        let nodes = try await cluster.start(size: 3)
        let leader = try await cluster.leader(of: nodes)
        let follower = nodes.keys.sorted().first { $0 != leader }!
        let body = ByteBuffer(bytes: (0..<(20 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        for id in [leader, follower] {
            let connection = try await cluster.connect([nodes[id]!])
            let channel = try await connection.openChannel()
            _ = try await channel.queueDeclare("big", durable: true)
            try await channel.confirmSelect(window: 4)
            try await channel.publish(routingKey: "big", body: body, properties: BasicProperties(deliveryMode: 2)).confirmed()
            let got = try await channel.get(queue: "big", noAck: true)
            XCTAssertEqual(got?.body, body, "through node \(id)")
            await connection.close()
        }
        for node in nodes.values { try await node.shutdown() }
    }

    /// Publisher and consumer attached through a follower; the leader goes. Neither
    /// reconnects: unconfirmed publishes are nacked and published again, the consumer keeps
    /// receiving, and every confirmed message arrives.
    func testClientsOfAFollowerCarryOnWithoutReconnectingWhenTheLeaderIsLost() async throws {
        var nodes = try await cluster.start(size: 3)
        let first = try await cluster.leader(of: nodes)
        let follower = nodes.keys.sorted().first { $0 != first }!
        let connection = try await cluster.connect([nodes[follower]!])
        let publisher = try await connection.openChannel()
        _ = try await publisher.queueDeclare("carried-on", durable: true)
        try await publisher.confirmSelect(window: 32)
        let consumerChannel = try await connection.openChannel()
        try await consumerChannel.qos(prefetchCount: 20)
        let consumer = try await consumerChannel.consume(queue: "carried-on")
        let received = Mutex<[String]>([])
        let redeliveries = Mutex(0)
        let consuming = Task {
            for try await delivery in consumer {
                received.withLock { $0.append(String(buffer: delivery.body)) }
                if delivery.redelivered { redeliveries.withLock { $0 += 1 } }
                try await consumerChannel.ack(deliveryTag: delivery.deliveryTag)
            }
        }

        /// Publishes until the broker confirms, as a client does after a nack.
        func publishConfirmed(_ body: String) async throws {
            let deadline = ContinuousClock.now + .seconds(15)
            while true {
                do {
                    try await publisher.publish(routingKey: "carried-on", body: ByteBuffer(string: body), properties: BasicProperties(deliveryMode: 2)).confirmed()
                    return
                } catch {
                    guard case .confirmNacked = error, ContinuousClock.now < deadline else { throw error }
                }
            }
        }
        for i in 0..<100 { try await publishConfirmed("c\(i)") }

        // Deliveries held unacknowledged when the leader goes come again, flagged, under
        // tags the channel has not used; an ack for an old tag is harmless.
        _ = try await publisher.queueDeclare("held", durable: true)
        for i in 0..<5 { try await publisher.publish(routingKey: "held", body: ByteBuffer(string: "h\(i)")).confirmed() }
        let holder = try await connection.openChannel()
        try await holder.qos(prefetchCount: 5)
        var heldDeliveries = try await holder.consume(queue: "held").makeAsyncIterator()
        var firstTags: [UInt64] = []
        for _ in 0..<5 { firstTags.append(try await heldDeliveries.next()!.deliveryTag) }
        XCTAssertEqual(firstTags, [1, 2, 3, 4, 5])

        try await nodes.removeValue(forKey: first)!.shutdown()
        var again: [Delivery] = []
        for _ in 0..<5 { again.append(try await heldDeliveries.next()!) }
        XCTAssertEqual(again.map { String(buffer: $0.body) }, (0..<5).map { "h\($0)" })
        XCTAssertTrue(again.allSatisfy(\.redelivered))
        XCTAssertTrue(again.allSatisfy { $0.deliveryTag > 5 }, "\(again.map(\.deliveryTag))")
        try await holder.ack(deliveryTag: 1)
        try await holder.ack(deliveryTag: again.last!.deliveryTag, multiple: true)
        for i in 100..<200 { try await publishConfirmed("c\(i)") }

        let expected = Set((0..<200).map { "c\($0)" })
        let deadline = ContinuousClock.now + .seconds(15)
        while !expected.isSubset(of: Set(received.withLock { $0 })) {
            guard ContinuousClock.now < deadline else {
                let missing = expected.subtracting(received.withLock { $0 })
                return XCTFail("\(missing.count) confirmed messages never arrived, e.g. \(missing.sorted().prefix(5))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let second = try await cluster.leader(of: nodes)
        XCTAssertNotEqual(second, first)
        // The same connection still serves: the client never reconnected.
        let later = try await connection.openChannel()
        _ = try await later.queueDeclare("carried-on", durable: true, passive: true)
        consuming.cancel()
        await connection.close()
        for node in nodes.values { try await node.shutdown() }
    }

    /// A fourth node joins through gossip, catches up through a snapshot and becomes a
    /// voter; then it leaves, and the quorum is three again: the cluster commits with one
    /// of the first three down.
    func testANodeJoinsThroughGossipCatchesUpByASnapshotBecomesAVoterAndLeaves() async throws {
        var nodes = try await cluster.start(size: 3)
        let first = try await cluster.leader(of: nodes)
        let connection = try await cluster.connect([nodes[first]!])
        let channel = try await connection.openChannel()
        _ = try await channel.queueDeclare("before-join", durable: true)
        try await channel.confirmSelect(window: 32)
        for i in 0..<120 { try await channel.publish(routingKey: "before-join", body: ByteBuffer(string: "b\(i)")).confirmed() }
        await connection.close()

        var configuration = cluster.configuration(4)
        configuration.peerAddress = PeerAddress(host: "127.0.0.1", port: try freePort())
        configuration.join = [cluster.peers[first == 1 ? 2 : 1]!]
        configuration.gossipProbeIntervalMs = 100
        configuration.gossipSuspicionTimeoutMs = 500
        let joiner = try await BerthNode.start(configuration, on: cluster.nodeLoops.next())

        let deadline = ContinuousClock.now + .seconds(15)
        while !(try await nodes[first]!.membership().voters.contains(4)) {
            guard ContinuousClock.now < deadline else { return XCTFail("node 4 did not become a voter within 15 s") }
            try await Task.sleep(for: .milliseconds(20))
        }
        // The joiner learns it is a voter from the leader's next append, a moment later.
        let joinerVoters = try await waitFor("node 4 applying its promotion") { () async throws -> Set<NodeID>? in
            let voters = try await joiner.membership().voters
            return voters.contains(4) ? voters : nil
        }
        XCTAssertEqual(joinerVoters, Set(cluster.peers.keys).union([4]))
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: "\(cluster.root)/node-4/group-1").filter { $0.hasSuffix(".snap") }
        XCTAssertFalse(snapshots.isEmpty, "it caught up through a snapshot")

        try await joiner.leave()
        try await joiner.shutdown()
        let leaderNow = try await cluster.leader(of: nodes)
        let afterLeave = try await nodes[leaderNow]!.membership()
        XCTAssertEqual(afterLeave.voters, Set(cluster.peers.keys))
        XCTAssertTrue(afterLeave.learners.isEmpty)

        // With node 4 gone from the voters, two of three are a quorum.
        let down = nodes.keys.sorted().first { $0 != leaderNow }!
        try await nodes.removeValue(forKey: down)!.shutdown()
        let survivor = try await cluster.connect(Array(nodes.values))
        let check = try await survivor.openChannel()
        try await check.confirmSelect()
        try await check.publish(routingKey: "before-join", body: ByteBuffer(string: "after")).confirmed()
        let declared = try await check.queueDeclare("before-join", durable: true, passive: true)
        XCTAssertEqual(declared.messageCount, 121)
        await survivor.close()
        for node in nodes.values { try await node.shutdown() }
    }

    func testARestartedFollowerCatchesUpThroughASnapshotAndCanTakeOver() async throws {
        var nodes = try await cluster.start(size: 3)
        let first = try await cluster.leader(of: nodes)
        let follower = nodes.keys.sorted().first { $0 != first }!
        try await nodes.removeValue(forKey: follower)!.shutdown()

        // While the follower is down, the log moves far past what the others retain: on
        // until the leader's log starts after the follower's.
        let followerLast = try await nodes[first]!.nodeStatus().lastIndex
        let connection = try await cluster.connect(Array(nodes.values))
        let channel = try await connection.openChannel()
        _ = try await channel.queueDeclare("caught-up", durable: true)
        try await channel.confirmSelect(window: 16)
        var published = 0
        while try await nodes[first]!.nodeStatus().firstIndex <= followerLast + 1 || published < 200 {
            guard published < 5_000 else { return XCTFail("the leader never compacted its log") }
            var confirmations: [PublishConfirmation] = []
            for _ in 0..<10 {
                confirmations.append(try await channel.publish(routingKey: "caught-up", body: ByteBuffer(string: "c\(published)")))
                published += 1
            }
            for confirmation in confirmations { try await confirmation.confirmed() }
        }
        await connection.close()

        nodes[follower] = try await cluster.startNode(follower)
        let target = try await nodes[first]!.appliedIndex()
        let deadline = ContinuousClock.now + .seconds(10)
        while try await nodes[follower]!.appliedIndex() < target {
            guard ContinuousClock.now < deadline else { return XCTFail("the restarted follower did not catch up within 10 s") }
            try await Task.sleep(for: .milliseconds(20))
        }
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: "\(cluster.root)/node-\(follower)/group-1").filter { $0.hasSuffix(".snap") }
        XCTAssertFalse(snapshots.isEmpty, "it caught up through a snapshot")

        // With the old leader gone, the caught-up follower is needed for a quorum.
        try await nodes.removeValue(forKey: first)!.shutdown()
        _ = try await cluster.leader(of: nodes)
        let survivor = try await cluster.connect(Array(nodes.values))
        let consumer = try await survivor.openChannel()
        var received: [String] = []
        for try await delivery in try await consumer.consume(queue: "caught-up") {
            received.append(String(buffer: delivery.body))
            try await consumer.ack(deliveryTag: delivery.deliveryTag)
            if received.count == published { break }
        }
        XCTAssertEqual(received, (0..<published).map { "c\($0)" })
        await survivor.close()
        for node in nodes.values { try await node.shutdown() }
    }

    func testExclusiveQueuesOfTheOldLeadersConnectionsGoWithIt() async throws {
        var nodes = try await cluster.start(size: 3)
        let first = try await cluster.leader(of: nodes)
        let connection = try await cluster.connect([nodes[first]!])
        let channel = try await connection.openChannel()
        _ = try await channel.queueDeclare("mine-only", durable: false, exclusive: true)
        try await nodes.removeValue(forKey: first)!.shutdown()
        _ = try await cluster.leader(of: nodes)

        let other = try await cluster.connect(Array(nodes.values))
        let deadline = ContinuousClock.now + .seconds(5)
        while true {
            let probe = try await other.openChannel()
            do {
                _ = try await probe.queueDeclare("mine-only", passive: true)
            } catch {
                guard case .channelClosedByServer(_, let reason) = error else { return XCTFail("unexpected \(error)") }
                XCTAssertEqual(reason.replyCode, .notFound)
                break
            }
            await probe.close()
            guard ContinuousClock.now < deadline else { return XCTFail("the orphaned exclusive queue was not deleted within 5 s") }
            try await Task.sleep(for: .milliseconds(20))
        }
        await other.close()
        for node in nodes.values { try await node.shutdown() }
    }

    func testAPeerWithTheWrongSecretIsRefused() async throws {
        try cluster.addPeers(2)
        var nodes: [BerthNode] = []
        for id in cluster.peers.keys.sorted() {
            var configuration = cluster.configuration(id)
            configuration.peers = cluster.peers
            configuration.clusterSecret = Array("secret of node \(id)".utf8)
            nodes.append(try await BerthNode.start(configuration, on: cluster.nodeLoops.next()))
        }
        // Two voters that cannot authenticate each other never form a quorum: watched over
        // 1.5 s, several times the longest election timeout (200 ms).
        let deadline = ContinuousClock.now + .seconds(1.5)
        while ContinuousClock.now < deadline {
            for node in nodes {
                let leading = try await node.isLeading()
                XCTAssertFalse(leading)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        for node in nodes { try await node.shutdown() }
    }
}
