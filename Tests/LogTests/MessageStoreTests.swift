import Glibc
import XCTest

import Raft

@testable import Log

/// The message store: records at their positions, read back one by one or together,
/// durable after a sync, and space given back by a snapshot's live set.
final class MessageStoreTests: LogTestCase {
    private let segmentBytes = 64 << 10

    private func openStore(cacheBytesMax: Int = 0) throws -> MessageStore {
        var options = MessageStore.Options()
        options.segmentBytes = segmentBytes
        options.cacheBytesMax = cacheBytesMax
        try FileSystem.createDirectory(groupDirectory)
        return try MessageStore.open(groupDirectory: groupDirectory, options: options)
    }

    /// A record of `bytes` bytes whose every byte says where it is.
    private func record(_ store: UInt64, _ position: UInt64, bytes: Int) -> [UInt8] {
        (0..<bytes).map { UInt8(truncatingIfNeeded: store &* 31 &+ position &+ UInt64($0)) }
    }

    /// Writes records of `bytes` back to back from position 0; returns their extents.
    @discardableResult
    private func fill(_ store: MessageStore, id: UInt64, count: Int, bytes: Int) throws -> [MessageStore.Extent] {
        var extents: [MessageStore.Extent] = []
        var position: UInt64 = 0
        for _ in 0..<count {
            // As the broker places them: never across a segment's end.
            let offset = position % UInt64(segmentBytes)
            if offset + UInt64(bytes) > UInt64(segmentBytes) { position += UInt64(segmentBytes) - offset }
            try store.write(store: id, position: position, record: record(id, position, bytes: bytes))
            extents.append(MessageStore.Extent(store: id, position: position, bytes: bytes))
            position += UInt64(bytes)
        }
        return extents
    }

    private func segmentFiles(_ id: UInt64) -> [String] {
        Disk.list(MessageStore.storesDirectory(groupDirectory: groupDirectory) + "/\(id)").filter { $0.hasSuffix(".seg") }
    }

