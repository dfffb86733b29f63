import Broker
import Glibc
import Log
import LogCrashSupport
import Node
import Raft
import XCTest

/// A child process writes through a durable one-node group and prints every entry as soon as
/// it is acknowledged; we SIGKILL it at random moments, check that everything it ever
/// acknowledged is on disk, intact and in order, and start it again on the same directory.
final class CrashLoopTests: XCTestCase {
    static let cycles = 200

    func testEveryAcknowledgedEntrySurvivesRepeatedKills() throws {
        let writer = try Self.writerExecutable()
        let directory = "/tmp/berth-crash-loop-\(getpid())"
        defer { removeTree(directory) }
        var random = SeededGenerator(seed: 0xC0FFEE)
        var acknowledged: [(index: LogIndex, value: UInt64)] = []
        var killedBeforeReady = 0
        let start = monotonicSeconds()

        for cycle in 0..<Self.cycles {
            // Now and then kill during startup and recovery, otherwise while writing.
            let earlyKill = Int.random(in: 0..<10, using: &random) == 0
            let delay = earlyKill ? Double.random(in: 0...0.004, using: &random) : Double.random(in: 0.002...0.030, using: &random)
            let run = try runUntilKilled(writer, arguments: [directory, String(cycle + 1)], delayAfterReady: earlyKill ? nil : delay, delayAfterStart: delay)
            if !run.becameReady { killedBeforeReady += 1 }
            acknowledged.append(contentsOf: run.acknowledged)
            try verify(directory: directory, acknowledged: acknowledged, cycle: cycle)
        }
        let seconds = monotonicSeconds() - start
        XCTAssertGreaterThan(acknowledged.count, Self.cycles * 10, "the writer barely wrote anything")
        print("crash loop: \(Self.cycles) kill cycles, \(acknowledged.count) acknowledged entries verified after every kill, \(killedBeforeReady) kills during recovery, \(Int(seconds * 1000)) ms")
    }

    /// The same kills with several groups over one shared write-ahead log: their records
    /// interleave in its segments, each group's snapshots void and compact its own, and the
    /// oldest segments go only once no group needs them. After every kill, each group holds
    /// everything it acknowledged.
    func testEveryAcknowledgedEntryOfGroupsSharingOneLogSurvivesRepeatedKills() throws {
        let writer = try Self.writerExecutable()
        let directory = "/tmp/berth-shared-log-crash-loop-\(getpid())"
        defer { removeTree(directory) }
        var random = SeededGenerator(seed: 0x5A4ED)
        var acknowledged: [UInt64: [(index: LogIndex, value: UInt64)]] = [:]
        let start = monotonicSeconds()
        for cycle in 0..<Self.sharedLogCycles {
            let delay = Double.random(in: 0.002...0.040, using: &random)
            let run = try runUntilKilled(writer, arguments: [directory, String(cycle + 1), "groups"], delayAfterReady: delay, delayAfterStart: delay)
            acknowledged.merge(run.acknowledgedByGroup) { $0 + $1 }
            let log = try WriteAheadLog.open(dataDirectory: directory, options: CrashLoopSettings.logOptions)
            for id in CrashLoopSettings.sharedLogGroupIDs {
                let (_, recovery) = try DurableStorage.open(dataDirectory: directory, groupID: id, log: log, options: CrashLoopSettings.storageOptions)
                verify(recovery, acknowledged: acknowledged[id] ?? [], cycle: cycle, group: id)
            }
        }
        let counts = CrashLoopSettings.sharedLogGroupIDs.map { acknowledged[$0]?.count ?? 0 }
        for (id, count) in zip(CrashLoopSettings.sharedLogGroupIDs, counts) {
            XCTAssertGreaterThan(count, CrashLoopSettings.groupOptions.snapshotEveryEntries, "group \(id) never wrote enough to snapshot")
        }
        let segments = try FileSystem.list(WriteAheadLog.directory(dataDirectory: directory)).filter { $0.hasSuffix(".seg") }.sorted()
        XCTAssertNotEqual(segments.first, "wal-00000000000000000001.seg", "no segment was ever deleted: compaction across the groups never freed one")
        print("shared log crash loop: \(segments.count) segments left, \(Self.sharedLogCycles) kill cycles, acknowledged entries per group \(counts), verified after every kill, \(Int((monotonicSeconds() - start) * 1000)) ms")
    }

