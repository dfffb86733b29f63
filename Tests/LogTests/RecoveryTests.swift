import Raft
import XCTest

@testable import Log

/// Recovery from damaged segment files: a torn tail of the last segment is cut; damage
/// anywhere else stops `open` with the file and the exact offset of the bad record.
final class RecoveryTests: LogTestCase {
    /// 141-byte records of 100 bytes of data: 33 per segment.
    let segmentBytesMax = 4600

    /// Three segments of entries with seeded sizes, synced and closed. Returns the entries
    /// and how they are split over the segments.
    private func writeThreeSegments(seed: UInt64) throws -> (entries: [Entry], segments: [(first: LogIndex, entries: [Entry])]) {
        var random = SeededGenerator(seed: seed)
        var entries = makeEntries(1...1, term: 1, sizes: 0...200, random: &random)
        while Layout.segmentFirstIndexes(entries, segmentBytesMax: segmentBytesMax).count < 3
            || Layout.split(entries, firsts: Layout.segmentFirstIndexes(entries, segmentBytesMax: segmentBytesMax)).last!.count < 12
        {
            let next = entries.count + 1
            entries += makeEntries(LogIndex(next)...LogIndex(next), term: next < 40 ? 1 : 2, sizes: 0...200, random: &random)
        }
        let (storage, _) = try openStorage(segmentBytesMax: segmentBytesMax)
        try storage.append(entries)
        try storage.setHardState(HardState(term: 2, vote: 1, commit: 5))
        try storage.close()
        let firsts = Layout.segmentFirstIndexes(entries, segmentBytesMax: segmentBytesMax)
        XCTAssertEqual(segmentFirstIndexes(), firsts)
        return (entries, Array(zip(firsts, Layout.split(entries, firsts: firsts))).map { (first: $0.0, entries: $0.1) })
    }

    private func expectCorruptRecord(path expectedPath: String, offset expectedOffset: Int, file: StaticString = #filePath, line: UInt = #line) {
        let error = logError({ () throws(LogError) in _ = try self.openStorage(segmentBytesMax: self.segmentBytesMax) }, file: file, line: line)
        guard case .corruptRecord(let path, let offset, let reason) = error else {
            return XCTFail("expected corruptRecord, got \(String(describing: error))", file: file, line: line)
        }
        XCTAssertEqual(path, expectedPath, file: file, line: line)
        XCTAssertEqual(offset, expectedOffset, "reason: \(reason)", file: file, line: line)
    }

    // MARK: Corruption before the tail

    func testFlippedByteInTheFirstOfThreeSegmentsNamesFileAndRecordOffset() throws {
        let (_, segments) = try writeThreeSegments(seed: 20)
        let held = segments[0].entries
        let position = held.count / 2
        let start = Layout.offset(of: position, in: held)
        // A byte inside the record's payload (or its term when the data is short).
        Disk.flipByte(segmentPath(segments[0].first), at: start + Layout.recordBytes(held[position]) - 1)
        expectCorruptRecord(path: segmentPath(segments[0].first), offset: start)
    }

    func testFlippedByteInTheMiddleOfTheLastSegmentIsNotATornTail() throws {
        let (_, segments) = try writeThreeSegments(seed: 21)
        let last = segments[2]
        let position = last.entries.count / 2  // valid records follow it
        let start = Layout.offset(of: position, in: last.entries)
        Disk.flipByte(segmentPath(last.first), at: start + 8 + 3)  // inside the term
        expectCorruptRecord(path: segmentPath(last.first), offset: start)
        XCTAssertEqual(Disk.size(segmentPath(last.first)), Layout.segmentBytes(last.entries), "nothing was cut")
    }

    /// A damaged length field (so the record's end is unknown) in the middle of the last
    /// segment is corruption too, at that record's offset.
    func testDamagedLengthFieldBeforeTheTailIsCorruption() throws {
        let (_, segments) = try writeThreeSegments(seed: 22)
        let last = segments[2]
        let position = 3
        let start = Layout.offset(of: position, in: last.entries)
        Disk.flipByte(segmentPath(last.first), at: start + 3)  // the length's high byte
        expectCorruptRecord(path: segmentPath(last.first), offset: start)
    }

    func testDamagedHeaderOfAnEarlierSegmentIsCorruptionAtOffsetZero() throws {
        let (_, segments) = try writeThreeSegments(seed: 23)
        Disk.flipByte(segmentPath(segments[1].first), at: 2)  // the magic
        expectCorruptRecord(path: segmentPath(segments[1].first), offset: 0)
    }

    // MARK: Torn tail of the last segment

    /// Checks a torn-tail recovery: all entries but the torn ones, the file cut to the end of
    /// the last good record, and the log continuing at the right index.
    private func assertTornTailRecovered(entries: [Entry], kept: Int, lastSegment: (first: LogIndex, entries: [Entry]), file: StaticString = #filePath, line: UInt = #line) throws {
        let path = segmentPath(lastSegment.first)
        let goodInLast = lastSegment.entries.count - (entries.count - kept)
        let (storage, recovery) = try openStorage(segmentBytesMax: segmentBytesMax)
        XCTAssertEqual(recovery.state.entries, Array(entries[..<kept]), file: file, line: line)
        XCTAssertEqual(recovery.state.hardState, HardState(term: 2, vote: 1, commit: 5), file: file, line: line)
        XCTAssertEqual(Disk.size(path), Layout.offset(of: goodInLast, in: lastSegment.entries), "cut at the end of the last good record", file: file, line: line)

        let next = LogIndex(kept + 1)
        let more = makeEntries(next...next + 4, term: 3, dataBytes: 10, seed: 99)
        try storage.append(more)
        try storage.sync()
        let (_, reopened) = try openStorage(segmentBytesMax: segmentBytesMax)
        XCTAssertEqual(reopened.state.entries, Array(entries[..<kept]) + more, file: file, line: line)
    }

