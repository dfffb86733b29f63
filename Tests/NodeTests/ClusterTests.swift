import AMQP
import Client
import Glibc
import NIOCore
import NIOPosix
import Node
import Raft
import XCTest

/// Three nodes in one process, talking Raft over loopback TCP.
final class ClusterTests: XCTestCase {
    private var root = ""
    private let nodeLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let clientLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    override func setUp() {
        root = "/tmp/berth-cluster-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    }

    override func tearDown() async throws {
        removeTree(root)
        try await nodeLoops.shutdownGracefully()
        try await clientLoop.shutdownGracefully()
    }

    /// A port free right now on loopback (the kernel's choice for a bind to port 0).
    private func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                Glibc.bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private var peers: [NodeID: PeerAddress] = [:]

    private func startCluster(size: Int) async throws -> [NodeID: BerthNode] {
        for id in 1...NodeID(size) { peers[id] = PeerAddress(host: "127.0.0.1", port: try freePort()) }
        var nodes: [NodeID: BerthNode] = [:]
        for id in peers.keys.sorted() { nodes[id] = try await startNode(id) }
        return nodes
    }

    /// Starts (or restarts, on its data directory) one member of the cluster.
    private func startNode(_ id: NodeID) async throws -> BerthNode {
        var configuration = NodeConfiguration(dataDirectory: "\(root)/node-\(id)")
        configuration.amqpPort = 0
        configuration.nodeID = id
        configuration.peers = peers
        configuration.clusterSecret = Array("a secret only this cluster knows".utf8)
        // Snapshots early and keeps little log, so a lagging follower needs a snapshot.
        configuration.snapshotEveryEntries = 40
        configuration.entriesRetainedAfterSnapshot = 5
        return try await BerthNode.start(configuration, on: nodeLoops.next())
    }

    /// Waits (at most `seconds`) for one of `nodes` to lead, and returns its id.
    private func leader(of nodes: [NodeID: BerthNode], seconds: Double = 10) async throws -> NodeID {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            for (id, node) in nodes.sorted(by: { $0.key < $1.key }) where try await node.isLeading() { return id }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw POSIXError(.ETIMEDOUT)
    }

    private func connect(_ nodes: [BerthNode]) async throws -> AMQPConnection {
        try await AMQPConnection.connect(hosts: nodes.map { ("127.0.0.1", $0.amqpAddress.port!) }, on: clientLoop)
    }

    func testAConfirmedMessageSurvivesTheLossOfTheLeader() async throws {
        var nodes = try await startCluster(size: 3)
        let first = try await leader(of: nodes)

        // The client tries every node; only the leader lets it in.
        let connection = try await connect(Array(nodes.values))
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
        let second = try await leader(of: nodes)
        XCTAssertNotEqual(second, first)
        let survivor = try await connect(Array(nodes.values))
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

    func testARestartedFollowerCatchesUpThroughASnapshotAndCanTakeOver() async throws {
        var nodes = try await startCluster(size: 3)
        let first = try await leader(of: nodes)
        let follower = nodes.keys.sorted().first { $0 != first }!
        try await nodes.removeValue(forKey: follower)!.shutdown()

        // While the follower is down, the log moves far past what the others retain.
        let connection = try await connect(Array(nodes.values))
        let channel = try await connection.openChannel()
        _ = try await channel.queueDeclare("caught-up", durable: true)
        try await channel.confirmSelect(window: 16)
        for batch in 0..<20 {
            var confirmations: [PublishConfirmation] = []
            for i in 0..<10 {
                confirmations.append(try await channel.publish(routingKey: "caught-up", body: ByteBuffer(string: "c\(batch * 10 + i)")))
            }
            for confirmation in confirmations { try await confirmation.confirmed() }
        }
        await connection.close()

        nodes[follower] = try await startNode(follower)
        let target = try await nodes[first]!.appliedIndex()
        let deadline = ContinuousClock.now + .seconds(10)
        while try await nodes[follower]!.appliedIndex() < target {
            guard ContinuousClock.now < deadline else { return XCTFail("the restarted follower did not catch up within 10 s") }
            try await Task.sleep(for: .milliseconds(20))
        }
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: "\(root)/node-\(follower)/group-1").filter { $0.hasSuffix(".snap") }
        XCTAssertFalse(snapshots.isEmpty, "it caught up through a snapshot")

        // With the old leader gone, the caught-up follower is needed for a quorum.
        try await nodes.removeValue(forKey: first)!.shutdown()
        _ = try await leader(of: nodes)
        let survivor = try await connect(Array(nodes.values))
        let consumer = try await survivor.openChannel()
        var received: [String] = []
        for try await delivery in try await consumer.consume(queue: "caught-up") {
            received.append(String(buffer: delivery.body))
            try await consumer.ack(deliveryTag: delivery.deliveryTag)
            if received.count == 200 { break }
        }
        XCTAssertEqual(received, (0..<200).map { "c\($0)" })
        await survivor.close()
        for node in nodes.values { try await node.shutdown() }
    }

    func testExclusiveQueuesOfTheOldLeadersConnectionsGoWithIt() async throws {
        var nodes = try await startCluster(size: 3)
        let first = try await leader(of: nodes)
        let connection = try await connect([nodes[first]!])
        let channel = try await connection.openChannel()
        _ = try await channel.queueDeclare("mine-only", durable: false, exclusive: true)
        try await nodes.removeValue(forKey: first)!.shutdown()
        _ = try await leader(of: nodes)

        let other = try await connect(Array(nodes.values))
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
        var peers: [NodeID: PeerAddress] = [:]
        for id in NodeID(1)...2 { peers[id] = PeerAddress(host: "127.0.0.1", port: try freePort()) }
        var nodes: [BerthNode] = []
        for id in peers.keys.sorted() {
            var configuration = NodeConfiguration(dataDirectory: "\(root)/node-\(id)")
            configuration.amqpPort = 0
            configuration.nodeID = id
            configuration.peers = peers
            configuration.clusterSecret = Array("secret of node \(id)".utf8)
            nodes.append(try await BerthNode.start(configuration, on: nodeLoops.next()))
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