    static let sharedLogCycles = 50

    /// The message store under the same kills: a broker group publishes and settles, and
    /// after each kill the store's bytes that no snapshot covers yet are torn (cut short or
    /// overwritten), as a crash may leave writes that were never synced. Restarted, the group
    /// holds every message whose publish was acknowledged and whose settlement was not,
    /// oldest first, each record intact, and none whose settlement was acknowledged.
    func testEveryAcknowledgedMessageSurvivesRepeatedKillsAndTornStoreWrites() throws {
        let writer = try Self.writerExecutable()
        let directory = "/tmp/berth-store-crash-loop-\(getpid())"
        defer { removeTree(directory) }
        var random = SeededGenerator(seed: 0x5709E)
        var published: Set<UInt64> = []
        var settled: Set<UInt64> = []
        var tornFiles = 0
        let start = monotonicSeconds()
        for cycle in 0..<Self.storeCycles {
            let delay = Double.random(in: 0.020...0.250, using: &random)
            let run = try runUntilKilled(writer, arguments: [directory, String(cycle + 1), "store"], delayAfterReady: delay, delayAfterStart: delay)
            published.formUnion(run.published)
            settled.formUnion(run.settled)
            if Int.random(in: 0..<2, using: &random) == 0 { tornFiles += try tearUnsnapshottedStore(directory: directory, random: &random) }
            try verifyStore(directory: directory, published: published, settled: settled, cycle: cycle)
        }
        XCTAssertGreaterThan(settled.count, Self.storeCycles * 10, "the writer barely settled anything")
        XCTAssertGreaterThan(tornFiles, Self.storeCycles / 4, "the store was barely torn")
        print("store crash loop: \(Self.storeCycles) kill cycles, \(published.count) messages published, \(settled.count) settled, \(tornFiles) segment files torn, \(Int((monotonicSeconds() - start) * 1000)) ms")
    }

    static let storeCycles = 100

    /// Cuts short or overwrites store bytes at or past the cursor of the latest snapshot's
    /// state: records no snapshot refers to yet. Returns how many files it tore.
    private func tearUnsnapshottedStore(directory: String, random: inout SeededGenerator) throws -> Int {
        let (storage, recovery) = try DurableStorage.open(
            dataDirectory: directory, groupID: CrashLoopSettings.groupID, options: CrashLoopSettings.storageOptions)
        var state = BrokerState(limits: StoreCrashLoop.limits)
        if let snapshot = recovery.snapshot?.snapshot { try state.restore(from: snapshot.data) }
        let cursors = state.storeCursors
        let segmentBytes = UInt64(StoreCrashLoop.limits.storeSegmentBytes)
        let storesDirectory = MessageStore.storesDirectory(groupDirectory: storage.directory)
        try storage.close()
        var torn = 0
        for storeName in try FileSystem.list(storesDirectory) {
            guard let store = UInt64(storeName) else { continue }
            let cursor = cursors[store] ?? 0
            for file in try FileSystem.list(storesDirectory + "/" + storeName) {
                guard file.hasSuffix(".seg"), let segment = UInt64(file.dropLast(4)) else { continue }
                let path = storesDirectory + "/" + storeName + "/" + file
                var info = stat()
                guard stat(path, &info) == 0 else { continue }
                let fileStart = segment * segmentBytes
                let fileEnd = fileStart + UInt64(info.st_size)
                // Only bytes at or past the cursor; a file cut to nothing has none.
                guard fileEnd > max(cursor, fileStart) else { continue }
                let from = max(cursor, fileStart) - fileStart
                let descriptor = open(path, O_WRONLY)
                guard descriptor >= 0 else { continue }
                defer { close(descriptor) }
                let span = UInt64(info.st_size) - from
                if Bool.random(using: &random) {
                    XCTAssertEqual(ftruncate(descriptor, off_t(from + UInt64.random(in: 0..<span, using: &random))), 0)
                } else {
                    let garbage = (0..<min(span, 4_096)).map { _ in UInt8.random(in: 0...255, using: &random) }
                    let at = from + UInt64.random(in: 0...(span - UInt64(garbage.count)), using: &random)
                    XCTAssertEqual(pwrite(descriptor, garbage, garbage.count, off_t(at)), garbage.count)
                }
                torn += 1
            }
        }
        return torn
    }

