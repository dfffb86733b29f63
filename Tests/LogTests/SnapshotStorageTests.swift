import LZ4
import Raft
import XCTest

@testable import Log

/// Snapshot files: compaction, retention of the newest two, a leader's snapshot replacing
/// the log, LZ4 on a realistic payload, and falling back from a damaged snapshot.
final class SnapshotStorageTests: LogTestCase {
    let segmentBytesMax = 4600
    /// 141-byte records, 33 per segment: segments start at 1, 34, 67, 100, 133, ...
    lazy var entries = makeEntries(1...300, term: 1, seed: 40)

    private func writeEntries() throws -> DurableStorage {
        let (storage, _) = try openStorage(segmentBytesMax: segmentBytesMax)
        try storage.append(entries)
        try storage.setHardState(HardState(term: 1, vote: 1, commit: 250))
        try storage.sync()
        XCTAssertEqual(Array(segmentFirstIndexes().prefix(5)), [1, 34, 67, 100, 133])
        return storage
    }

    // MARK: Compaction

    func testSaveSnapshotRemovesOnlySegmentsWhollyCovered() throws {
        let storage = try writeEntries()
        let all = segmentFirstIndexes()
        let saved = snapshot(index: 120, term: 1)
        try storage.saveSnapshot(saved, compactTo: 120)
        try storage.close()
        // [1, 33], [34, 66] and [67, 99] go; [100, 132] holds 121 and stays whole.
        XCTAssertEqual(segmentFirstIndexes(), Array(all.drop(while: { $0 < 100 })))
        XCTAssertEqual(snapshotNames(), ["snapshot-00000000000000000120-00000000000000000001.snap"])
        let (_, recovery) = try openStorage(segmentBytesMax: segmentBytesMax)
        XCTAssertEqual(recovery.snapshot?.snapshot, saved)
        XCTAssertEqual(recovery.state.entries, Array(entries[120...]))
        XCTAssertEqual(recovery.state.hardState, HardState(term: 1, vote: 1, commit: 250))
    }

    /// Compacting to before the snapshot keeps entries for slow followers; recovery still
    /// starts after the snapshot.
    func testCompactToBeforeTheSnapshotKeepsEarlierSegments() throws {
        let storage = try writeEntries()
        let saved = snapshot(index: 120, term: 1)
        try storage.saveSnapshot(saved, compactTo: 70)
        try storage.close()
        XCTAssertEqual(segmentFirstIndexes().first, 67)
        let (_, recovery) = try openStorage(segmentBytesMax: segmentBytesMax)
        XCTAssertEqual(recovery.snapshot?.snapshot, saved)
        XCTAssertEqual(recovery.state.entries, Array(entries[120...]))
    }

    /// Compacting everything leaves only the segment being written, which the next entries
    /// continue; recovery starts after the snapshot.
    func testCompactingTheWholeLogThenAppending() throws {
        let storage = try writeEntries()
        let active = segmentFirstIndexes().last!
        try storage.saveSnapshot(snapshot(index: 300, term: 1), compactTo: 300)
        XCTAssertEqual(segmentFirstIndexes(), [active], "every segment but the one being written is gone")
        let more = makeEntries(301...310, term: 2, seed: 41)
        try storage.append(more)
        try storage.close()
        XCTAssertEqual(segmentFirstIndexes(), [active])
        let (_, recovery) = try openStorage(segmentBytesMax: segmentBytesMax)
        XCTAssertEqual(recovery.state.snapshot?.metadata.index, 300)
        XCTAssertEqual(recovery.state.entries, more)
    }

