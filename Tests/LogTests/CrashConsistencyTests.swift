import Raft
import XCTest

@testable import Log

/// On-disk states that a crash between an append and its `sync()` can leave, given that
/// the kernel writes unsynced data, truncations and directory changes back in any order
/// (nothing orders them but fdatasync/fsync).
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

    /// A replaced suffix is never cut out of a file, so no crash can leave the cut undone
    /// under the new records: the new suffix is written after the old one, and whichever
    /// prefix of those writes reaches the disk, recovery finds either the old log or the new
    /// one, never old entries of an older term after new ones.
    func testAReplacedSuffixRecoversOldOrNewWhateverPrefixOfItsWritesSurvives() throws {
        let segmentBytesMax = 4600
        let old = makeEntries(1...150, term: 1, seed: 82)  // segments 1, 34, 67, 100, 133
        let new = makeEntries(50...60, term: 2, seed: 83)  // fits in the last segment
        do {
            let (storage, _) = try openStorage(segmentBytesMax: segmentBytesMax)
            try storage.append(old)
            try storage.setHardState(HardState(term: 2, vote: 1, commit: 10))
            try storage.close()
        }
        let firsts = segmentFirstIndexes()
        XCTAssertEqual(firsts, [1, 34, 67, 100, 133])
        let lastPath = segmentPath(firsts.last!)
        let synced = Disk.read(lastPath)
        do {
            let (storage, _) = try openStorage(segmentBytesMax: segmentBytesMax)
            try storage.append(new)
            try storage.close()
        }
        XCTAssertEqual(segmentFirstIndexes(), firsts, "no segment was removed")
        let written = Disk.read(lastPath)
        XCTAssertEqual(Array(written[..<synced.count]), synced, "nothing written before was changed")

        // Every crash state: the old file plus any prefix of the new records, torn anywhere.
        for kept in stride(from: synced.count, through: written.count, by: 97) + [written.count] {
            Disk.write(Array(written[..<kept]), to: lastPath)
            let (_, recovery) = try openStorage(segmentBytesMax: segmentBytesMax)
            assertTermsNeverDecrease(recovery.state.entries)
            let entries = recovery.state.entries
            if entries.last?.term == 1 {
                XCTAssertEqual(entries, old, "kept \(kept): the old log whole")
            } else {
                // Some of the new suffix survived: the log is the old prefix and that part.
                XCTAssertEqual(Array(entries[..<49]), Array(old[..<49]), "kept \(kept)")
                XCTAssertEqual(Array(entries[49...]), Array(new[..<(entries.count - 49)]), "kept \(kept)")
            }
            Disk.write(written, to: lastPath)
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
        var options = SharedSegments.Options()
        options.segmentBytesMax = 4600
        let (log, _) = try SharedSegments.open(directory: logDirectory, options: options)
        let entries = makeEntries(1...80, term: 1, seed: 84)
        try log.append(Array(entries[..<20]), of: groupID)
        try log.sync()
        try log.append(Array(entries[20...]), of: groupID)  // fills segment 1, then 34, then starts 67
        XCTAssertEqual(log.segments.map(\.firstSequence), [1, 34, 67])
        let pending = log.segments.dropLast().filter(\.needsSync).map(\.firstSequence)
        XCTAssertEqual(pending, [], "segments that are no longer last still wait for fdatasync: their torn tails would be fatal")
    }
}
