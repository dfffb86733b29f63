import AMQP
import ArgumentParser
import Client
import Glibc
import NIOCore
import NIOPosix
import Node
import StatusAPI
import Synchronization

/// `berth bench backlog`: a backlog bigger than its consumers keep up with, on the local
/// cluster (`Cluster/up`). Fills one quorum queue with persistent, confirmed messages and no
/// consumer; reports each node's resident memory and data on disk, and what they grew by
/// per message; optionally stops a follower while more arrive and times its catch-up with
/// publishing going on, and times a node's restart with the backlog stored; then drains
/// the queue and reports the drain rate; and says whether any election happened.
struct BacklogBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backlog",
        abstract: "Fill a queue far past its consumers, measure memory, disk, catch-up, restart and drain on the local cluster.",
        discussion: """
            Needs the local cluster of Cluster/up running (its nodes' pids and data under \
            Cluster/data). The queue is declared durable with x-queue-type=quorum and deleted \
            at the end. Rates are medians of nothing: one run, on a shared machine; run it \
            again before believing a difference.
            """)

    @Option(help: "Messages to fill the queue with.")
    var count = 2_000_000

    @Option(help: "Body bytes per message.")
    var size = 1_024

    @Option(help: "Publishers while filling, and consumers while draining (each its own connection).")
    var clients = 2

    @Option(help: "Confirms in flight per publisher.")
    var window = 256

    @Option(help: "Prefetch per consumer while draining.")
    var prefetch = 256

    @Option(help: "Messages to publish while a follower is stopped (0: skip the catch-up measurement).")
    var catchUp = 0

    @Flag(help: "Restart one node with the backlog stored, and time it until it serves again.")
    var restart = false

    @Option(help: "The local cluster's directory (its scripts and its data).")
    var cluster = "Cluster"

    @Option(help: "The queue to fill.")
    var queue = "berth-backlog"

    func validate() throws {
        guard count > 0, size >= 16, clients > 0, window > 0, prefetch > 0, catchUp >= 0 else {
            throw ValidationError("--count, --clients, --window and --prefetch must be positive, --size at least 16")
        }
    }

    /// The three nodes of the local cluster, as its scripts lay them out.
    private var nodes: [LocalNode] {
        (1...3).map { LocalNode(number: $0, cluster: cluster) }
    }

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        do {
            try await measure(group)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }

    private func measure(_ group: any EventLoopGroup) async throws {
        let termBefore = try await leaderStatus(group).term
        let residentBefore = nodes.map(\.residentBytes)
        let diskBefore = nodes.map(\.dataBytes)
        say("filling \(count) messages of \(size) bytes, \(clients) publishers...")
        // Resident memory half-way too: what the second half added is the cost of a message
        // beyond the base (caches, buffers, the allocator's own) that the first half filled.
        let half = count / 2
        var fill = try await publish(count: half, group: group)
        try await Task.sleep(for: .seconds(5))
        let residentHalf = nodes.map(\.residentBytes)
        fill += try await publish(count: count - half, group: group)
        try await Task.sleep(for: .seconds(5))
        let resident = nodes.map(\.residentBytes)
        let disk = nodes.map(\.dataBytes)
        say(String(format: "fill: %.0f confirmed/s (%d in %.1f s)", Double(count) / fill, count, fill))
        for (index, node) in nodes.enumerated() {
            let grown = Double(resident[index]) - Double(residentBefore[index])
            let grownInSecondHalf = Double(resident[index]) - Double(residentHalf[index])
            say(String(
                format: "node %d: resident %d MiB (%+.0f B per message; %+.0f B per message of the second half), data %d MiB (%+.0f B per message)",
                node.number, resident[index] >> 20, grown / Double(count), grownInSecondHalf / Double(count - half),
                disk[index] >> 20, Double(disk[index] - diskBefore[index]) / Double(count)))
        }
        try await reportElections(since: termBefore, during: "the fill", group: group)
        // A follower stopped and started again moves no term.
        if catchUp > 0 {
            let termBeforeCatchUp = try await leaderStatus(group).term
            try await measureCatchUp(group: group)
            try await reportElections(since: termBeforeCatchUp, during: "the catch-up", group: group)
        }
        if restart { try await measureRestart(group: group) }
        say("draining with \(clients) consumers, prefetch \(prefetch)...")
        let total = count + catchUp
        let termBeforeDrain = try await leaderStatus(group).term
        let drain = try await drain(total, group: group)
        say(String(format: "drain: %.0f messages/s (%d in %.1f s)", Double(total) / drain, total, drain))
        try await reportElections(since: termBeforeDrain, during: "the drain", group: group)
        // Space comes back with the next snapshot: at the latest one interval later.
        let started = ContinuousClock.now
        var after = nodes.map(\.dataBytes)
        while after.contains(where: { $0 > diskBefore.max()! + (128 << 20) }), seconds(since: started) < 60 {
            try await Task.sleep(for: .seconds(1))
            after = nodes.map(\.dataBytes)
        }
        say(String(format: "data %.0f s after the drain: ", seconds(since: started)) + after.map { "\($0 >> 20) MiB" }.joined(separator: ", ")
            + " (before the fill: " + diskBefore.map { "\($0 >> 20) MiB" }.joined(separator: ", ") + ")")
    }

    private func reportElections(since term: UInt64, during phase: String, group: any EventLoopGroup) async throws {
        let now = try await leaderStatus(group).term
        say(now == term ? "no election during \(phase) (term \(now))" : "ELECTIONS during \(phase): term \(term) to \(now)")
    }

    // MARK: Publishing and draining

    /// Publishes `count` messages over `clients` connections; returns the seconds it took.
    private func publish(count: Int, group: any EventLoopGroup) async throws -> Double {
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for client in 0..<clients {
                let share = count / clients + (client < count % clients ? 1 : 0)
                let hosts = addresses(startingAt: client)
                tasks.addTask { [self] in try await publishShare(share, hosts: hosts, group: group) }
            }
            try await tasks.waitForAll()
        }
        return seconds(since: start)
    }

    /// Every node's AMQP address, starting with one client's: spread, and any that is up.
    private func addresses(startingAt client: Int) -> [(host: String, port: Int)] {
        (0..<nodes.count).map { nodes[(client + $0) % nodes.count].amqp }
    }

    private func publishShare(_ share: Int, hosts: [(host: String, port: Int)], group: any EventLoopGroup) async throws {
        let connection = try await AMQPConnection.connect(hosts: hosts, on: group)
        let channel = try await connection.openChannel()
        _ = try await channel.queueDeclare(queue, durable: true, arguments: ["x-queue-type": .longString(Array("quorum".utf8))])
        try await channel.confirmSelect(window: window)
        let body = ByteBuffer(repeating: UInt8(ascii: "b"), count: size)
        try await channel.publishConfirmed(count: share, window: window) { _ in
            OutgoingMessage(routingKey: queue, body: body, properties: BasicProperties(deliveryMode: 2))
        }
        await connection.close()
    }

    /// Consumes `total` messages over `clients` connections; returns the seconds it took.
    private func drain(_ total: Int, group: any EventLoopGroup) async throws -> Double {
        let start = ContinuousClock.now
        let counter = DrainCounter(total: total)
        let connections = OpenConnections()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for client in 0..<clients {
                let hosts = addresses(startingAt: client)
                tasks.addTask { [self] in
                    let connection = try await AMQPConnection.connect(hosts: hosts, on: group)
                    connections.add(connection)
                    do {
                        let channel = try await connection.openChannel()
                        try await channel.qos(prefetchCount: UInt16(clamping: prefetch))
                        var sinceAck = 0
                        for try await delivery in try await channel.consume(queue: queue) {
                            sinceAck += 1
                            let done = counter.take()
                            if sinceAck >= prefetch / 4 || done {
                                try await channel.ack(deliveryTag: delivery.deliveryTag, multiple: true)
                                sinceAck = 0
                            }
                            if done { break }
                        }
                    } catch where counter.isDone {
                        // Another consumer took the last message and closed this connection.
                    }
                    await connection.close()
                }
            }
            // The consumer that takes the last message ends first; the others wait on an
            // empty queue until their connections are closed.
            try await tasks.next()
            await connections.closeAll()
            try await tasks.waitForAll()
        }
        let elapsed = seconds(since: start)
        let connection = try await AMQPConnection.connect(hosts: nodes.map(\.amqp), on: group)
        _ = try? await connection.openChannel().queueDelete(queue)
        await connection.close()
        return elapsed
    }

    // MARK: Catch-up and restart

    /// Stops a follower, publishes `catchUp` messages, starts it again and times until it
    /// has applied what the leader had, while a publisher goes on.
    private func measureCatchUp(group: any EventLoopGroup) async throws {
        let leader = try await leaderStatus(group)
        guard let follower = nodes.first(where: { $0.id(group) != leader.id }) else { return }
        say("stopping node \(follower.number), publishing \(catchUp) more...")
        try follower.script("kill")
        _ = try await publish(count: catchUp, group: group)
        let target = try await leaderStatus(group).appliedIndex
        let started = ContinuousClock.now
        try follower.script("restart")
        // Publishing goes on until the follower caught up; then its connections close before
        // anything else is measured (and before the event loops they run on shut down).
        let keepPublishing = Task { [self] in try await publish(count: 1_000_000_000, group: group) }
        var caughtUp = false
        while seconds(since: started) < 600 {
            if let status = try? await follower.status(group).node(), status.appliedIndex >= target {
                caughtUp = true
                break
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        keepPublishing.cancel()
        _ = await keepPublishing.result
        guard caughtUp else {
            say("node \(follower.number) did not catch up within 600 s")
            return
        }
        say(String(format: "node %d caught up (applied %d) %.1f s after its restart, with publishing going on", follower.number, target, seconds(since: started)))
    }

    /// Stops a follower (SIGKILL) and times its restart until it answers as a member again.
    private func measureRestart(group: any EventLoopGroup) async throws {
        let leader = try await leaderStatus(group)
        guard let node = nodes.last(where: { $0.id(group) != leader.id }) else { return }
        try node.script("kill")
        let started = ContinuousClock.now
        try node.script("restart")
        while (try? await node.status(group).node()) == nil {
            guard seconds(since: started) < 120 else {
                say("node \(node.number) did not answer within 120 s of its restart")
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        say(String(format: "node %d serves again %.2f s after it was started with the backlog stored", node.number, seconds(since: started)))
    }

    private func leaderStatus(_ group: any EventLoopGroup) async throws -> NodeStatus {
        for node in nodes {
            if let status = try? await node.status(group).node(), let leader = status.leader,
                let answer = try? await nodes[Int(leader) - 1].status(group).node()
            {
                return answer
            }
        }
        throw ValidationError("no leader answers on the local cluster")
    }

    private func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}

/// One node of the local cluster, as `Cluster/common.sh` lays it out: node N serves AMQP on
/// 5671 + N and HTTP on 15671 + N, keeps its data in data/node-N and its pid in data/node-N.pid.
private struct LocalNode {
    let number: Int
    let cluster: String

    var amqp: (host: String, port: Int) { ("127.0.0.1", 5671 + number) }

    func status(_ group: any EventLoopGroup) -> StatusClient {
        StatusClient(host: "127.0.0.1", port: 15671 + number, on: group)
    }

    /// Node N's id is N in the local cluster.
    func id(_ group: any EventLoopGroup) -> UInt64 { UInt64(number) }

    var pid: pid_t? {
        guard let text = ResourceReadings.smallFile(cluster + "/data/node-\(number).pid") else { return nil }
        return pid_t(text.filter(\.isNumber))
    }

    var residentBytes: UInt64 {
        guard let pid else { return 0 }
        return ResourceReadings.residentBytes(process: "\(pid)")
    }

    /// The bytes its data directory takes on disk (blocks in use, holes excluded).
    var dataBytes: Int { ResourceFiles.diskUsage(cluster + "/data/node-\(number)") }

    /// Runs `Cluster/<name> N`.
    func script(_ name: String) throws {
        var child: pid_t = 0
        let path = cluster + "/" + name
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), strdup(String(number)), nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawn(&child, path, nil, nil, argv, environ) == 0 else { throw ValidationError("cannot run \(path)") }
        var status: Int32 = 0
        waitpid(child, &status, 0)
        guard status == 0 else { throw ValidationError("\(path) \(number) failed") }
    }
}

/// The drain's consumer connections, for the one that finishes to close the others.
private final class OpenConnections: Sendable {
    private let connections = Synchronization.Mutex<[AMQPConnection]>([])

    func add(_ connection: AMQPConnection) { connections.withLock { $0.append(connection) } }

    func closeAll() async {
        for connection in connections.withLock({ $0 }) { await connection.close() }
    }
}

/// Counts deliveries down across consumers.
private final class DrainCounter: Sendable {
    private let left: Synchronization.Mutex<Int>

    init(total: Int) { left = Synchronization.Mutex(total) }

    var isDone: Bool { left.withLock { $0 <= 0 } }

    /// Counts one; true for the last.
    func take() -> Bool {
        left.withLock { left in
            left -= 1
            return left <= 0
        }
    }
}

private enum ResourceFiles {
    /// Blocks in use below a directory, one level of subdirectories deep at most three.
    static func diskUsage(_ path: String, depth: Int = 0) -> Int {
        var info = stat()
        guard lstat(path, &info) == 0 else { return 0 }
        var total = Int(info.st_blocks) * 512
        guard (info.st_mode & S_IFMT) == S_IFDIR, depth < 4, let directory = opendir(path) else { return total }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != ".", name != ".." { total += diskUsage(path + "/" + name, depth: depth + 1) }
        }
        return total
    }
}

/// Writes a line to standard output at once, also into a file or a pipe (where `print`
/// waits for its buffer to fill): the phases take minutes.
private func say(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { bytes in _ = Glibc.write(1, bytes.baseAddress, bytes.count) }
}
