import Raft
import XCTest

@testable import Log

/// One group's log through `DurableStorage` (and `SharedSegments` where its internals are
/// what is observed): round trips, group commit, roll-over, replaced suffixes.
final class DurableLogTests: LogTestCase {
    // MARK: Round trip

    func testFreshDirectoryRecoversEmptyState() throws {
        let (_, recovery) = try openStorage()
        XCTAssertEqual(recovery.state.hardState, HardState())
        XCTAssertNil(recovery.state.snapshot)
        XCTAssertEqual(recovery.state.entries, [])
        XCTAssertEqual(recovery.warnings, [])
        XCTAssertTrue(Disk.exists(groupDirectory))
    }

    /// Entries of every kind and many sizes (empty, 1 MiB), the hard state and a snapshot
    /// come back from disk exactly as written.
    func testRoundTripEntriesHardStateAndSnapshot() throws {
        var random = SeededGenerator(seed: 1)
        var entries: [Entry] = [
            Entry(term: 1, index: 1, kind: .membershipChange, data: Membership(voters: [1, 2, 3]).encoded()),
            Entry(term: 1, index: 2, kind: .empty),
            Entry(term: 1, index: 3, kind: .normal, data: []),
            Entry(term: 2, index: 4, kind: .normal, data: random.bytes(1 << 20)),
            Entry(term: 2, index: 5, kind: .normal, data: [0]),
        ]
        for index in LogIndex(6)...80 {
            let term: Term = index < 40 ? 2 : 3
            let kind: Entry.Kind = index % 17 == 0 ? .membershipChange : (index % 13 == 0 ? .empty : .normal)
            let data = kind == .empty ? [] : random.bytes(Int.random(in: 0...5000, using: &random))
            entries.append(Entry(term: term, index: index, kind: kind, data: data))
        }
        let hardState = HardState(term: 3, vote: 2, commit: 70)
        do {
            let (storage, _) = try openStorage()
            // Batches of assorted sizes, as Readies deliver them.
            var start = 0
            while start < entries.count {
                let end = min(entries.count, start + Int.random(in: 1...9, using: &random))
                try storage.append(Array(entries[start..<end]))
                start = end
            }
            try storage.setHardState(hardState)
            try storage.sync()
        }
        do {
            let (storage, recovery) = try openStorage()
            XCTAssertEqual(recovery.state.entries, entries)
            XCTAssertEqual(recovery.state.hardState, hardState)
            XCTAssertNil(recovery.state.snapshot)
            XCTAssertEqual(recovery.warnings, [])

            let saved = snapshot(index: 30, term: 2, data: random.bytes(10_000), voters: [1, 2, 3], learners: [4])
            try storage.saveSnapshot(saved, compactTo: 0)
            try storage.close()

            let (_, reopened) = try openStorage()
            XCTAssertEqual(reopened.snapshot?.snapshot, saved)
            XCTAssertEqual(reopened.state.entries, Array(entries[30...]), "the entries after the snapshot")
            XCTAssertEqual(reopened.state.hardState, hardState)
            XCTAssertEqual(reopened.warnings, [])
        }
    }

    func testEntryOverTheLimitIsRefused() throws {
        var options = DurableStorage.Options()
        options.entryBytesMax = 1000
        let (storage, _) = try DurableStorage.open(dataDirectory: root, groupID: groupID, options: options)
        let error = logError { () throws(LogError) in
            try storage.append([Entry(term: 1, index: 1, data: [UInt8](repeating: 1, count: 1001))])
        }
        XCTAssertEqual(error, .recordTooLarge(bytes: 1001, max: 1000))
    }

    // MARK: Group commit

    /// Appends only reach the OS; the fdatasync is owed per segment and paid once at
    /// `sync()`. A batch of 1000 entries is one write system call.
    func testGroupCommitOneWriteForABatchAndOneSyncForManyAppends() throws {
        let entries = makeEntries(1...2001, term: 1, dataBytes: 40, seed: 3)
        do {
            let (log, _) = try SharedSegments.open(directory: logDirectory, options: SharedSegments.Options())
            try log.append([entries[0]], of: groupID)  // creates the segment: header and one record
            try log.sync()
            XCTAssertFalse(log.segments.contains { $0.needsSync })

            let before = Disk.writeSyscalls()
            try log.append(Array(entries[1...1000]), of: groupID)
            let after = Disk.writeSyscalls()
            if let before, let after {
                XCTAssertEqual(after - before, 1, "1000 entries in one append: one write call")
            } else {
                print("LogTests: /proc/self/io not available, write calls not counted")
            }

            // 1000 more appends of one entry each, then a single sync for all of them.
            for entry in entries[1001...] { try log.append([entry], of: groupID) }
            XCTAssertEqual(log.segments.count, 1)
            XCTAssertEqual(log.segments.filter(\.needsSync).count, 1, "one fdatasync owed for 2000 appends")
            try log.sync()
            XCTAssertFalse(log.segments.contains { $0.needsSync })
        }
        let (_, recovered) = try SharedSegments.open(directory: logDirectory, options: SharedSegments.Options())
        XCTAssertEqual(recovered[groupID], entries)
        XCTAssertEqual(Disk.size(segmentPath(1)), Layout.segmentBytes(entries))
    }