    private func allocatedBytes(_ path: String) -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { return -1 }
        return Int(info.st_blocks) * 512
    }

    func testRecordsReadBackAtTheirPositionsAlsoAfterReopening() throws {
        let store = try openStore()
        let extents = try fill(store, id: 3, count: 200, bytes: 1_000) + fill(store, id: 9, count: 5, bytes: 70_000)
        try store.sync()
        for reopened in [store, try openStore()] {
            for extent in extents {
                XCTAssertEqual(try reopened.read(store: extent.store, position: extent.position, bytes: extent.bytes),
                               record(extent.store, extent.position, bytes: extent.bytes))
            }
        }
        XCTAssertEqual(segmentFiles(9).count, 5, "a record larger than a segment has one of its own")
    }

    /// Records written together — runs that follow one another, runs broken by a gap, by a
    /// segment's end or by another store, a record larger than a segment — read back as if
    /// each had been written alone, also after reopening.
    func testRecordsWrittenTogetherReadBackAsIfWrittenOneByOne() throws {
        let store = try openStore()
        var placed: [MessageStore.PlacedRecord] = []
        var position: UInt64 = 0
        for index in 0..<150 {
            let bytes = 700 + index % 3
            let offset = position % UInt64(segmentBytes)
            if offset + UInt64(bytes) > UInt64(segmentBytes) { position += UInt64(segmentBytes) - offset }
            if index == 40 { position += 5 }
            placed.append((1, position, record(1, position, bytes: bytes)))
            if index % 25 == 0 { placed.append((2, UInt64(index) * 1_000, record(2, UInt64(index) * 1_000, bytes: 1_000))) }
            position += UInt64(bytes)
        }
        placed.append((1, position + UInt64(segmentBytes), record(1, position + UInt64(segmentBytes), bytes: 70_000)))
        try store.write(placed)
        try store.sync()
        for reopened in [store, try openStore()] {
            let extents = placed.map { MessageStore.Extent(store: $0.store, position: $0.position, bytes: $0.record.count) }
            XCTAssertEqual(try reopened.read(extents), placed.map(\.record))
        }
    }

    /// Records read together come back in the order asked, whatever their stores and
    /// positions, and those that lie close in one segment take one read.
    func testABatchOfRecordsReadsBackInTheOrderAsked() throws {
        let store = try openStore()
        let a = try fill(store, id: 1, count: 300, bytes: 700)
        let b = try fill(store, id: 2, count: 50, bytes: 3_000)
        var random = SeededGenerator(seed: 11)
        let wanted = (a + b).shuffled(using: &random).prefix(120).map { $0 }
        let records = try store.read(wanted)
        XCTAssertEqual(records, wanted.map { record($0.store, $0.position, bytes: $0.bytes) })
    }

    func testAMissingRecordIsAnErrorNamingTheFile() throws {
        let store = try openStore()
        try fill(store, id: 1, count: 3, bytes: 100)
        XCTAssertThrowsError(try store.read(store: 1, position: UInt64(5 * segmentBytes), bytes: 100)) { error in
            guard case .io(_, let path, let errno)? = error as? LogError else { return XCTFail("\(error)") }
            XCTAssertTrue(path.hasSuffix("/1/5.seg"), path)
            XCTAssertEqual(errno, ENOENT)
        }
        XCTAssertThrowsError(try store.read(store: 1, position: 250, bytes: 100), "past the end of what was written")
    }

    /// Lately written records are served from memory, bounded in bytes: with the file
    /// zeroed behind the store's back, they still read as written; older ones read as the
    /// disk now holds them.
    func testRecentRecordsAreServedFromABoundedCache() throws {
        let store = try openStore(cacheBytesMax: 10_000)
        let extents = try fill(store, id: 4, count: 40, bytes: 1_000)
        let file = try FileHandle(path: MessageStore.storesDirectory(groupDirectory: groupDirectory) + "/4/0.seg", flags: O_WRONLY)
        try file.write([UInt8](repeating: 0, count: 40_000), at: 0)
        for extent in extents.suffix(9) {
            XCTAssertEqual(try store.read(store: 4, position: extent.position, bytes: 1_000), record(4, extent.position, bytes: 1_000))
        }
        XCTAssertEqual(try store.read(store: 4, position: extents[0].position, bytes: 1_000), [UInt8](repeating: 0, count: 1_000))
    }

    /// Segments nothing refers to go; a store whose queue is gone goes whole; one created
    /// after the snapshot stays, as does the segment still being written.
    func testReclaimRemovesWhatTheSnapshotNoLongerRefersTo() throws {
        let store = try openStore()
        let kept = try fill(store, id: 5, count: 300, bytes: 1_000)
        try fill(store, id: 6, count: 10, bytes: 1_000)
        try fill(store, id: 50, count: 10, bytes: 1_000)
        try store.sync()
        XCTAssertEqual(segmentFiles(5).count, 5)
        // Live: two records of segment 2 and the last segment's records.
        let inSegment2 = kept.filter { $0.position / UInt64(segmentBytes) == 2 }
        let live = Array(inSegment2.prefix(2)) + kept.filter { $0.position / UInt64(segmentBytes) == 4 }
        let cursor = kept.last!.position + 1_000
        let done = try store.reclaim(snapshotIndex: 40, cursors: [5: cursor]) { visit in live.forEach(visit) }
        XCTAssertEqual(done.storesRemoved, 1, "store 6 (declared by 40) is gone; 50 came later")
        XCTAssertEqual(done.segmentsRemoved, 3, "segments 0, 1 and 3")
        XCTAssertEqual(segmentFiles(5), ["2.seg", "4.seg"])
        XCTAssertTrue(segmentFiles(6).isEmpty)
        XCTAssertEqual(segmentFiles(50).count, 1)
        for extent in live {
            XCTAssertEqual(try store.read(store: 5, position: extent.position, bytes: 1_000), record(5, extent.position, bytes: 1_000))
        }
    }

    /// One live record does not pin its segment: the dead stretches around it are punched
    /// out, and the record still reads.
    func testAMostlyDeadSegmentHasItsDeadStretchesPunchedOut() throws {
        let store = try openStore()
        let extents = try fill(store, id: 8, count: 200, bytes: 1_000)
        try store.sync()
        let path = MessageStore.storesDirectory(groupDirectory: groupDirectory) + "/8/0.seg"
        let before = allocatedBytes(path)
        XCTAssertGreaterThanOrEqual(before, 60_000)
        let lonely = extents[30]
        let cursor = extents.last!.position + 1_000
        let done = try store.reclaim(snapshotIndex: 1, cursors: [8: cursor]) { visit in visit(lonely) }
        XCTAssertEqual(done.segmentsRemoved, 2, "segments 1 and 2; 3 is still being written")
        XCTAssertGreaterThan(done.bytesPunched, 50_000)
        XCTAssertLessThan(allocatedBytes(path), before / 4)
        XCTAssertEqual(try store.read(store: 8, position: lonely.position, bytes: 1_000), record(8, lonely.position, bytes: 1_000))
        let again = try store.reclaim(snapshotIndex: 2, cursors: [8: cursor]) { visit in visit(lonely) }
        XCTAssertEqual(again.bytesPunched, 0, "nothing new died")
    }

    /// While a snapshot is being received, reclaim waits: it would judge by an older state.
    /// After one is installed, a reclaim by an older snapshot does nothing.
    func testReclaimWaitsForASnapshotBeingReceived() throws {
        let store = try openStore()
        try fill(store, id: 2, count: 100, bytes: 1_000)
        store.beginReceiving()
        XCTAssertTrue(try store.reclaim(snapshotIndex: 10, cursors: [:]) { _ in }.deferred)
        XCTAssertFalse(segmentFiles(2).isEmpty)
        store.endReceiving(installedIndex: 20)
        XCTAssertTrue(try store.reclaim(snapshotIndex: 10, cursors: [:]) { _ in }.deferred)
        let done = try store.reclaim(snapshotIndex: 20, cursors: [:]) { _ in }
        XCTAssertEqual(done.storesRemoved, 1)
    }
}