    func testOnlyTheTwoNewestSnapshotFilesRemain() throws {
        let storage = try writeEntries()
        let snapshots = [snapshot(index: 50, term: 1, data: [1]), snapshot(index: 100, term: 1, data: [2]), snapshot(index: 150, term: 1, data: [3])]
        for saved in snapshots {
            try storage.saveSnapshot(saved, compactTo: saved.metadata.index - 40)
        }
        try storage.close()
        XCTAssertEqual(snapshotNames(), [
            "snapshot-00000000000000000100-00000000000000000001.snap",
            "snapshot-00000000000000000150-00000000000000000001.snap",
        ])
        XCTAssertFalse(Disk.list(groupDirectory).contains { $0.hasSuffix(".tmp") })
        let (_, recovery) = try openStorage(segmentBytesMax: segmentBytesMax)
        XCTAssertEqual(recovery.snapshot?.snapshot, snapshots[2])
        XCTAssertEqual(recovery.state.entries, Array(entries[150...]))
    }

    func testEmptySnapshotDataRoundTrips() throws {
        let (storage, _) = try openStorage()
        let saved = snapshot(index: 0, term: 0, data: [], voters: [1])
        try storage.saveSnapshot(saved, compactTo: 0)
        try storage.close()
        let (_, recovery) = try openStorage()
        XCTAssertEqual(recovery.snapshot?.snapshot, saved)
    }

    // MARK: A snapshot from the leader

    func testInstallSnapshotReplacesTheLog() throws {
        let storage = try writeEntries()
        let active = segmentFirstIndexes().last!
        let received = snapshot(index: 400, term: 3, data: Array("leader state".utf8), voters: [1, 2, 3, 4])
        try storage.installSnapshot(received)
        XCTAssertEqual(segmentFirstIndexes(), [active], "every segment but the one being written is gone")
        let more = makeEntries(401...450, term: 3, seed: 42)
        try storage.append(more)
        try storage.setHardState(HardState(term: 3, vote: nil, commit: 400))
        try storage.sync()
        let (_, recovery) = try openStorage(segmentBytesMax: segmentBytesMax)
        XCTAssertEqual(recovery.snapshot?.snapshot, received)
        XCTAssertEqual(recovery.state.entries, more)
        XCTAssertEqual(recovery.state.hardState, HardState(term: 3, vote: nil, commit: 400))
        XCTAssertEqual(recovery.warnings, [])
    }

    /// A leader's snapshot behind the local log still replaces all of it.
    func testInstallSnapshotBehindTheLocalLog() throws {
        let storage = try writeEntries()
        let received = snapshot(index: 90, term: 2)
        try storage.installSnapshot(received)
        try storage.append(makeEntries(91...95, term: 2, seed: 43))
        try storage.close()
        let (_, recovery) = try openStorage(segmentBytesMax: segmentBytesMax)
        XCTAssertEqual(recovery.snapshot?.snapshot, received)
        XCTAssertEqual(recovery.state.entries, makeEntries(91...95, term: 2, seed: 43))
    }

    /// The crash between writing a leader's snapshot and removing the old segments: the
    /// segments hold another term at the snapshot's index and are dropped on open.
    func testStaleSegmentsLeftByACrashDuringInstallAreDropped() throws {
        try writeEntries().close()
        let received = snapshot(index: 200, term: 2)
        try SnapshotFile.write(EncodedSnapshot(received), directory: groupDirectory)

        let (storage, recovery) = try openStorage(segmentBytesMax: segmentBytesMax)
        XCTAssertEqual(recovery.snapshot?.snapshot, received)
        XCTAssertEqual(recovery.state.entries, [])
        XCTAssertEqual(segmentFirstIndexes().count, 1, "the stale segments were removed but the one being written")

        let more = makeEntries(201...210, term: 2, seed: 44)
        try storage.append(more)
        try storage.sync()
        let (_, reopened) = try openStorage(segmentBytesMax: segmentBytesMax)
        XCTAssertEqual(reopened.snapshot?.snapshot, received)
        XCTAssertEqual(reopened.state.entries, more)
    }