    // MARK: Roll-over

    /// Segments are named by their first record; for one group that only appends, that is
    /// its first entry's index.
    func testRollOverAtSegmentBytesMaxNamesSegmentsByFirstRecord() throws {
        let segmentBytesMax = 4096
        var random = SeededGenerator(seed: 4)
        let entries = makeEntries(1...300, term: 1, sizes: 0...300, random: &random)
        do {
            let (storage, _) = try openStorage(segmentBytesMax: segmentBytesMax)
            // One at a time, one big batch, and small batches: both roll-over paths.
            for entry in entries[0..<10] { try storage.append([entry]) }
            try storage.append(Array(entries[10..<200]))
            for start in stride(from: 200, to: 300, by: 7) {
                try storage.append(Array(entries[start..<min(300, start + 7)]))
            }
            try storage.sync()
        }
        let firsts = Layout.segmentFirstIndexes(entries, segmentBytesMax: segmentBytesMax)
        XCTAssertGreaterThanOrEqual(firsts.count, 5)
        XCTAssertEqual(segmentFirstIndexes(), firsts)
        let largest = entries.map(Layout.recordBytes).max()!
        for (first, held) in zip(firsts, Layout.split(entries, firsts: firsts)) {
            let path = segmentPath(first)
            let bytes = Disk.read(path)
            XCTAssertEqual(bytes.count, Layout.segmentBytes(held), path)
            XCTAssertLessThan(bytes.count, segmentBytesMax + largest, path)
            // The header names the same first record (little-endian at offset 8).
            let headerFirst = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[8 + $1]) << (8 * UInt64($1)) }
            XCTAssertEqual(headerFirst, first)
        }
        let (storage, recovery) = try openStorage(segmentBytesMax: segmentBytesMax)
        XCTAssertEqual(recovery.state.entries, entries)

        // Appending after a reopen continues in the last segment, or rolls over as before.
        let more = makeEntries(301...400, term: 1, sizes: 0...300, random: &random)
        try storage.append(more)
        try storage.close()
        XCTAssertEqual(segmentFirstIndexes(), Layout.segmentFirstIndexes(entries + more, segmentBytesMax: segmentBytesMax))
        let (_, reopened) = try openStorage(segmentBytesMax: segmentBytesMax)
        XCTAssertEqual(reopened.state.entries, entries + more)
    }

    // MARK: Replaced suffixes

    /// Nothing is cut out of a file: the new suffix follows the old one, which recovery
    /// voids.
    func testConflictingAppendReplacesTheSuffix() throws {
        var random = SeededGenerator(seed: 5)
        let old = makeEntries(1...100, term: 1, sizes: 0...200, random: &random)
        let new = makeEntries(60...80, term: 2, sizes: 0...200, random: &random)
        do {
            let (storage, _) = try openStorage()
            try storage.append(old)
            try storage.sync()
            try storage.append(new)
            try storage.sync()
        }
        let expected = Array(old[..<59]) + new
        XCTAssertEqual(Disk.size(segmentPath(1)), Layout.segmentBytes(old + new), "the old suffix stays, the new one follows it")
        let (storage, recovery) = try openStorage()
        XCTAssertEqual(recovery.state.entries, expected)

        // And again after the reopen, replacing only the last entry.
        let last = Entry(term: 3, index: 80, data: [9, 9])
        try storage.append([last])
        try storage.sync()
        let (_, reopened) = try openStorage()
        XCTAssertEqual(reopened.state.entries, Array(expected.dropLast()) + [last])
    }

    /// A suffix replaced from the second of many segments: every segment stays (the voided
    /// records go with their segments, oldest first), the new entries follow in the last.
    func testReplacingASuffixAcrossSegmentsAppendsAfterIt() throws {
        let segmentBytesMax = 4600
        let old = makeEntries(1...300, term: 1, seed: 6)  // 141-byte records: 33 per segment
        let firsts = Layout.segmentFirstIndexes(old, segmentBytesMax: segmentBytesMax)
        XCTAssertEqual(Array(firsts.prefix(4)), [1, 34, 67, 100])
        let new = makeEntries(50...55, term: 2, seed: 7)
        do {
            let (storage, _) = try openStorage(segmentBytesMax: segmentBytesMax)
            try storage.append(old)
            try storage.sync()
            XCTAssertEqual(segmentFirstIndexes(), firsts)
            try storage.append(new)
            try storage.sync()
            XCTAssertEqual(segmentFirstIndexes(), firsts)
            XCTAssertEqual(Disk.size(segmentPath(firsts.last!)), Layout.segmentBytes(Layout.split(old, firsts: firsts).last! + new))
        }
        let (storage, recovery) = try openStorage(segmentBytesMax: segmentBytesMax)
        var expected = Array(old[..<49]) + new
        XCTAssertEqual(recovery.state.entries, expected)
        XCTAssertEqual(try storage.entries(in: 45...60, bytesMax: 1 << 20), Array(expected[44...]))

        // The log grows on from there, over new segment boundaries.
        let more = makeEntries(56...150, term: 2, seed: 8)
        try storage.append(more)
        try storage.sync()
        expected += more
        let (_, reopened) = try openStorage(segmentBytesMax: segmentBytesMax)
        XCTAssertEqual(reopened.state.entries, expected)
    }
}