    private func verifyStore(directory: String, published: Set<UInt64>, settled: Set<UInt64>, cycle: Int) throws {
        let (group, storage) = try StoreCrashLoop.open(directory: directory, seed: UInt64(cycle) + 1)
        defer { try? storage.close() }
        let queued = StoreCrashLoop.queuedValues(in: group.machine)
        let values = queued.compactMap { $0 }
        guard values.count == queued.count else { return XCTFail("cycle \(cycle): \(queued.count - values.count) queued records are damaged or missing") }
        XCTAssertEqual(values, values.sorted(), "cycle \(cycle): messages out of order")
        XCTAssertEqual(Set(values).count, values.count, "cycle \(cycle): a message is queued twice")
        let present = Set(values)
        let wronglyPresent = present.intersection(settled)
        XCTAssertTrue(wronglyPresent.isEmpty, "cycle \(cycle): \(wronglyPresent.count) messages whose settlement was acknowledged are queued, e.g. \(wronglyPresent.min() ?? 0)")
        // Settlements take the oldest messages, so one that was settled without being
        // acknowledged is older than everything still queued.
        let missing = published.subtracting(settled).subtracting(present)
        if let newestMissing = missing.max() {
            XCTAssertLessThan(newestMissing, values.first ?? 0, "cycle \(cycle): acknowledged message \(newestMissing) is lost (\(missing.count) missing)")
        }
        if let newestPublished = published.max() {
            XCTAssertGreaterThanOrEqual(values.last ?? 0, newestPublished, "cycle \(cycle): the newest acknowledged message is lost")
        }
    }

    private func verify(directory: String, acknowledged: [(index: LogIndex, value: UInt64)], cycle: Int) throws {
        let (_, recovery) = try DurableStorage.open(
            dataDirectory: directory, groupID: CrashLoopSettings.groupID, options: CrashLoopSettings.storageOptions)
        verify(recovery, acknowledged: acknowledged, cycle: cycle)
    }

    /// Everything acknowledged is there, at its index, with its exact bytes, values in order.
    private func verify(_ recovery: DurableStorage.Recovery, acknowledged: [(index: LogIndex, value: UInt64)], cycle: Int, group: UInt64 = CrashLoopSettings.groupID) {
        var machine = ValueRuns()
        if let snapshot = recovery.snapshot?.snapshot {
            do { try machine.restore(from: snapshot.data) } catch { return XCTFail("cycle \(cycle), group \(group): the snapshot does not restore: \(error)") }
        }
        var byIndex: [LogIndex: UInt64] = [:]
        var previousValue = machine.lastValue
        for entry in recovery.state.entries where entry.kind == .normal {
            guard let value = ValueRuns.value(in: entry.data) else {
                return XCTFail("cycle \(cycle), group \(group): entry \(entry.index) is damaged")
            }
            // Values continue one by one; a value may repeat only where an unacknowledged
            // tail was lost and rewritten, and then only past every acknowledged one.
            XCTAssertLessThanOrEqual(value, previousValue + 1, "cycle \(cycle), group \(group): entry \(entry.index) skips from \(previousValue) to \(value)")
            previousValue = value
            byIndex[entry.index] = value
        }
        for (index, value) in acknowledged {
            let found = byIndex[index] ?? (machine.index(of: value) == index ? value : nil)
            if found != value {
                return XCTFail("cycle \(cycle), group \(group): acknowledged value \(value) at \(index) is missing (found \(found.map(String.init) ?? "nothing"))")
            }
        }
        XCTAssertTrue(recovery.warnings.isEmpty, "cycle \(cycle), group \(group): \(recovery.warnings)")
    }

