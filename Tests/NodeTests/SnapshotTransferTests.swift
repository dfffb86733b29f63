import Broker
import Log
import Raft
import XCTest

@testable import Node

/// A snapshot's transfer: the leader reads it from a snapshot file and its message store;
/// the follower, taking the bytes in order, ends with the same state and every record it
/// refers to in its own store, at the same position.
final class SnapshotTransferTests: XCTestCase {
    private var root = ""

    override func setUp() {
        root = "/tmp/berth-transfer-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    }

    override func tearDown() {
        removeTree(root)
    }

    private func store(_ name: String) throws -> MessageStore {
        let directory = root + "/" + name
        try FileSystem.createDirectory(directory)
        var options = MessageStore.Options()
        options.segmentBytes = BrokerLimits().storeSegmentBytes
        options.cacheBytesMax = 0
        return try MessageStore.open(groupDirectory: directory, options: options)
    }

    /// A machine with three queues (one with priorities), messages of many sizes, some
    /// settled: holes in the records, and records in several stores.
    private func leaderMachine() throws -> BrokerMachine {
        var machine = BrokerMachine(store: try store("leader"))
        var index: LogIndex = 0
        func apply(_ command: BrokerCommand) {
            index += 1
            machine.apply(Entry(term: 1, index: index, data: command.encoded()))
        }
        for (name, arguments) in [("a", ArgumentTable()), ("b", ["x-max-priority": .int32(3)] as ArgumentTable), ("c", ArgumentTable())] {
            apply(.declareQueue(QueueDeclaration(name: name, arguments: arguments, owner: "o", timestamp: 0)))
        }
        var publishes: [Publish] = []
        for i in 0..<300 {
            let queue = ["a", "b", "c"][i % 3]
            let body = [UInt8](repeating: UInt8(i % 251), count: 50 + (i * 37) % 3_000)
            let message = Message(exchange: "", routingKey: queue, properties: BasicProperties(priority: UInt8(i % 4)), body: body)
            publishes.append(Publish(message: message, queues: [QueueName(vhost: "/", queue)]))
        }
        apply(.enqueue(Enqueue(timestamp: 1, messages: publishes)))
        let a = machine.state.queue(QueueName(vhost: "/", "a"))!.messageIDs
        apply(.settle(MessageBatch(queue: QueueName(vhost: "/", "a"), ids: stride(from: 0, to: a.count, by: 3).map { a[$0] })))
        _ = machine.takeEffects()
        return machine
    }

    /// The leader's side of a transfer of the machine's state, and the snapshot's file.
    private func reader(for machine: BrokerMachine) throws -> SnapshotTransferReader {
        let metadata = SnapshotMetadata(index: machine.state.appliedIndex, term: 1, membership: Membership(voters: [1, 2, 3]))
        let encoded = EncodedSnapshot(Snapshot(metadata: metadata, data: machine.state.snapshotData()))
        let path = root + "/leader/snapshot"
        try FileSystem.writeAtomically(encoded.file, to: path, directory: root + "/leader")
        let reference = SnapshotReference(metadata: metadata, bytes: encoded.fileByteCount + machine.snapshotTransferExtraBytes)
        return try SnapshotTransferReader(
            reference: reference, filePath: path, fileBytes: encoded.fileByteCount, state: machine.state, store: machine.store,
            chunksInFlight: 2)
    }

    private func records(of state: BrokerState, in store: MessageStore) throws -> [[UInt8]] {
        var locations: [RecordLocation] = []
        state.forEachRecord { locations.append($0) }
        return try store.read(locations.map { MessageStore.Extent(store: $0.store, position: $0.position, bytes: Int($0.bytes)) })
    }

    func testATransferInOddChunksGivesTheFollowerTheStateAndEveryRecord() throws {
        let machine = try leaderMachine()
        let reader = try reader(for: machine)
        let total = reader.reference.bytes
        XCTAssertGreaterThan(total, machine.state.recordBytes, "the records travel with the file")
        let followerStore = try store("follower")
        let writer = SnapshotTransferWriter(
            metadata: reader.reference.metadata, totalBytes: total, store: followerStore, limits: BrokerLimits(), filePath: "transfer")
        var offset = 0
        var step = 0
        while offset < total {
            let length = min(total - offset, [7, 777, 4_096, 65_537, 13][step % 5])
            step += 1
            // Now and then the leader is asked again for bytes it sent (a lost chunk).
            if step % 4 == 0, offset > 100 { _ = try reader.read(offset: offset - 100, length: 50) }
            let bytes = try reader.read(offset: offset, length: length)
            try writer.take(SnapshotPiece(metadata: reader.reference.metadata, totalBytes: total, offset: offset, bytes: bytes))
            offset += length
        }
        let received = try XCTUnwrap(writer.finish())
        XCTAssertEqual(received.state.snapshotData(), machine.state.snapshotData())
        XCTAssertEqual(try records(of: received.state, in: followerStore), try records(of: machine.state, in: machine.store))
        XCTAssertEqual(received.snapshot.snapshot.metadata, reader.reference.metadata)
    }

    /// A leader asked for bytes in any order (chunks lost, resent, a follower that started
    /// over) reads the same bytes as in one pass.
    func testReadsInAnyOrderGiveTheSameBytesAsOnePass() throws {
        let machine = try leaderMachine()
        let reader = try reader(for: machine)
        let total = reader.reference.bytes
        let whole = try reader.read(offset: 0, length: total)
        var random = SystemRandomNumberGenerator()
        var seed = UInt64.random(in: 0...UInt64.max, using: &random)
        func next(_ bound: Int) -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((seed >> 33) % UInt64(bound))
        }
        var offset = 0
        for step in 0..<400 {
            switch next(4) {
            case 0: offset = next(total)  // anywhere
            case 1: offset = max(0, offset - next(20_000))  // a little back: a resent chunk
            default: break  // on from the last read
            }
            let length = min(total - offset, 1 + next(9_000))
            XCTAssertEqual(try reader.read(offset: offset, length: length)[...], whole[offset..<(offset + length)], "step \(step) at \(offset)")
            offset = (offset + length) % total
        }
    }

