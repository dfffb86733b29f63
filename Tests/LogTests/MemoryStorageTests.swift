import Raft
import XCTest

@testable import Log

/// `MemoryStorage`, the simulator's disk: what a crash keeps, and that it recovers the
/// same state `DurableStorage` does for the same writes.
final class MemoryStorageTests: LogTestCase {
    func testCrashKeepsSyncedDataAndAPrefixOfTheUnsyncedWrites() throws {
        let all = makeEntries(1...40, term: 1, dataBytes: 8, seed: 60)
        let syncedState = HardState(term: 1, vote: 1, commit: 5)
        let unsyncedState = HardState(term: 2, vote: 2, commit: 30)
        var outcomes: [String: Int] = [:]
        for seed in UInt64(0)..<300 {
            let storage = MemoryStorage()
            try storage.append(Array(all[0..<20]))
            try storage.setHardState(syncedState)
            try storage.sync()
            try storage.append(Array(all[20..<30]))
            try storage.append(Array(all[30..<40]))
            try storage.setHardState(unsyncedState)
            var random = SeededGenerator(seed: seed)
            let note = storage.crash(random: &random)

            let recovered = storage.recover()
            let kept = recovered.entries.count
            XCTAssertGreaterThanOrEqual(kept, 20, "synced entries survive (\(note))")
            XCTAssertEqual(recovered.entries, Array(all[..<kept]), "a prefix of what was written (\(note))")
            XCTAssertNil(recovered.snapshot)
            if recovered.hardState == unsyncedState {
                XCTAssertEqual(kept, 40, "the hard state was written last: everything before it survived (\(note))")
            } else {
                XCTAssertEqual(recovered.hardState, syncedState, note)
            }
            let outcome = kept == 20 ? "all lost" : kept == 40 ? "all kept" : kept == 30 ? "whole writes kept" : "torn"
            outcomes[outcome, default: 0] += 1

            // The storage goes on from what survived.
            let next = Entry(term: 3, index: LogIndex(kept + 1))
            try storage.append([next])
            try storage.sync()
            XCTAssertEqual(storage.recover().entries, Array(all[..<kept]) + [next])
        }
        XCTAssertEqual(Set(outcomes.keys), ["all lost", "all kept", "whole writes kept", "torn"], "\(outcomes)")
    }

    func testCrashDuringAConflictingAppendKeepsOldOrAPrefixOfNew() throws {
        let old = makeEntries(1...50, term: 1, dataBytes: 8, seed: 61)
        let new = makeEntries(40...45, term: 2, dataBytes: 8, seed: 62)
        var tornSeen = false
        for seed in UInt64(0)..<100 {
            let storage = MemoryStorage()
            try storage.append(old)
            try storage.sync()
            try storage.append(new)
            var random = SeededGenerator(seed: seed)
            _ = storage.crash(random: &random)
            let entries = storage.recover().entries
            if entries == old { continue }
            let survived = entries.count - 39
            XCTAssertTrue((1...6).contains(survived), "\(entries.count)")
            XCTAssertEqual(entries, Array(old[..<39]) + Array(new[..<max(0, survived)]))
            if survived < 6 { tornSeen = true }
        }
        XCTAssertTrue(tornSeen)
    }

    /// Groups on one disk share its syncs and its crashes, as they share the write-ahead
    /// log: one group's sync makes the other's writes durable, and a crash keeps a prefix of
    /// the writes of both in the order they were made.
    func testGroupsOnOneDiskShareItsSyncsAndCrashes() throws {
        let first = makeEntries(1...10, term: 1, dataBytes: 8, seed: 65)
        let second = makeEntries(1...10, term: 1, dataBytes: 8, seed: 66)
        do {
            let disk = MemoryDisk()
            let (a, b) = (disk.storage(group: 1), disk.storage(group: 2))
            try b.append(second)
            try a.append(first)
            try a.sync()
            var random = SeededGenerator(seed: 67)
            _ = disk.crash(random: &random)
            XCTAssertEqual(b.recover().entries, second, "group 1's sync made group 2's earlier write durable")
        }
        var outcomes: Set<String> = []
        for seed in UInt64(0)..<100 {
            let disk = MemoryDisk()
            let (a, b) = (disk.storage(group: 1), disk.storage(group: 2))
            try a.append(Array(first[..<5]))
            try b.append(Array(second[..<5]))
            try a.append(Array(first[5...]))
            var random = SeededGenerator(seed: seed)
            _ = disk.crash(random: &random)
            let (keptA, keptB) = (a.recover().entries.count, b.recover().entries.count)
            // The writes were a[..<5], b[..<5], a[5...]: whatever survives is a prefix of that.
            if keptB > 0 { XCTAssertEqual(keptA >= 5, true, "seed \(seed): group 2's write survived, group 1's earlier one did not") }
            if keptA > 5 { XCTAssertEqual(keptB, 5, "seed \(seed): group 1's last write survived, group 2's earlier one did not") }
            outcomes.insert("\(keptA)/\(keptB)")
        }
        XCTAssertGreaterThan(outcomes.count, 3, "crashes kept different prefixes: \(outcomes.sorted())")
    }

