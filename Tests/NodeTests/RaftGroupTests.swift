import Log
import LogCrashSupport
import Node
import Raft
import XCTest

/// A durable one-node group: group commit, snapshots at the threshold, and a restart that
/// recovers exactly the acknowledged state from snapshot plus log.
final class RaftGroupTests: XCTestCase {
    private var directory = ""

    override func setUp() {
        directory = "/tmp/berth-raftgroup-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    }

    override func tearDown() {
        removeTree(directory)
    }

    /// Counts syncs and passes everything else to the real storage.
    private final class CountingStorage: RaftStorage {
        let inner: DurableStorage
        var syncs = 0
        var appendedEntries = 0
        init(_ inner: DurableStorage) { self.inner = inner }
        func append(_ entries: [Entry]) throws(LogError) {
            appendedEntries += entries.count
            try inner.append(entries)
        }
        func setHardState(_ state: HardState, commitMustBeDurable: Bool) throws(LogError) {
            try inner.setHardState(state, commitMustBeDurable: commitMustBeDurable)
        }
        func installSnapshot(_ encoded: EncodedSnapshot) throws(LogError) { try inner.installSnapshot(encoded) }
        func saveSnapshot(_ encoded: EncodedSnapshot, compactTo: LogIndex) throws(LogError) {
            events.append("snapshot saved")
            try inner.saveSnapshot(encoded, compactTo: compactTo)
        }
        /// What the storage and the machine above it did, in order.
        var events: [String] = []
        func sync() throws(LogError) {
            syncs += 1
            try inner.sync()
        }
        func compactLog(through index: LogIndex) throws(LogError) { try inner.compactLog(through: index) }
        func entries(in range: ClosedRange<LogIndex>, bytesMax: Int) throws(LogError) -> [Entry]? {
            try inner.entries(in: range, bytesMax: bytesMax)
        }
        func close() throws(LogError) { try inner.close() }
    }

    private func openGroup(options: RaftGroup<ValueRuns>.Options = RaftGroup<ValueRuns>.Options()) throws -> (RaftGroup<ValueRuns>, CountingStorage) {
        let (storage, recovery) = try DurableStorage.open(dataDirectory: directory, groupID: 7)
        let counting = CountingStorage(storage)
        let group = try RaftGroup(
            config: Config(id: 1, randomSeed: 42), storage: counting, recovered: recovery.state, snapshot: recovery.snapshot?.snapshot, machine: ValueRuns(),
            bootstrapVoters: [1], options: options)
        XCTAssertTrue(try group.campaignAlone())
        return (group, counting)
    }

    private func proposeValues(_ group: RaftGroup<ValueRuns>, count: UInt64) throws {
        let next = group.machine.lastValue + 1
        try group.propose((next..<next + count).map { ValueRuns.payload(value: $0) })
    }

    func testProposalsMadeTogetherShareOneSync() throws {
        let (group, storage) = try openGroup()
        let syncsBefore = storage.syncs
        for batch in UInt64(0)..<10 {
            // Not yet applied: the values follow on from what was proposed.
            try group.propose((batch * 50 + 1...batch * 50 + 50).map { ValueRuns.payload(value: $0) })
        }
        let applied = try group.process()
        XCTAssertEqual(applied.count, 500)
        XCTAssertEqual(storage.syncs - syncsBefore, 1, "500 entries, one fdatasync")
    }

    func testRestartRecoversExactlyTheAcknowledgedStateFromSnapshotAndLog() throws {
        var options = RaftGroup<ValueRuns>.Options()
        options.snapshotEveryEntries = 300
        options.entriesRetainedAfterSnapshot = 20
        let before: ValueRuns
        do {
            let (group, _) = try openGroup(options: options)
            for _ in 0..<25 {
                try proposeValues(group, count: 40)
                try group.process()
            }
            XCTAssertEqual(group.machine.lastValue, 1_000)
            XCTAssertGreaterThan(group.core.firstIndex, 300, "the log was compacted behind a snapshot")
            before = group.machine
        }
        let (restarted, _) = try openGroup(options: options)
        XCTAssertEqual(restarted.machine, before, "snapshot plus log give back every acknowledged value at its index")
        try proposeValues(restarted, count: 1)
        try restarted.process()
        XCTAssertEqual(restarted.machine.lastValue, 1_001)
    }

    func testSnapshotIsTakenOnceTheLogPassesTheByteThreshold() throws {
        var options = RaftGroup<ValueRuns>.Options()
        options.snapshotEveryBytes = 16 << 10
        options.entriesRetainedAfterSnapshot = 0
        let (group, _) = try openGroup(options: options)
        XCTAssertEqual(group.core.firstIndex, 1)
        while group.core.firstIndex == 1 {
            try proposeValues(group, count: 8)
            try group.process()
            XCTAssertLessThan(group.machine.lastValue, 10_000, "no snapshot after far more than 16 KiB")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory + "/group-7")
        XCTAssertEqual(names.filter { $0.hasSuffix(".snap") }.count, 1)
    }

    /// No snapshot may be captured while a Ready is outstanding: a shell's timer (the
    /// time-based snapshot) could otherwise capture one while a Ready installs a snapshot
    /// from the leader, its log already past what the machine applied.
    func testASnapshotMayBeCapturedOnlyBetweenAdvanceAndTheNextReady() throws {
        let (group, storage) = try openGroup()
        XCTAssertTrue(group.mayCaptureSnapshot)
        try proposeValues(group, count: 3)
        let ready = try XCTUnwrap(group.nextReady())
        XCTAssertFalse(group.mayCaptureSnapshot, "a Ready is outstanding")
        try storage.persist(ready)
        _ = group.apply(ready)
        XCTAssertFalse(group.mayCaptureSnapshot, "applied, not yet advanced")
        group.advance(ready)
        XCTAssertTrue(group.mayCaptureSnapshot)
    }

    /// Nor while a snapshot from the leader, received whole while a Ready was out, waits
    /// for the Ready that installs it: the log then starts past what the machine applied.
    func testNoSnapshotIsCapturedWhileOneFromTheLeaderAwaitsInstall() throws {
        let (storage, recovery) = try DurableStorage.open(dataDirectory: directory, groupID: 7)
        let group = try RaftGroup(
            config: Config(id: 3, randomSeed: 3), storage: storage, recovered: recovery.state, snapshot: nil, machine: ValueRuns())
        let entries = [Entry(term: 2, index: 1, kind: .membershipChange, data: Membership(voters: [1, 2, 3]).encoded())]
        group.step(Message(from: 1, to: 3, term: 2, body: .append(prevIndex: 0, prevTerm: 0, entries: entries, commit: 1)))
        let appended = try XCTUnwrap(group.nextReady())
        try storage.persist(appended)
        group.advance(appended)
        let out = try XCTUnwrap(group.nextReady())
        XCTAssertEqual(out.committedEntries.map(\.index), [1])
        let snapshot = SnapshotMetadata(index: 50, term: 2, membership: Membership(voters: [1, 2, 3]))
        group.step(Message(from: 1, to: 3, term: 2, body: .snapshotChunk(SnapshotChunk(metadata: snapshot, totalBytes: 3, offset: 0, bytes: [1, 2, 3]))))
        try storage.persist(out)
        _ = group.apply(out)
        group.advance(out)
        XCTAssertFalse(group.mayCaptureSnapshot, "the snapshot from the leader is not installed yet")

        let installing = try XCTUnwrap(group.nextReady())
        XCTAssertEqual(installing.snapshot, snapshot)
        group.installSnapshot { $0 = ValueRuns() }
        group.advance(installing)
        XCTAssertTrue(group.mayCaptureSnapshot)
        XCTAssertEqual(group.captureSnapshot().metadata, snapshot)
    }

    /// A machine that keeps every payload: its snapshot grows with what was applied.
    private struct KeepingEverything: ReplicatedStateMachine {
        var bytes: [UInt8] = []
        mutating func apply(_ entry: Entry) { bytes += entry.data }
        func capture() -> [UInt8] { bytes }
        static func snapshotData(of capture: [UInt8]) -> [UInt8] { capture }
        mutating func restore(from data: [UInt8]) throws { bytes = data }
    }

    /// For a state that keeps growing, snapshots come further apart: the log between two is
    /// at least `snapshotEveryFileMultiple` times the earlier one's file.
    func testSnapshotsOfALargerStateComeFurtherApart() throws {
        var options = RaftGroup<KeepingEverything>.Options()
        options.snapshotEveryBytes = 4 << 10
        options.snapshotEveryFileMultiple = 4
        options.entriesRetainedAfterSnapshot = 0
        let (storage, recovery) = try DurableStorage.open(dataDirectory: directory, groupID: 7)
        let group = try RaftGroup(
            config: Config(id: 1, randomSeed: 42), storage: storage, recovered: recovery.state, snapshot: nil,
            machine: KeepingEverything(), bootstrapVoters: [1], options: options)
        XCTAssertTrue(try group.campaignAlone())
        var random = SeededGenerator(seed: 9)
        // The state's size at each snapshot; random bytes, so a file is no smaller than its state.
        var sizes: [Int] = [0]
        while group.machine.bytes.count < 400 << 10 {
            try group.propose((0..<4).map { _ in (0..<256).map { _ in UInt8.random(in: 0...255, using: &random) } })
            try group.process(snapshotSaved: { sizes.append($0.state.count) })
        }
        XCTAssertGreaterThanOrEqual(sizes.count, 4, "several snapshots: \(sizes)")
        for (earlier, later) in zip(sizes.dropFirst(), sizes.dropFirst(2)) {
            XCTAssertGreaterThanOrEqual(later - earlier, 4 * earlier, "snapshots at \(sizes)")
        }
        XCTAssertLessThan(sizes[2] - sizes[1], 4 << 10 + 2_048 + 4 * sizes[1], "not later than due: \(sizes)")
    }

    /// A machine whose state refers to data outside its snapshot; it says when that data was
    /// made durable, in the storage's record of events.
    private struct ReferencingRuns: ReplicatedStateMachine {
        var runs = ValueRuns()
        let storage: CountingStorage
        mutating func apply(_ entry: Entry) { runs.apply(entry) }
        func capture() -> [ValueRuns.Run] { runs.capture() }
        static func snapshotData(of capture: [ValueRuns.Run]) -> [UInt8] { ValueRuns.snapshotData(of: capture) }
        mutating func restore(from data: [UInt8]) throws { try runs.restore(from: data) }
        func makeReferencesDurable() throws(LogError) { storage.events.append("references durable") }
    }

    /// A snapshot taken while the group persists on the calling thread (a node replaying its
    /// log at start-up) makes what the state refers to durable before the snapshot is
    /// written: the log that could rebuild it goes once the snapshot is in.
    func testReferencesAreMadeDurableBeforeEverySnapshotIsSaved() throws {
        var options = RaftGroup<ReferencingRuns>.Options()
        options.snapshotEveryEntries = 50
        let (storage, recovery) = try DurableStorage.open(dataDirectory: directory, groupID: 7)
        let counting = CountingStorage(storage)
        let group = try RaftGroup(
            config: Config(id: 1, randomSeed: 42), storage: counting, recovered: recovery.state, snapshot: nil,
            machine: ReferencingRuns(storage: counting), bootstrapVoters: [1], options: options)
        XCTAssertTrue(try group.campaignAlone())
        for round in UInt64(0)..<4 {
            try group.propose((round * 40 + 1...round * 40 + 40).map { ValueRuns.payload(value: $0) })
            try group.process()
        }
        let saved = counting.events.indices.filter { counting.events[$0] == "snapshot saved" }
        XCTAssertGreaterThanOrEqual(saved.count, 2, "160 entries past a threshold of 50")
        for index in saved {
            XCTAssertEqual(counting.events[index - 1], "references durable", "at event \(index): \(counting.events)")
        }
    }
}
