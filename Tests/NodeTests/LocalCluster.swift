import Client
import Glibc
import NIOPosix
import Raft
import Synchronization
import XCTest

@testable import Node

/// A cluster of nodes in this process on loopback, each on its own data directory under a
/// fresh root: what the cluster tests start, stop and connect to.
final class LocalCluster {
    let root: String
    /// One thread for every node unless asked otherwise: a node that blocks its loop then
    /// stops the others' clocks too.
    let nodeLoops: MultiThreadedEventLoopGroup
    let clientLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    /// Where each founding member listens for peers, known before any of them starts.
    private(set) var peers: [NodeID: PeerAddress] = [:]
    /// Adjusts every node's configuration (snapshot thresholds, HTTP, gossip timing).
    private let adjust: (inout NodeConfiguration) -> Void

    /// `root`: where the data directories go (a fresh directory under /tmp by default).
    init(name: String, root: String? = nil, threads: Int = 1, adjust: @escaping (inout NodeConfiguration) -> Void = { _ in }) {
        self.root = root ?? "/tmp/berth-\(name)-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        nodeLoops = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        self.adjust = adjust
    }

    /// Removes the data and stops the event loops.
    func tearDown() async throws {
        removeTree(root)
        try await nodeLoops.shutdownGracefully()
        try await clientLoop.shutdownGracefully()
    }

    /// Founding members 1...size: their peer addresses, without starting them.
    func addPeers(_ size: Int) throws {
        for id in 1...NodeID(size) { peers[id] = PeerAddress(host: "127.0.0.1", port: try freePort()) }
    }

    func start(size: Int) async throws -> [NodeID: BerthNode] {
        try addPeers(size)
        var nodes: [NodeID: BerthNode] = [:]
        do {
            for id in peers.keys.sorted() { nodes[id] = try await startNode(id) }
        } catch {
            // Nothing left running behind a start that failed (a port taken meanwhile): the
            // test's cleanup may take its disk away, and a node that cannot write stops the
            // whole test process.
            for node in nodes.values { try? await node.shutdown() }
            throw error
        }
        return nodes
    }

    /// The configuration of founding member `id` (or a newcomer with that id).
    func configuration(_ id: NodeID) -> NodeConfiguration {
        var configuration = NodeConfiguration(dataDirectory: "\(root)/node-\(id)")
        configuration.amqpPort = 0
        configuration.nodeID = id
        configuration.clusterSecret = Array("a secret only this cluster knows".utf8)
        // The tests' data is small: a machine short of disk should not block them.
        configuration.resourceLimits.diskFreeLimitBytes = 64 << 20
        adjust(&configuration)
        return configuration
    }

    /// A node of its own, in no cluster: it elects itself.
    func startLone() async throws -> BerthNode {
        var configuration = NodeConfiguration(dataDirectory: "\(root)/lone")
        configuration.amqpPort = 0
        configuration.resourceLimits.diskFreeLimitBytes = 64 << 20
        adjust(&configuration)
        return try await BerthNode.start(configuration, on: nodeLoops.next())
    }

    /// Starts (or restarts, on its data directory) founding member `id`.
    func startNode(_ id: NodeID) async throws -> BerthNode {
        var configuration = configuration(id)
        configuration.peers = peers
        return try await BerthNode.start(configuration, on: nodeLoops.next())
    }

    /// Waits (at most `seconds`) for one of `nodes` to lead and serve, and returns its id.
    func leader(of nodes: [NodeID: BerthNode], seconds: Double = 10) async throws -> NodeID {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            for (id, node) in nodes.sorted(by: { $0.key < $1.key }) where try await node.isLeading() { return id }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw POSIXError(.ETIMEDOUT)
    }

    /// Holds `node`'s event loop for `duration`: the node is silent, not gone (its
    /// connections stay open, as a paused process's do). Needs a cluster of more threads than
    /// one, or the other nodes stop too.
    func holdLoop(of node: BerthNode, for duration: Duration) -> HeldLoop {
        let held = HeldLoop()
        node.loop.execute {
            usleep(UInt32(duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000))
            held.released.store(true, ordering: .sequentiallyConsistent)
        }
        return held
    }

    /// A client connection to the first of `nodes` that takes it.
    func connect(_ nodes: [BerthNode]) async throws -> AMQPConnection {
        try await AMQPConnection.connect(hosts: nodes.map { ("127.0.0.1", $0.amqpAddress.port!) }, on: clientLoop)
    }
}

/// A node's loop held by `LocalCluster.holdLoop`.
final class HeldLoop: Sendable {
    fileprivate let released = Atomic<Bool>(false)

    var isHeld: Bool { !released.load(ordering: .sequentiallyConsistent) }

    /// Waits (at most `seconds`) until the loop runs again; a node is stopped on its loop.
    func waitForRelease(seconds: Double = 15) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while isHeld, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
    }
}

extension XCTestCase {
    /// Polls `probe` every 20 ms until it returns a value; fails the test after `seconds`.
    func waitFor<Value>(
        _ what: String, seconds: Double = 10, file: StaticString = #filePath, line: UInt = #line, _ probe: () async throws -> Value?
    ) async throws -> Value {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while true {
            if let value = try await probe() { return value }
            guard ContinuousClock.now < deadline else {
                XCTFail("timed out after \(seconds) s waiting for \(what)", file: file, line: line)
                throw POSIXError(.ETIMEDOUT)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
