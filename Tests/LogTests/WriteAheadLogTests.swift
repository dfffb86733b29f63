import Checksum
import Foundation
import Raft
import XCTest

@testable import Log

/// The write-ahead log that a node's groups share: their entries interleave in one run of
/// segments, one sync makes all of them durable, each recovers apart, and a segment goes
/// only once no group needs anything in it.
final class WriteAheadLogTests: LogTestCase {
    private func openGroups(_ ids: [UInt64], segmentBytesMax: Int = 64 << 20) throws -> (WriteAheadLog, [UInt64: (DurableStorage, DurableStorage.Recovery)]) {
        var options = WriteAheadLog.Options()
        options.segmentBytesMax = segmentBytesMax
        let log = try WriteAheadLog.open(dataDirectory: root, options: options)
        var groups: [UInt64: (DurableStorage, DurableStorage.Recovery)] = [:]
        for id in ids { groups[id] = try DurableStorage.open(dataDirectory: root, groupID: id, log: log) }
        return (log, groups)
    }

    /// Three groups append in turns, one replaces a suffix, one compacts behind a snapshot;
    /// each recovers exactly its own entries and reads back only its own.
    func testGroupsInterleavedInOneLogRecoverApart() throws {
        var random = SeededGenerator(seed: 90)
        var expected: [UInt64: [Entry]] = [1: [], 2: [], 3: []]
        do {
            let (_, groups) = try openGroups([1, 2, 3], segmentBytesMax: 4096)
            for round in 0..<30 {
                for id in UInt64(1)...3 {
                    let next = LogIndex(expected[id]!.count + 1)
                    let entries = makeEntries(next...next + LogIndex(round % 4), term: 1, sizes: 0...150, random: &random)
                    try groups[id]!.0.append(entries)
                    expected[id]! += entries
                }
            }
            // Group 2 replaces its suffix from 40 with entries of a later term.
            let replacement = makeEntries(40...44, term: 2, sizes: 0...150, random: &random)
            try groups[2]!.0.append(replacement)
            expected[2] = Array(expected[2]![..<39]) + replacement
            // Group 3 snapshots at 30 and compacts what it covers.
            try groups[3]!.0.saveSnapshot(snapshot(index: 30, term: 1), compactTo: 30)
            for id in UInt64(1)...3 { try groups[id]!.0.setHardState(HardState(term: 2, vote: 1, commit: 5)) }
            try groups[1]!.0.sync()
            for id in UInt64(1)...3 { try groups[id]!.0.close() }
        }
        XCTAssertGreaterThan(segmentFirstIndexes().count, 3, "the groups' records span several segments")
        let (_, groups) = try openGroups([1, 2, 3], segmentBytesMax: 4096)
        XCTAssertEqual(groups[1]!.1.state.entries, expected[1])
        XCTAssertEqual(groups[2]!.1.state.entries, expected[2])
        XCTAssertEqual(groups[3]!.1.state.entries, Array(expected[3]![30...]))
        XCTAssertEqual(groups[3]!.1.state.snapshot?.metadata.index, 30)
        for id in UInt64(1)...2 {
            let storage = groups[id]!.0
            let read = try storage.entries(in: 1...LogIndex(expected[id]!.count), bytesMax: 1 << 30)
            XCTAssertEqual(read, expected[id], "group \(id) reads back its own entries only")
        }
        XCTAssertEqual(try groups[3]!.0.entries(in: 10...20, bytesMax: 1 << 20), nil, "compacted away")
        XCTAssertEqual(try groups[3]!.0.entries(in: 31...33, bytesMax: 1 << 20), Array(expected[3]![30...32]))
    }

