import Raft
import XCTest

@testable import Log

/// On-disk states that a crash between an append and its `sync()` can leave, given that
/// the kernel writes unsynced data, truncations and directory changes back in any order
/// (nothing orders them but fdatasync/fsync). The other recovery tests assume the kernel
/// persisted a prefix of what was written; these do not.
final class CrashConsistencyTests: LogTestCase {
    /// Every term in a Raft log is at least the one before it. A log that breaks this holds
    /// entries a truncation had replaced; recovering it unchanged lets the node vote as if
    /// it still had them (its last entry looks as recent as the deposed leader's).
    private func assertTermsNeverDecrease(_ entries: [Entry], file: StaticString = #filePath, line: UInt = #line) {
        for (before, after) in zip(entries, entries.dropFirst()) where after.term < before.term {
            XCTFail("recovered entry \(after.index) has term \(after.term) after entry \(before.index) of term \(before.term): a stale suffix the truncation had removed", file: file, line: line)
            return
        }
    }

    /// `append` replacing a suffix does `ftruncate` and then writes the new records in
    /// place, with no sync in between. If the new records reach the disk but the
    /// truncation does not (its metadata commits later than an overwrite of an
    /// already-allocated block may be written back), the old records after the new ones
    /// are still in the file, and with records of equal size they line up: recovery
    /// accepts 60...65 of term 2 followed by 66...100 of term 1.
    func testStaleSuffixAfterAnUndurableTruncationIsNotRecovered() throws {
        let old = makeEntries(1...100, term: 1, dataBytes: 50, seed: 80)
        let new = makeEntries(60...65, term: 2, dataBytes: 50, seed: 81)
        let path = segmentPath(1)
        do {
            let (storage, _) = try openStorage()
            try storage.append(old)
            try storage.setHardState(HardState(term: 2, vote: 1, commit: 10))
            try storage.close()
        }
        let synced = Disk.read(path)
        do {
            let (storage, _) = try openStorage()
            try storage.append(new)
            try storage.close()
        }
        let written = Disk.read(path)
        XCTAssertEqual(written.count, Layout.segmentBytes(Array(old[..<59]) + new))
        // The crash state: the new bytes over the old file, whose length never shrank.
        Disk.write(written + synced[written.count...], to: path)

        do {
            let (_, recovery) = try openStorage()
            assertTermsNeverDecrease(recovery.state.entries)
        } catch {
            // Refusing to start is safe (the operator is told); returning the mix is not.
        }
    }

    /// The same across segments: `truncate(from:)` unlinks the later segments and cuts the
    /// one holding the index, but the unlinks are durable only at the next directory
    /// fsync. If the new entries in the cut segment reach the disk and the unlinks do
    /// not, the old later segments follow them contiguously.
    func testStaleSegmentsAfterAnUndurableTruncationAreNotRecovered() throws {
        let segmentBytesMax = 4096
        let old = makeEntries(1...150, term: 1, seed: 82)  // segments 1, 34, 67, 100, 133
        let new = makeEntries(50...66, term: 2, seed: 83)  // fills segment 34 up to 66 again
        do {
            let (storage, _) = try openStorage(segmentBytesMax: segmentBytesMax)
            try storage.append(old)
            try storage.setHardState(HardState(term: 2, vote: 1, commit: 10))
            try storage.close()
        }
        XCTAssertEqual(segmentFirstIndexes(), [1, 34, 67, 100, 133])
        let unlinked = [67, 100, 133].map { (path: segmentPath($0), bytes: Disk.read(segmentPath($0))) }
        do {
            let (storage, _) = try openStorage(segmentBytesMax: segmentBytesMax)
            try storage.append(new)
            try storage.close()
        }
        XCTAssertEqual(segmentFirstIndexes(), [1, 34])
        // The crash state: the unlinks never reached the disk.
        for segment in unlinked { Disk.write(segment.bytes, to: segment.path) }

        do {
            let (_, recovery) = try openStorage(segmentBytesMax: segmentBytesMax)
            assertTermsNeverDecrease(recovery.state.entries)
        } catch {
            // Refusing to start is safe; returning the mix is not.
        }
    }

    /// Recovery cuts a torn tail only in the last segment, so every segment but the last
    /// must be durable before a later one can appear on disk. `append` rolls over to a new
    /// segment without syncing the full one; its unsynced tail waits for `sync()`. A crash
    /// in between can persist the new segment (another inode, written back on its own)
    /// and lose the old one's tail: recovery then finds a torn record, or a gap, before
    /// the last segment and refuses to start, over entries that were never acknowledged.
    /// Observed here through the segments' pending-sync flags.
    func testRollOverMakesTheFullSegmentDurableFirst() throws {
        var options = SegmentedLog.Options()
        options.segmentBytesMax = 4096
        let (log, _) = try SegmentedLog.open(directory: groupDirectory, groupID: groupID, options: options)
        let entries = makeEntries(1...80, term: 1, seed: 84)
        try log.append(Array(entries[..<20]))
        try log.sync()
        try log.append(Array(entries[20...]))  // fills segment 1, then 34, then starts 67
        XCTAssertEqual(log.segments.map(\.firstIndex), [1, 34, 67])
        let pending = log.segments.dropLast().filter(\.needsSync).map(\.firstIndex)
        XCTAssertEqual(pending, [], "segments that are no longer last still wait for fdatasync: their torn tails would be fatal")
    }
}