    // MARK: The child process

    private struct Run {
        var becameReady = false
        var acknowledged: [(index: LogIndex, value: UInt64)] = []
        /// The store writer's acknowledged publishes and settlements, by value.
        var published: [UInt64] = []
        var settled: [UInt64] = []
        /// The `groups` writer's acknowledged entries, by group.
        var acknowledgedByGroup: [UInt64: [(index: LogIndex, value: UInt64)]] = [:]
    }

    /// Starts the writer and SIGKILLs it `delayAfterReady` seconds after it reports ready
    /// (or `delayAfterStart` after it starts, when nil). Returns what it acknowledged.
    private func runUntilKilled(_ executable: String, arguments: [String], delayAfterReady: Double?, delayAfterStart: Double) throws -> Run {
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { throw POSIXFailure(call: "pipe") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        posix_spawn_file_actions_addclose(&actions, pipeEnds[0])
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        close(pipeEnds[1])
        guard spawned == 0 else {
            close(pipeEnds[0])
            throw POSIXFailure(call: "posix_spawn")
        }
        let output = pipeEnds[0]
        defer { close(output) }

        var run = Run()
        var pending: [UInt8] = []
        let started = monotonicSeconds()
        var killAt = started + (delayAfterReady == nil ? delayAfterStart : 10)
        let hardDeadline = started + 20
        var killed = false
        func consume(_ bytes: ArraySlice<UInt8>) {
            pending.append(contentsOf: bytes)
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                let fields = line.split(separator: " ")
                if fields.first == "ready" {
                    run.becameReady = true
                    if let delay = delayAfterReady { killAt = monotonicSeconds() + delay }
                } else if fields.count == 2, fields[0] == "p", let value = UInt64(fields[1]) {
                    run.published.append(value)
                } else if fields.count == 2, fields[0] == "s", let value = UInt64(fields[1]) {
                    run.settled.append(value)
                } else if fields.count == 4, fields[0] == "g", let group = UInt64(fields[1]), let index = LogIndex(fields[2]), let value = UInt64(fields[3]) {
                    run.acknowledgedByGroup[group, default: []].append((index, value))
                } else if fields.count == 2, let index = LogIndex(fields[0]), let value = UInt64(fields[1]) {
                    run.acknowledged.append((index, value))
                }
            }
        }
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let now = monotonicSeconds()
            if !killed, now >= killAt || now >= hardDeadline {
                kill(pid, SIGKILL)
                killed = true
            }
            var poller = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            let waitMilliseconds = killed ? 100 : max(0, Int32((killAt - now) * 1000))
            guard poll(&poller, 1, waitMilliseconds) >= 0 || errno == EINTR else { throw POSIXFailure(call: "poll") }
            guard poller.revents != 0 else { continue }
            let n = read(output, &buffer, buffer.count)
            if n <= 0 { break }  // the writer is gone and the pipe is drained
            consume(buffer[..<n])
        }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let signalled = (status & 0x7f) == SIGKILL
        XCTAssertTrue(signalled, "the writer ended by itself (status \(status)) instead of being killed")
        return run
    }

    private static func writerExecutable() throws -> String {
        // Test bundles and executables are built side by side.
        let bundleDirectory = (CommandLine.arguments[0] as NSString).deletingLastPathComponent
        let path = bundleDirectory + "/log-crash-writer"
        guard access(path, X_OK) == 0 else { throw POSIXFailure(call: "access \(path): log-crash-writer must be built next to the tests") }
        return path
    }

    private struct POSIXFailure: Error {
        var call: String
        var code = errno
    }
}

func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

func removeTree(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}