    /// The same crash with a snapshot beyond the end of the old log.
    func testStaleSegmentsShorterThanTheSnapshotAreDropped() throws {
        try writeEntries().close()
        try SnapshotFile.write(EncodedSnapshot(snapshot(index: 500, term: 4)), directory: groupDirectory)
        let (_, recovery) = try openStorage(segmentBytesMax: segmentBytesMax)
        XCTAssertEqual(recovery.state.snapshot?.metadata.index, 500)
        XCTAssertEqual(recovery.state.entries, [])
        XCTAssertEqual(segmentFirstIndexes().count, 1)
    }

    /// Segments that agree with the snapshot (same term at its index) continue it.
    func testSegmentsAgreeingWithTheSnapshotAreKept() throws {
        try writeEntries().close()
        let own = snapshot(index: 200, term: 1)
        try SnapshotFile.write(EncodedSnapshot(own), directory: groupDirectory)
        let (_, recovery) = try openStorage(segmentBytesMax: segmentBytesMax)
        XCTAssertEqual(recovery.snapshot?.snapshot, own)
        XCTAssertEqual(recovery.state.entries, Array(entries[200...]))
    }

    // MARK: LZ4

    /// A state machine dump of a few thousand AMQP-like messages: routing keys, repeated
    /// headers, JSON bodies, all built from a seed.
    static func brokerStateDump(messages: Int, seed: UInt64) -> [UInt8] {
        var random = SeededGenerator(seed: seed)
        let exchanges = ["orders", "payments", "inventory", "shipping", "audit"]
        let regions = ["eu-west-1", "eu-central-1", "us-east-1", "ap-southeast-2"]
        let events = ["created", "updated", "cancelled", "settled", "refunded"]
        let currencies = ["EUR", "USD", "GBP"]
        func hex(_ count: Int) -> String {
            String(random.bytes(count).flatMap { byte in [byte >> 4, byte & 15].map { Character(String($0, radix: 16)) } })
        }
        var dump: [UInt8] = []
        func field(_ bytes: [UInt8]) {
            dump.appendLittleEndian(UInt32(bytes.count))
            dump.append(contentsOf: bytes)
        }
        for n in 0..<messages {
            let exchange = exchanges.randomElement(using: &random)!
            let region = regions.randomElement(using: &random)!
            let event = events.randomElement(using: &random)!
            let routingKey = "\(exchange).\(region).\(event).v2"
            let headers = """
                content-type: application/json\ncontent-encoding: utf-8\ndelivery-mode: 2\npriority: \(Int.random(in: 0...9, using: &random))\n\
                x-trace-id: \(hex(16))\nx-producer: berth-bench/1.4.2\nx-tenant: tenant-\(Int.random(in: 1...40, using: &random))
                """
            var items: [String] = []
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                items.append(#"{"sku":"SKU-\#(Int.random(in: 10000...99999, using: &random))","quantity":\#(Int.random(in: 1...12, using: &random)),"unitPrice":\#(Int.random(in: 100...99999, using: &random))}"#)
            }
            let body = """
                {"id":"\(exchange)-\(n)","customerId":"cust-\(Int.random(in: 1...5000, using: &random))","amount":\(Int.random(in: 100...2_000_000, using: &random)),\
                "currency":"\(currencies.randomElement(using: &random)!)","status":"\(event)","items":[\(items.joined(separator: ","))],\
                "createdAt":"2024-\(String(format2: Int.random(in: 1...12, using: &random)))-\(String(format2: Int.random(in: 1...28, using: &random)))T\
                \(String(format2: Int.random(in: 0...23, using: &random))):\(String(format2: Int.random(in: 0...59, using: &random))):00Z"}
                """
            dump.appendLittleEndian(UInt64(n))  // queue offset
            field(Array(routingKey.utf8))
            field(Array(headers.utf8))
            field(Array(body.utf8))
        }
        return dump
    }

