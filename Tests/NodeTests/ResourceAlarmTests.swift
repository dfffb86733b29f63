import AMQP
import Broker
import Client
import Glibc
import Log
import NIOCore
import Raft
import Synchronization
import XCTest

@testable import Node

/// Memory and disk alarms, as RabbitMQ's: publishers are blocked (and told, if they take
/// `connection.blocked`), consumers drain on, and publishing resumes once the alarm clears.
/// A disk that fills up stops nothing for good and loses nothing confirmed.
final class ResourceAlarmTests: XCTestCase {
    func testTheMemoryAlarmBlocksPublishersUntilItClearsWhileConsumersDrain() async throws {
        let cluster = LocalCluster(name: "memory-alarm")
        let node = try await cluster.startLone()
        let publisher = try await cluster.connect([node])
        let consumer = try await cluster.connect([node])
        let publishing = try await publisher.openChannel()
        _ = try await publishing.queueDeclare("alarmed", durable: true)
        try await publishing.confirmSelect()
        for i in 0..<3 { try await publishing.publish(routingKey: "alarmed", body: ByteBuffer(string: "before \(i)")).confirmed() }
        try await node.statusReader.read { $0.resources.limits.memoryHighWatermarkBytes = 1 }
        let blocked = await nextEvent(publisher.events, within: .seconds(10))
        XCTAssertEqual(blocked, .blocked(reason: "low on memory"))
        let held = try await publishing.publish(routingKey: "alarmed", body: ByteBuffer(string: "held"))

        // The consumer, which never published, drains what was there.
        let draining = try await consumer.openChannel()
        var drained: [String] = []
        for _ in 0..<3 {
            let got = try await draining.get(queue: "alarmed", noAck: true)
            drained.append(got.map { String(buffer: $0.body) } ?? "none")
        }
        XCTAssertEqual(drained, ["before 0", "before 1", "before 2"])
        let ready = try await node.statusReader.read { $0.counts(of: QueueName(vhost: "/", "alarmed")).messages }
        XCTAssertEqual(ready, 0, "the held publish was not read while the alarm lasted")

        try await node.statusReader.read { $0.resources.limits = .defaults }
        let unblocked = await nextEvent(publisher.events, within: .seconds(10))
        XCTAssertEqual(unblocked, .unblocked)
        try await held.confirmed()
        let after = try await draining.get(queue: "alarmed", noAck: true)
        XCTAssertEqual(after.map { String(buffer: $0.body) }, "held")
        await publisher.close()
        await consumer.close()
        try await node.shutdown()
        try await cluster.tearDown()
    }

