import AMQP
import Client
import Glibc
import Log
import NIOCore
import Raft
import Synchronization
import XCTest

@testable import Node

/// The disk syncs off the event loop: a node whose every fsync takes longer than the
/// election timeout still sends heartbeats and answers its leader meanwhile. (An election
/// itself needs a disk faster than the timeout: term and vote are synced before the votes
/// go out; so the disk slows down once the cluster has its leader.)
final class SlowDiskTests: XCTestCase {
    /// A disk whose every sync waits `delay` first, once it is set.
    private final class SlowSyncStorage: RaftStorage, Sendable {
        let inner: DurableStorage
        let delay: DelaySetting
        init(_ inner: DurableStorage, delay: DelaySetting) {
            self.inner = inner
            self.delay = delay
        }
        func append(_ entries: [Entry]) throws(LogError) { try inner.append(entries) }
        func setHardState(_ state: HardState, commitMustBeDurable: Bool) throws(LogError) {
            try inner.setHardState(state, commitMustBeDurable: commitMustBeDurable)
        }
        func installSnapshot(_ encoded: EncodedSnapshot) throws(LogError) { try inner.installSnapshot(encoded) }
        func saveSnapshot(_ encoded: EncodedSnapshot, compactTo: LogIndex) throws(LogError) {
            try inner.saveSnapshot(encoded, compactTo: compactTo)
        }
        func sync() throws(LogError) {
            usleep(delay.microseconds.withLock { $0 })
            try inner.sync()
        }
        func compactLog(through index: LogIndex) throws(LogError) { try inner.compactLog(through: index) }
        func entries(in range: ClosedRange<LogIndex>, bytesMax: Int) throws(LogError) -> [Entry]? {
            try inner.entries(in: range, bytesMax: bytesMax)
        }
        func close() throws(LogError) { try inner.close() }
    }

    /// The leader's disk turns slow: its followers, on fast disks and threads of their own,
    /// would campaign within 200 ms of its last heartbeat.
    func testALeaderWhoseEverySyncOutlastsTheElectionTimeoutKeepsItsTerm() async throws {
        let delays = (1...3).map { _ in DelaySetting() }
        // Each node on a thread of its own, so that one blocked loop stops no other's clock.
        let cluster = LocalCluster(name: "slow-disk", threads: 3) { configuration in
            let delay = delays[Int(configuration.nodeID!) - 1]
            configuration.wrapStorage = { SlowSyncStorage($0, delay: delay) }
        }
        let nodes = try await cluster.start(size: 3)
        let leader = try await cluster.leader(of: nodes)
        let term = try await nodes[leader]!.nodeStatus().term
        // 250 ms per sync from now on; the election timeout is drawn between 100 and 200 ms.
        delays[Int(leader) - 1].microseconds.withLock { $0 = 250_000 }

        let connection = try await cluster.connect([nodes[leader]!])
        let channel = try await connection.openChannel()
        _ = try await channel.queueDeclare("slow", durable: true)
        try await channel.confirmSelect(window: 16)
        let started = ContinuousClock.now
        var published = 0
        // At least two seconds of publishing, each batch waiting on the slow syncs.
        while ContinuousClock.now - started < .seconds(2) {
            var batch: [PublishConfirmation] = []
            for _ in 0..<8 {
                batch.append(try await channel.publish(routingKey: "slow", body: ByteBuffer(string: "m\(published)"), properties: BasicProperties(deliveryMode: 2)))
                published += 1
            }
            for confirmation in batch { try await confirmation.confirmed() }
        }
        await connection.close()

        for (id, node) in nodes.sorted(by: { $0.key < $1.key }) {
            let status = try await node.nodeStatus()
            XCTAssertEqual(status.term, term, "node \(id) saw an election")
            XCTAssertEqual(status.leader, leader, "node \(id)")
        }
        XCTAssertGreaterThanOrEqual(published, 16)
        delays[Int(leader) - 1].microseconds.withLock { $0 = 0 }
        for node in nodes.values { try await node.shutdown() }
        try await cluster.tearDown()
    }

    /// One delay for every node's disk.
    private final class DelaySetting: Sendable {
        let microseconds = Mutex<UInt32>(0)
    }
}