    func testTornTailHalfARecordIsCut() throws {
        let (entries, segments) = try writeThreeSegments(seed: 24)
        let last = segments[2]
        let start = Layout.offset(of: last.entries.count - 1, in: last.entries)
        Disk.truncate(segmentPath(last.first), to: start + Layout.recordBytes(last.entries.last!) / 2)
        try assertTornTailRecovered(entries: entries, kept: entries.count - 1, lastSegment: last)
    }

    func testTornTailCutInsideTheRecordHeaderIsCut() throws {
        let (entries, segments) = try writeThreeSegments(seed: 25)
        let last = segments[2]
        let start = Layout.offset(of: last.entries.count - 1, in: last.entries)
        Disk.truncate(segmentPath(last.first), to: start + 5)
        try assertTornTailRecovered(entries: entries, kept: entries.count - 1, lastSegment: last)
    }

    func testTornTailZeroFilledRecordIsCut() throws {
        let (entries, segments) = try writeThreeSegments(seed: 26)
        let last = segments[2]
        let start = Layout.offset(of: last.entries.count - 1, in: last.entries)
        Disk.overwrite(segmentPath(last.first), at: start, with: [UInt8](repeating: 0, count: Layout.recordBytes(last.entries.last!)))
        try assertTornTailRecovered(entries: entries, kept: entries.count - 1, lastSegment: last)
    }

    /// The last three records zeroed, and the file extended with zeros, as a crash after
    /// the size but before the data of a batch reached the disk leaves it.
    func testTornTailSeveralZeroedRecordsAndZeroPaddingAreCut() throws {
        let (entries, segments) = try writeThreeSegments(seed: 27)
        let last = segments[2]
        let start = Layout.offset(of: last.entries.count - 3, in: last.entries)
        let path = segmentPath(last.first)
        Disk.overwrite(path, at: start, with: [UInt8](repeating: 0, count: Disk.size(path) - start + 4096))
        try assertTornTailRecovered(entries: entries, kept: entries.count - 3, lastSegment: last)
    }

    func testGarbageBytesAfterTheLastRecordAreCut() throws {
        for (seed, garbage) in [(28, [UInt8]([0xDE, 0xAD, 0xBE, 0xEF, 0x42])), (29, [0x01]), (30, [0xFF, 0xFF, 0xFF, 0xFF, 0x10, 0x20, 0x30])] {
            if seed != 28 { removeStorage() }
            let (entries, segments) = try writeThreeSegments(seed: UInt64(seed))
            Disk.append(garbage, to: segmentPath(segments[2].first))
            try assertTornTailRecovered(entries: entries, kept: entries.count, lastSegment: segments[2])
        }
    }

    /// Garbage whose length field is plausible but runs past the end of the file: a torn
    /// record header written without its payload.
    func testGarbageRecordHeaderRunningPastTheEndIsCut() throws {
        let (entries, segments) = try writeThreeSegments(seed: 31)
        Disk.append([0x40, 0x00, 0x00, 0x00, 0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC], to: segmentPath(segments[2].first))
        try assertTornTailRecovered(entries: entries, kept: entries.count, lastSegment: segments[2])
    }

    /// The only record of the last segment torn: the segment stays, empty, and takes the
    /// next entry under its name.
    func testTornTailLeavingTheLastSegmentEmpty() throws {
        let entries = makeEntries(1...34, term: 1, seed: 32)  // 33 + 1
        let (storage, _) = try openStorage(segmentBytesMax: segmentBytesMax)
        try storage.append(entries)
        try storage.setHardState(HardState(term: 2, vote: 1, commit: 5))
        try storage.close()
        XCTAssertEqual(segmentFirstIndexes(), [1, 34])
        Disk.truncate(segmentPath(34), to: Layout.segmentHeaderBytes + 60)
        try assertTornTailRecovered(entries: entries, kept: 33, lastSegment: (34, [entries[33]]))
        XCTAssertEqual(segmentFirstIndexes(), [1, 34])
    }

    /// A crash while a new segment's header was being written: the file holds less than a
    /// header (or a zeroed one) and is removed; the log continues from the previous one.
    func testTornHeaderOfTheLastSegmentRemovesIt() throws {
        for (seed, tornHeader) in [(33, [UInt8]([0x42, 0x57, 0x41])), (34, [UInt8](repeating: 0, count: 40))] {
            if seed != 33 { removeStorage() }
            let entries = makeEntries(1...33, term: 1, seed: UInt64(seed))
            let (storage, _) = try openStorage(segmentBytesMax: segmentBytesMax)
            try storage.append(entries)
            try storage.setHardState(HardState(term: 2, vote: 1, commit: 5))
            try storage.close()
            Disk.write(tornHeader, to: segmentPath(34))
            let (reopened, recovery) = try openStorage(segmentBytesMax: segmentBytesMax)
            XCTAssertEqual(recovery.state.entries, entries)
            XCTAssertEqual(segmentFirstIndexes(), [1])
            let next = Entry(term: 2, index: 34, data: [1])
            try reopened.append([next])
            try reopened.sync()
            XCTAssertEqual(segmentFirstIndexes(), [1, 34])
            let (_, again) = try openStorage(segmentBytesMax: segmentBytesMax)
            XCTAssertEqual(again.state.entries, entries + [next])
        }
    }
}