    /// Alarms are cluster-wide: a follower's memory alarm blocks the publishers connected to
    /// the leader, the clearing unblocks them and the held publish is confirmed; and a
    /// member that died no longer blocks anyone.
    func testAMembersAlarmBlocksPublishersOnEveryNodeUntilItClearsOrTheMemberDies() async throws {
        let cluster = LocalCluster(name: "cluster-alarm") {
            $0.gossipProbeIntervalMs = 100
            $0.gossipSuspicionTimeoutMs = 500
        }
        let nodes = try await cluster.start(size: 3)
        let leaderID = try await cluster.leader(of: nodes)
        let leader = try XCTUnwrap(nodes[leaderID])
        let (followerID, follower) = try XCTUnwrap(nodes.first { $0.key != leaderID })
        let publisher = try await cluster.connect([leader])
        let publishing = try await publisher.openChannel()
        _ = try await publishing.queueDeclare("alarmed elsewhere", durable: true)
        try await publishing.confirmSelect()
        try await publishing.publish(routingKey: "alarmed elsewhere", body: ByteBuffer(string: "before")).confirmed()

        try await follower.statusReader.read { $0.resources.limits.memoryHighWatermarkBytes = 1 }
        let blocked = await nextEvent(publisher.events, within: .seconds(10))
        XCTAssertEqual(blocked, .blocked(reason: "low on memory"), "node \(followerID)'s alarm did not reach the leader's publisher")
        let held = try await publishing.publish(routingKey: "alarmed elsewhere", body: ByteBuffer(string: "held"))
        let stored = try await leader.statusReader.read { $0.counts(of: QueueName(vhost: "/", "alarmed elsewhere")).messages }
        XCTAssertEqual(stored, 1, "a publish was read while the alarm lasted")

        try await follower.statusReader.read { $0.resources.limits = .defaults }
        let unblocked = await nextEvent(publisher.events, within: .seconds(10))
        XCTAssertEqual(unblocked, .unblocked)
        try await held.confirmed()

        try await follower.statusReader.read { $0.resources.limits.memoryHighWatermarkBytes = 1 }
        let blockedAgain = await nextEvent(publisher.events, within: .seconds(10))
        XCTAssertEqual(blockedAgain, .blocked(reason: "low on memory"))
        try await follower.shutdown()
        let freed = await nextEvent(publisher.events, within: .seconds(10))
        XCTAssertEqual(freed, .unblocked, "a dead member's alarm still blocks")
        try await publishing.publish(routingKey: "alarmed elsewhere", body: ByteBuffer(string: "after")).confirmed()

        await publisher.close()
        for (id, node) in nodes where id != followerID { try await node.shutdown() }
        try await cluster.tearDown()
    }