    func testCrashAfterSyncLosesNothing() throws {
        let storage = MemoryStorage()
        let entries = makeEntries(1...10, term: 1, seed: 63)
        try storage.append(entries)
        try storage.setHardState(HardState(term: 1, vote: 1, commit: 10))
        try storage.saveSnapshot(snapshot(index: 5, term: 1), compactTo: 5)
        try storage.sync()
        var random = SeededGenerator(seed: 64)
        _ = storage.crash(random: &random)
        let recovered = storage.recover()
        XCTAssertEqual(recovered.entries, Array(entries[5...]))
        XCTAssertEqual(storage.snapshot, snapshot(index: 5, term: 1))
        XCTAssertEqual(recovered.snapshot?.metadata, snapshot(index: 5, term: 1).metadata)
        XCTAssertEqual(recovered.hardState, HardState(term: 1, vote: 1, commit: 10))
    }

    /// The same seeded sequence of appends (with conflicting suffixes), hard states, own
    /// snapshots with compaction and leader snapshots goes to both storages; without a
    /// crash both recover the same entries, hard state and snapshot.
    func testRecoverMatchesDurableStorageForTheSameWrites() throws {
        for seed in UInt64(70)..<73 {
            removeStorage()
            var random = SeededGenerator(seed: seed)
            let memory = MemoryStorage()
            var durableOptions = DurableStorage.Options()
            durableOptions.segmentBytesMax = 2048
            let (durable, _) = try DurableStorage.open(dataDirectory: root, groupID: groupID, options: durableOptions)
            let storages: [any RaftStorage] = [memory, durable]

            var log: [LogIndex: Entry] = [:]
            var last: LogIndex = 0
            var snapshotIndex: LogIndex = 0
            var term: Term = 1
            var hardState = HardState(term: 1)
            var operations: [String: Int] = [:]
            for _ in 0..<80 {
                let roll = Int.random(in: 0..<100, using: &random)
                let floor = max(snapshotIndex, hardState.commit)
                if roll < 45 || last == 0 {
                    let count = LogIndex.random(in: 1...15, using: &random)
                    let entries = makeEntries(last + 1...last + count, term: term, sizes: 0...300, random: &random)
                    for storage in storages { try storage.append(entries) }
                    for entry in entries { log[entry.index] = entry }
                    last = entries.last!.index
                    operations["append", default: 0] += 1
                } else if roll < 60, last > floor {
                    term += 1
                    let start = LogIndex.random(in: floor + 1...last, using: &random)
                    let extra = LogIndex.random(in: 0...12, using: &random)
                    let entries = makeEntries(start...start + extra, term: term, sizes: 0...300, random: &random)
                    for storage in storages { try storage.append(entries) }
                    for index in start...max(last, entries.last!.index) { log[index] = nil }
                    for entry in entries { log[entry.index] = entry }
                    last = entries.last!.index
                    operations["conflict", default: 0] += 1
                } else if roll < 75 {
                    if Bool.random(using: &random) {
                        term += 1
                        hardState.term = term
                        hardState.vote = Bool.random(using: &random) ? NodeID.random(in: 1...5, using: &random) : nil
                    }
                    hardState.commit = LogIndex.random(in: hardState.commit...max(hardState.commit, last), using: &random)
                    for storage in storages { try storage.setHardState(hardState) }
                    operations["hard state", default: 0] += 1
                } else if roll < 92, last > snapshotIndex {
                    let index = LogIndex.random(in: snapshotIndex + 1...last, using: &random)
                    let dataBytes = Int.random(in: 0...200, using: &random)
                    let own = snapshot(index: index, term: log[index]!.term, data: random.bytes(dataBytes))
                    let compactTo = LogIndex.random(in: (index > 20 ? index - 20 : 0)...index, using: &random)
                    for storage in storages { try storage.saveSnapshot(own, compactTo: compactTo) }
                    snapshotIndex = index
                    operations["save snapshot", default: 0] += 1
                } else if roll >= 92 {
                    term += 1
                    let index = LogIndex.random(in: snapshotIndex + 1...last + 30, using: &random)
                    let received = snapshot(index: index, term: term, data: random.bytes(100), voters: [1, 2, 3, 4])
                    for storage in storages { try storage.installSnapshot(received) }
                    log = [:]
                    last = index
                    snapshotIndex = index
                    operations["install snapshot", default: 0] += 1
                }
                if Int.random(in: 0..<10, using: &random) < 7 {
                    for storage in storages { try storage.sync() }
                }
            }
            // Both write a commit-only change lazily; a clean close writes it.
            try memory.close()
            try durable.close()
            XCTAssertEqual(operations.count, 5, "every kind of write was made: \(operations)")

            let (_, recovery) = try DurableStorage.open(dataDirectory: root, groupID: groupID, options: durableOptions)
            let remembered = memory.recover()
            XCTAssertEqual(recovery.state.entries, remembered.entries, "seed \(seed)")
            XCTAssertEqual(recovery.state.hardState, remembered.hardState, "seed \(seed)")
            XCTAssertEqual(recovery.snapshot?.snapshot, memory.snapshot, "seed \(seed)")
            XCTAssertEqual(recovery.state.snapshot?.metadata, remembered.snapshot?.metadata, "seed \(seed)")
            XCTAssertEqual(recovery.warnings, [])
            // And both hold what the writes say.
            XCTAssertEqual(remembered.hardState, hardState)
            XCTAssertEqual(remembered.snapshot?.metadata.index ?? 0, snapshotIndex)
            XCTAssertEqual(remembered.entries, (snapshotIndex + 1...max(snapshotIndex + 1, last)).compactMap { log[$0] })
        }
    }
}