    /// Group commit across groups: appends of many groups reach the disk with one write
    /// each and become durable with one fdatasync, whichever group's sync pays for it.
    func testOneSyncMakesTheAppendsOfEveryGroupDurable() throws {
        let ids: [UInt64] = Array(1...8)
        let (log, groups) = try openGroups(ids)
        for id in ids { try groups[id]!.0.append(makeEntries(1...1, term: 1, seed: id)) }
        try log.sync()
        let syncsBefore = log.dataSyncs
        let writesBefore = Disk.writeSyscalls()
        for id in ids { try groups[id]!.0.append(makeEntries(2...101, term: 1, seed: 100 + id)) }
        if let writesBefore, let after = Disk.writeSyscalls() {
            XCTAssertEqual(after - writesBefore, ids.count, "one write per group's batch of 100 entries")
        }
        for id in ids { try groups[id]!.0.sync() }
        XCTAssertEqual(log.dataSyncs - syncsBefore, 1, "eight groups' appends, one fdatasync")
        for id in ids { try groups[id]!.0.close() }
        let (_, reopened) = try openGroups(ids)
        for id in ids {
            XCTAssertEqual(reopened[id]!.1.state.entries, makeEntries(1...1, term: 1, seed: id) + makeEntries(2...101, term: 1, seed: 100 + id))
        }
    }

    /// A group that keeps an old entry keeps its segment, and the later ones with it, even
    /// when every other group has compacted past them; once it compacts too, they go.
    func testTheOldestSegmentGoesOnlyWhenNoGroupNeedsItsRecords() throws {
        let (log, groups) = try openGroups([1, 2], segmentBytesMax: 4096)
        let quiet = groups[1]!.0
        let busy = groups[2]!.0
        let quietEntries = makeEntries(1...1, term: 1, seed: 91)
        try quiet.append(quietEntries)
        let busyEntries = makeEntries(1...200, term: 1, seed: 92)
        try busy.append(busyEntries)
        try log.sync()
        let segments = segmentFirstIndexes()
        XCTAssertGreaterThan(segments.count, 4)

        try busy.saveSnapshot(snapshot(index: 200, term: 1), compactTo: 200)
        XCTAssertEqual(segmentFirstIndexes(), segments, "the first segment holds the quiet group's entry: nothing goes")
        try quiet.saveSnapshot(snapshot(index: 1, term: 1), compactTo: 1)
        XCTAssertEqual(segmentFirstIndexes(), [segments.last!], "nothing is needed any more but the segment being written")

        let more = makeEntries(2...3, term: 1, seed: 93)
        try quiet.append(more)
        try quiet.close()
        let (_, reopened) = try openGroups([1, 2], segmentBytesMax: 4096)
        XCTAssertEqual(reopened[1]!.1.state.entries, more)
        XCTAssertEqual(reopened[2]!.1.state.entries, [])
        XCTAssertEqual(reopened[2]!.1.state.snapshot?.metadata.index, 200)
    }

    /// A snapshot from the leader voids the group's whole log with a marker. Its old records
    /// stay while another group pins their segment, and recovery must not bring them back:
    /// they disagree with the snapshot, and everything after it would be dropped with them.
    func testARestartedGroupsOldRecordsStayVoidWhileTheirSegmentIsKept() throws {
        let (_, groups) = try openGroups([1, 2])
        let pinning = groups[1]!.0
        let restarted = groups[2]!.0
        try pinning.append(makeEntries(1...5, term: 1, seed: 94))
        try restarted.append(makeEntries(1...150, term: 1, seed: 95))
        try restarted.sync()
        let received = snapshot(index: 100, term: 3)
        try restarted.installSnapshot(received)
        let after = makeEntries(101...110, term: 3, seed: 96)
        try restarted.append(after)
        try restarted.close()
        try pinning.close()

        let (_, reopened) = try openGroups([1, 2])
        XCTAssertEqual(reopened[2]!.1.snapshot?.snapshot, received)
        XCTAssertEqual(reopened[2]!.1.state.entries, after)
        XCTAssertEqual(reopened[1]!.1.state.entries, makeEntries(1...5, term: 1, seed: 94))
    }