    /// The next connection event, or nil if none comes within `timeout`.
    private func nextEvent(_ events: AsyncStream<ConnectionEvent>, within timeout: Duration) async -> ConnectionEvent? {
        await withTaskGroup(of: ConnectionEvent?.self) { group in
            group.addTask {
                var iterator = events.makeAsyncIterator()
                return await iterator.next()
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            // Ends the wait that lost; an event's arrival cancels only the sleep.
            group.cancelAll()
            return first
        }
    }

    /// A node on a small file system (a loop-mounted ext4 image), with no free-space limit,
    /// so that the disk itself refuses writes: the node does not stop, the refused writes
    /// set the disk alarm and block publishing, and once space is freed everything goes on
    /// and every confirmed message is there. One node: three on one small disk would race
    /// for its last bytes, and the test would depend on which of them lost.
    func testAFullDiskBlocksPublishingLosesNothingAndResumesOnceSpaceIsFreed() async throws {
        let disk = try SmallFileSystem(megabytes: 96)
        defer { disk.remove() }
        // Most of it taken by a file the test deletes later.
        let filler = disk.mountPoint + "/filler"
        try disk.fill(filler, leavingMegabytes: 24)
        let cluster = LocalCluster(name: "disk-full", root: disk.mountPoint + "/cluster") {
            $0.resourceLimits.diskFreeLimitBytes = 0
            $0.snapshotEveryBytes = 4 << 20
        }
        let node = try await cluster.startLone()
        let connection = try await cluster.connect([node])
        let channel = try await connection.openChannel()
        _ = try await channel.queueDeclare("filling", durable: true)
        try await channel.confirmSelect(window: 64)

        // Publish until the disk is full: the node blocks the connection. Confirms are
        // awaited by tasks of their own, so that one the full disk holds back holds nothing.
        let outcomes = Outcomes()
        var batches: [Task<Void, Never>] = []
        var order: [String] = []
        let body = String(repeating: "x", count: 8_000)
        let deadline = ContinuousClock.now + .seconds(60)
        while !connection.isBlocked, ContinuousClock.now < deadline {
            var batch: [(String, PublishConfirmation)] = []
            for _ in 0..<32 {
                let text = "m\(order.count) " + body
                order.append(text)
                batch.append((text, try await channel.publish(routingKey: "filling", body: ByteBuffer(string: text), properties: BasicProperties(deliveryMode: 2))))
            }
            batches.append(Task {
                for (text, confirmation) in batch {
                    let confirmed = (try? await confirmation.confirmed()) != nil
                    outcomes.record(text, confirmed)
                }
            })
            while !connection.isBlocked, outcomes.count < order.count, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        let blocked = await nextEvent(connection.events, within: .seconds(10))
        XCTAssertEqual(blocked, .blocked(reason: "low on disk"))
        XCTAssertGreaterThan(outcomes.confirmed(in: order).count, 100, "some messages were confirmed before the disk filled")
        XCTAssertLessThan(ResourceReadings.diskFreeBytes(at: disk.mountPoint), 4 << 20, "the disk is full")
        _ = try await node.appliedIndex()  // the node still answers

        // Room again: the writes that waited go through, the alarm clears, publishing resumes.
        try FileSystem.remove(filler)
        let unblocked = await nextEvent(connection.events, within: .seconds(30))
        XCTAssertEqual(unblocked, .unblocked)
        for batch in batches { await batch.value }
        var confirmed = outcomes.confirmed(in: order)
        for i in 0..<20 {
            let text = "after \(i)"
            try await channel.publish(routingKey: "filling", body: ByteBuffer(string: text), properties: BasicProperties(deliveryMode: 2)).confirmed()
            confirmed.append(text)
        }

        // Every confirmed message is there, in order, with its body.
        var received: [String] = []
        while let got = try await channel.get(queue: "filling", noAck: true) { received.append(String(buffer: got.body)) }
        let confirmedSet = Set(confirmed)
        XCTAssertEqual(received.filter { confirmedSet.contains($0) }, confirmed, "nothing confirmed was lost, and the order held")
        await connection.close()
        try await node.shutdown()
        try await cluster.tearDown()
    }
}

/// Which publishes were confirmed, as the tasks awaiting them learn it.
private final class Outcomes: Sendable {
    private let results = Mutex<[String: Bool]>([:])

    func record(_ text: String, _ confirmed: Bool) { results.withLock { $0[text] = confirmed } }
    var count: Int { results.withLock { $0.count } }
    func confirmed(in order: [String]) -> [String] {
        results.withLock { results in order.filter { results[$0] == true } }
    }
}

/// A file system of its own for a test: an ext4 image, loop-mounted under /tmp. Needs root
/// (CI runs as root); without it the test is skipped, saying why.
struct SmallFileSystem {
    let image: String
    let mountPoint: String

    init(megabytes: Int) throws {
        guard geteuid() == 0 else { throw XCTSkip("mounting a file system needs root") }
        let name = "/tmp/berth-fs-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        image = name + ".img"
        mountPoint = name
        try FileSystem.createDirectory(mountPoint)
        try Self.run("/usr/bin/truncate", ["-s", "\(megabytes)M", image])
        // No blocks reserved for root: the disk is full when it says so.
        try Self.run("/usr/sbin/mkfs.ext4", ["-q", "-F", "-m", "0", image])
        try Self.run("/usr/bin/mount", ["-o", "loop", image, mountPoint])
    }

    /// Writes a file that leaves `leavingMegabytes` free.
    func fill(_ path: String, leavingMegabytes: Int) throws {
        let free = Int(ResourceReadings.diskFreeBytes(at: mountPoint)) / (1 << 20)
        try Self.run("/usr/bin/fallocate", ["-l", "\(max(1, free - leavingMegabytes))M", path])
    }

    func remove() {
        _ = try? Self.run("/usr/bin/umount", ["-l", mountPoint])
        rmdir(mountPoint)
        unlink(image)
    }

    static func run(_ tool: String, _ arguments: [String]) throws {
        var pid: pid_t = 0
        let argv = ([tool] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawn(&pid, tool, nil, nil, argv, environ) == 0 else { throw XCTSkip("\(tool) could not be started") }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        guard status == 0 else { throw XCTSkip("\(tool) \(arguments.joined(separator: " ")) failed (\(status)): no small file system here") }
    }
}