    /// The chunks in flight sent again (a stall) are read from a remembered start, not by
    /// walking every record from the first: at gigabytes that walk blocks the node.
    func testResendingTheChunksInFlightDoesNotWalkFromTheFirstRecord() throws {
        let machine = try leaderMachine()
        let reader = try reader(for: machine)
        let total = reader.reference.bytes
        let chunk = 2_000
        var offset = 0
        while offset + 10 * chunk < total {
            _ = try reader.read(offset: offset, length: chunk)
            offset += chunk
        }
        let walkedForward = reader.recordsWalked
        // Two chunks in flight (as the reader was told), sent again from the older one.
        let resent = offset - 2 * chunk
        XCTAssertEqual(try reader.read(offset: resent, length: 2 * chunk)[...], try reader.read(offset: 0, length: total)[resent..<offset])
        let wholeWalk = reader.recordsWalked - walkedForward
        let before = reader.recordsWalked
        _ = try reader.read(offset: offset, length: chunk)
        _ = try reader.read(offset: resent, length: 2 * chunk)
        XCTAssertLessThan(reader.recordsWalked - before, wholeWalk / 4, "a resend walked \(reader.recordsWalked - before) records of \(wholeWalk)")
    }

    func testADamagedRecordInTransitIsRefused() throws {
        let machine = try leaderMachine()
        let reader = try reader(for: machine)
        let total = reader.reference.bytes
        var bytes = try reader.read(offset: 0, length: total)
        bytes[total - 10] ^= 0x40
        let writer = SnapshotTransferWriter(
            metadata: reader.reference.metadata, totalBytes: total, store: try store("follower"), limits: BrokerLimits(), filePath: "transfer")
        XCTAssertThrowsError(try writer.take(SnapshotPiece(metadata: reader.reference.metadata, totalBytes: total, offset: 0, bytes: bytes))) {
            guard case .recordDamaged = $0 as? SnapshotTransfer.Failure else { return XCTFail("\($0)") }
        }
    }

    func testATransferLongerOrShorterThanItsStateNeedsIsRefused() throws {
        let machine = try leaderMachine()
        let reader = try reader(for: machine)
        let total = reader.reference.bytes
        let bytes = try reader.read(offset: 0, length: total)
        for wrongTotal in [total - 5, total + 5] {
            let writer = SnapshotTransferWriter(
                metadata: reader.reference.metadata, totalBytes: wrongTotal, store: try store("follower-\(wrongTotal)"), limits: BrokerLimits(),
                filePath: "transfer")
            let piece = Array(bytes.prefix(min(total, wrongTotal)))
            XCTAssertThrowsError(try writer.take(SnapshotPiece(metadata: reader.reference.metadata, totalBytes: wrongTotal, offset: 0, bytes: piece))) {
                guard case .lengthMismatch = $0 as? SnapshotTransfer.Failure else { return XCTFail("\($0)") }
            }
        }
    }
}