    /// A segment missing from the middle of the log is a gap in the record sequence: open
    /// refuses, naming the segment after it.
    func testAMissingSegmentInTheMiddleIsAGapNamingTheNextSegment() throws {
        let (storage, _) = try openStorage(segmentBytesMax: 4600)
        try storage.append(makeEntries(1...100, term: 1, seed: 97))
        try storage.close()
        let firsts = segmentFirstIndexes()
        XCTAssertEqual(Array(firsts.prefix(3)), [1, 34, 67])
        Disk.removeTree(segmentPath(34))
        let error = logError { () throws(LogError) in _ = try self.openStorage(segmentBytesMax: 4600) }
        guard case .corruptFile(let path, _) = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertEqual(path, segmentPath(67))
    }

    // MARK: The log of one group, from before the log was shared

    /// Writes `entries` as the log of one group was kept before groups shared one, spelled
    /// out here: `group-<id>/wal-<first index>.seg`, a 28-byte header (magic, version 1, three
    /// reserved bytes, group id, first index, crc32c of the rest), then records `[length
    /// u32][crc32c u32][term u64][index u64][kind u8][data]`, a new segment once one passes
    /// `segmentBytesMax`.
    private func writeSegmentsOfOneGroup(_ entries: [Entry], segmentBytesMax: Int) {
        func little<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
        var segment: (first: LogIndex, bytes: [UInt8])?
        func write() {
            guard let segment else { return }
            Disk.write(segment.bytes, to: groupDirectory + "/wal-" + String(format: "%020llu", segment.first) + ".seg")
        }
        mkdir(root, 0o700)
        mkdir(groupDirectory, 0o700)
        for entry in entries {
            if segment == nil || segment!.bytes.count >= segmentBytesMax {
                write()
                var header = Array("BWAL".utf8) + [1, 0, 0, 0] + little(groupID) + little(entry.index)
                header += little(CRC32C.checksum(header))
                segment = (entry.index, header)
            }
            let length = little(UInt32(17 + entry.data.count))
            let covered = little(entry.term) + little(entry.index) + [entry.kind.rawValue] + entry.data
            let checksum = covered.withUnsafeBytes { CRC32C.checksum($0, continuing: CRC32C.checksum(length)) }
            segment!.bytes += length + little(checksum) + covered
        }
        write()
    }

    /// A group directory holding segments of the layout before groups shared one log: open
    /// moves them into the shared log and deletes them; nothing is lost, and a crash part
    /// way (the move reached the shared log, the old segments remain) is moved again.
    func testSegmentsOfTheOneGroupLayoutAreMovedIntoTheSharedLog() throws {
        let old = makeEntries(1...120, term: 1, seed: 98) + makeEntries(121...130, term: 2, seed: 99)
        writeSegmentsOfOneGroup(old, segmentBytesMax: 4096)
        let legacySegments = Disk.list(groupDirectory).filter { $0.hasPrefix("wal-") }
        XCTAssertGreaterThan(legacySegments.count, 1)
        let saved = legacySegments.map { (name: $0, bytes: Disk.read(groupDirectory + "/" + $0)) }

        do {
            let (storage, recovery) = try openStorage()
            XCTAssertEqual(recovery.state.entries, old)
            XCTAssertEqual(Disk.list(groupDirectory).filter { $0.hasPrefix("wal-") }, [], "the old segments are gone")
            try storage.close()
        }
        // The crash between the move and the deletion: the old segments are back.
        for segment in saved { Disk.write(segment.bytes, to: groupDirectory + "/" + segment.name) }
        do {
            let (storage, recovery) = try openStorage()
            XCTAssertEqual(recovery.state.entries, old)
            let more = makeEntries(131...140, term: 2, seed: 100)
            try storage.append(more)
            try storage.close()
        }
        let (_, recovery) = try openStorage()
        XCTAssertEqual(recovery.state.entries, old + makeEntries(131...140, term: 2, seed: 100))
    }
}