    func testSnapshotOfABrokerStateCompressesWithLZ4() throws {
        let data = Self.brokerStateDump(messages: 3000, seed: 45)
        let (storage, _) = try openStorage()
        let saved = snapshot(index: 3000, term: 5, data: data)
        try storage.saveSnapshot(saved, compactTo: 0)
        try storage.close()
        let path = groupDirectory + "/" + snapshotNames()[0]
        let fileBytes = Disk.size(path)
        let ratio = Double(data.count) / Double(fileBytes)
        print("LogTests: LZ4 snapshot of 3000 AMQP-like messages: \(data.count) raw bytes, \(fileBytes) file bytes, ratio \((ratio * 100).rounded() / 100)")
        XCTAssertGreaterThan(ratio, 1.5)
        let (_, recovery) = try openStorage()
        XCTAssertEqual(recovery.snapshot?.snapshot, saved)
        // The file holds one LZ4 frame after the fixed fields (8 + 8 + 8 + 4 + membership + 8).
        let membership = saved.metadata.membership.encoded().count
        let frame = Array(Disk.read(path)[(36 + membership)...])
        XCTAssertEqual(try LZ4Frame.decompress(frame, maxOutputBytes: data.count), data)
    }

    // MARK: Damaged snapshots

    func testCorruptNewestSnapshotFallsBackToThePreviousWithAWarning() throws {
        let storage = try writeEntries()
        let older = snapshot(index: 40, term: 1, data: [UInt8](repeating: 7, count: 1000))
        let newer = snapshot(index: 80, term: 1, data: [UInt8](repeating: 8, count: 1000))
        try storage.saveSnapshot(older, compactTo: 0)
        try storage.saveSnapshot(newer, compactTo: 0)
        try storage.close()
        let newerName = snapshotNames()[1]
        let newerPath = groupDirectory + "/" + newerName
        Disk.flipByte(newerPath, at: Disk.size(newerPath) / 2)

        let (_, recovery) = try openStorage(segmentBytesMax: segmentBytesMax)
        XCTAssertEqual(recovery.snapshot?.snapshot, older)
        XCTAssertEqual(recovery.state.entries, Array(entries[40...]))
        XCTAssertEqual(recovery.warnings.count, 1)
        XCTAssertTrue(recovery.warnings.first?.contains(newerName) ?? false, "\(recovery.warnings)")
    }

    func testCorruptNewestSnapshotWithTheLogCompactedPastTheOlderOneIsAGap() throws {
        let storage = try writeEntries()
        try storage.saveSnapshot(snapshot(index: 40, term: 1), compactTo: 0)
        try storage.saveSnapshot(snapshot(index: 80, term: 1), compactTo: 80)
        try storage.close()
        XCTAssertEqual(segmentFirstIndexes().first, 67, "the log now starts after the older snapshot")
        let newerPath = groupDirectory + "/" + snapshotNames()[1]
        Disk.flipByte(newerPath, at: 20)

        let error = logError { () throws(LogError) in _ = try self.openStorage(segmentBytesMax: self.segmentBytesMax) }
        guard case .gap = error else { return XCTFail("expected gap, got \(String(describing: error))") }
    }

    func testLeftoverTemporaryFilesAreRemovedOnOpen() throws {
        try writeEntries().close()
        Disk.write([1, 2, 3], to: groupDirectory + "/hardstate.tmp")
        Disk.write([4, 5, 6], to: groupDirectory + "/" + SnapshotFile.name(for: snapshot(index: 9, term: 9).metadata) + ".tmp")
        let (_, recovery) = try openStorage(segmentBytesMax: segmentBytesMax)
        XCTAssertEqual(recovery.state.entries, entries)
        XCTAssertNil(recovery.state.snapshot)
        XCTAssertEqual(recovery.warnings, [])
        XCTAssertFalse(Disk.list(groupDirectory).contains { $0.hasSuffix(".tmp") })
    }
}

extension String {
    /// Two digits, zero-padded.
    init(format2 value: Int) {
        self = value < 10 ? "0\(value)" : "\(value)"
    }
}
