import Broker
import Log
import Raft
import XCTest

@testable import Node

/// What x-delayed-message exchanges hold is on disk like queued messages: their records
/// survive the store's reclaiming until they fire, and travel with a snapshot's transfer.
final class DelayedMessageStoreTests: XCTestCase {
    private var root = ""
    /// Small segments, so that a few records fill several and reclaiming has work.
    private static let segmentBytes = 4_096

    override func setUp() {
        root = "/tmp/berth-delayed-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    }

    override func tearDown() {
        removeTree(root)
    }

    private var limits: BrokerLimits {
        var limits = BrokerLimits()
        limits.storeSegmentBytes = Self.segmentBytes
        return limits
    }

    private func store(_ name: String) throws -> MessageStore {
        let directory = root + "/" + name
        try FileSystem.createDirectory(directory)
        var options = MessageStore.Options()
        options.segmentBytes = Self.segmentBytes
        options.cacheBytesMax = 0
        return try MessageStore.open(groupDirectory: directory, options: options)
    }

    /// Applies commands at the next indexes, as a node's log would.
    private struct Applier {
        var machine: BrokerMachine
        var index: LogIndex = 0

        mutating func apply(_ command: BrokerCommand) {
            index += 1
            machine.apply(Entry(term: 1, index: index, data: command.encoded()))
            _ = machine.takeEffects()
        }
    }

    /// A queue bound to a delayed exchange that holds 60 messages of about 500 bytes, due at
    /// 1 000 + n ms, and a queue holding 20 more: records over many segments of two stores.
    private func holdingMachine() throws -> Applier {
        var applier = Applier(machine: BrokerMachine(state: BrokerState(limits: limits), store: try store("leader")))
        applier.apply(.declareExchange(ExchangeDeclaration(name: "later", type: .delayedMessage, arguments: ["x-delayed-type": "direct"])))
        applier.apply(.declareQueue(QueueDeclaration(name: "q", owner: "o", timestamp: 0)))
        applier.apply(.bind(BindingChange(binding: Binding(source: "later", destination: .queue("q"), routingKey: "k"))))
        var publishes: [Publish] = []
        for n in 0..<60 {
            let message = Message(
                exchange: "later", routingKey: "k", properties: BasicProperties(headers: ["x-delay": .int32(Int32(1_000 + n))]),
                body: [UInt8](repeating: UInt8(n), count: 500))
            publishes.append(Publish(message: message, queues: [], delay: applier.machine.state.delay(of: message, vhost: "/")))
        }
        for n in 0..<20 {
            publishes.append(Publish(message: Message(exchange: "", routingKey: "q", body: [UInt8(n)]), queues: [QueueName(vhost: "/", "q")]))
        }
        XCTAssertEqual(publishes.prefix(60).filter { $0.delay != nil }.count, 60)
        applier.apply(.enqueue(Enqueue(timestamp: 0, messages: publishes)))
        XCTAssertEqual(applier.machine.state.delayedMessageCount, 60)
        return applier
    }

    private func records(of state: BrokerState, in store: MessageStore) throws -> [[UInt8]] {
        var locations: [RecordLocation] = []
        state.forEachRecord { locations.append($0) }
        return try store.read(locations.map { MessageStore.Extent(store: $0.store, position: $0.position, bytes: Int($0.bytes)) })
    }

    private func reclaim(_ applier: Applier) throws -> MessageStore.Reclaimed {
        let state = applier.machine.state
        try applier.machine.store.sync()
        return try applier.machine.store.reclaim(snapshotIndex: state.appliedIndex, cursors: state.storeCursors) { visit in
            state.forEachRecord { visit(MessageStore.Extent(store: $0.store, position: $0.position, bytes: Int($0.bytes))) }
        }
    }

    func testReclaimingKeepsHeldRecordsUntilTheyFire() throws {
        var applier = try holdingMachine()
        let storeID = try XCTUnwrap(applier.machine.state.exchange(ExchangeName("later"))?.delayStoreID)
        let before = try records(of: applier.machine.state, in: applier.machine.store)
        XCTAssertEqual(before.count, 80)
        // Half of them fire: the segments holding only those go, the rest stay readable.
        applier.apply(.fireDelayed(DelayedFiring(timestamp: 1_029, messagesMax: 4_096, recordBytesMax: 1 << 20)))
        XCTAssertEqual(applier.machine.state.delayedMessageCount, 30)
        let reclaimed = try reclaim(applier)
        XCTAssertGreaterThan(reclaimed.segmentsRemoved, 0, "segments of fired messages are reclaimed")
        let after = try records(of: applier.machine.state, in: applier.machine.store)
        XCTAssertEqual(after.count, 30 + 20 + 30)
        XCTAssertTrue(after.allSatisfy(MessageRecord.isIntact))
        let held = applier.machine.state.delayedMessages(limit: 100)
        let bodies = try applier.machine.store.read(held.map { MessageStore.Extent(store: $0.store, position: $0.position, bytes: $0.recordBytes) })
        XCTAssertEqual(try bodies.map { try MessageRecord.decode($0, limits: limits).body.first }, (30..<60).map { UInt8($0) })

        // The rest fire; the exchange goes; then its store goes with the next reclaim.
        applier.apply(.fireDelayed(DelayedFiring(timestamp: 2_000, messagesMax: 4_096, recordBytesMax: 1 << 20)))
        XCTAssertEqual(applier.machine.state.queue(QueueName(vhost: "/", "q"))?.messageCount, 80)
        applier.apply(.deleteExchange(ExchangeDeletion(name: "later")))
        XCTAssertEqual(try reclaim(applier).storesRemoved, 1)
        XCTAssertFalse(FileSystem.exists(root + "/leader/store/\(storeID)"))
        XCTAssertEqual(try records(of: applier.machine.state, in: applier.machine.store).count, 80)
    }

    func testASnapshotsTransferCarriesTheHeldRecords() throws {
        let applier = try holdingMachine()
        let machine = applier.machine
        let metadata = SnapshotMetadata(index: machine.state.appliedIndex, term: 1, membership: Membership(voters: [1, 2, 3]))
        let encoded = EncodedSnapshot(Snapshot(metadata: metadata, data: machine.state.snapshotData()))
        let path = root + "/leader/snapshot"
        try machine.makeReferencesDurable()
        try FileSystem.writeAtomically(encoded.file, to: path, directory: root + "/leader")
        let reference = SnapshotReference(metadata: metadata, bytes: encoded.fileByteCount + machine.snapshotTransferExtraBytes)
        let reader = try SnapshotTransferReader(
            reference: reference, filePath: path, fileBytes: encoded.fileByteCount, state: machine.state, store: machine.store, chunksInFlight: 2)
        let followerStore = try store("follower")
        let writer = SnapshotTransferWriter(
            metadata: metadata, totalBytes: reference.bytes, store: followerStore, limits: limits, filePath: "transfer")
        var offset = 0
        while offset < reference.bytes {
            let length = min(reference.bytes - offset, 1_000)
            try writer.take(SnapshotPiece(metadata: metadata, totalBytes: reference.bytes, offset: offset, bytes: try reader.read(offset: offset, length: length)))
            offset += length
        }
        let received = try XCTUnwrap(writer.finish())
        XCTAssertEqual(received.state.snapshotData(), machine.state.snapshotData())
        XCTAssertEqual(received.state.delayedMessageCount, 60)
        XCTAssertEqual(try records(of: received.state, in: followerStore), try records(of: machine.state, in: machine.store))

        // The follower, promoted, fires from its own store what the leader would have.
        var follower = Applier(machine: BrokerMachine(state: received.state, store: followerStore), index: machine.state.appliedIndex)
        follower.apply(.fireDelayed(DelayedFiring(timestamp: 5_000, messagesMax: 4_096, recordBytesMax: 1 << 20)))
        XCTAssertEqual(follower.machine.state.queue(QueueName(vhost: "/", "q"))?.messageCount, 80)
    }
}
