import XCTest

@testable import Broker

final class SnapshotTests: XCTestCase {
    /// A state with a bit of everything.
    static func richHarness() -> Harness {
        var h = Harness()
        h.apply(.declareVHost(name: "prod"))
        h.declareExchange("events", .topic)
        h.declareExchange("fan", .fanout, autoDelete: true)
        h.declareExchange("match", .headers, arguments: ["alternate-exchange": "fan"])
        h.declareExchange("dlx", .direct)
        h.declareQueue("dead")
        h.bind("dead", to: "dlx", key: "work")
        h.declareQueue(
            "work",
            arguments: [
                "x-queue-type": "quorum", "x-max-priority": .int32(3), "x-message-ttl": .int64(60_000), "x-dead-letter-exchange": "dlx",
                "x-max-length": .int32(100), "x-delivery-limit": .int32(2),
            ])
        h.declareQueue("audit", exclusive: true, owner: "conn-9")
        h.declareQueue("idle", autoDelete: true, arguments: ["x-expires": .int32(5_000)])
        h.declareQueue("q", vhost: "prod")
        h.bindExchange("fan", to: "events", key: "#.audit")
        h.bind("audit", to: "fan")
        h.bind("work", to: "events", key: "work.*")
        h.bind("work", to: "match", arguments: ["x-match": "any", "kind": "job", "flag": .void])
        for n in 0..<12 {
            h.publish(
                "job \(n)", exchange: "events", routingKey: n % 3 == 0 ? "work.x.audit" : "work.x",
                properties: BasicProperties(headers: ["n": .int32(Int32(n))], priority: UInt8(n % 5), expiration: n % 4 == 0 ? "1000" : nil))
            h.now += 10
        }
        let ids = h.ids("work")
        h.apply(.requeue(MessageBatch(queue: q("work"), ids: [ids[2], ids[5]]), timestamp: h.now, deliveryFailed: true))
        h.apply(.reject(MessageBatch(queue: q("work"), ids: [ids[7]]), timestamp: h.now))
        h.apply(.settle(MessageBatch(queue: q("work"), ids: [ids[1]])))
        return h
    }

    func testSnapshotRoundTripsByteForByte() throws {
        let h = Self.richHarness()
        let data = h.state.snapshotData()
        var restored = BrokerState()
        try restored.restore(from: data)
        XCTAssertEqual(restored.snapshotData(), data)
        XCTAssertEqual(restored.appliedIndex, h.state.appliedIndex)
        XCTAssertEqual(restored.nextMessageID, h.state.nextMessageID)
        XCTAssertEqual(restored.allQueueNames, h.state.allQueueNames)
        for name in h.state.allQueueNames {
            XCTAssertEqual(restored.queue(name)?.messages, h.state.queue(name)?.messages, name.description)
            XCTAssertEqual(restored.queue(name)?.settings, h.state.queue(name)?.settings, name.description)
            XCTAssertEqual(restored.queue(name)?.messageBytes, h.state.queue(name)?.messageBytes, name.description)
        }
        XCTAssertEqual(restored.bindings(in: "/"), h.state.bindings(in: "/"))
        // A second state built the same way gives the same bytes.
        XCTAssertEqual(Self.richHarness().state.snapshotData(), data)
    }

    func testRestoredStateBehavesTheSame() throws {
        var original = Self.richHarness()
        var restored = original
        restored.state = BrokerState()
        try restored.state.restore(from: original.state.snapshotData())

        let ids = original.ids("work")
        let script: [BrokerCommand] = [
            .requeue(MessageBatch(queue: q("work"), ids: [ids[2], ids[3]]), timestamp: original.now, deliveryFailed: true),
            .requeue(MessageBatch(queue: q("work"), ids: [ids[2]]), timestamp: original.now, deliveryFailed: true),
            .expire(Expiry(timestamp: original.now + 2_000, messages: [MessageBatch(queue: q("work"), ids: ids)], unusedQueues: [q("idle")])),
            .declareQueue(QueueDeclaration(name: "", exclusive: true, owner: "conn-1", timestamp: original.now)),
            .deleteQueuesOwned(by: "conn-9"),
            .unbind(BindingChange(binding: Binding(source: "events", destination: .exchange("fan"), routingKey: "#.audit"))),
            .purge(QueuePurge(queue: q("dead"))),
        ]
        for command in script {
            XCTAssertEqual(original.apply(command), restored.apply(command), "\(command)")
        }
        for (body, key) in [("late", "work.y"), ("late audit", "work.y.audit")] {
            XCTAssertEqual(original.publish(body, exchange: "events", routingKey: key), restored.publish(body, exchange: "events", routingKey: key))
        }
        XCTAssertEqual(original.state.snapshotData(), restored.state.snapshotData())
        XCTAssertNil(restored.state.exchange(ExchangeName("fan")), "the auto-delete exchange went with its last binding")
    }

    func testDamagedSnapshotsAreRefusedAndLeaveTheStateAlone() throws {
        var h = Harness()
        h.declareExchange("x", .topic)
        h.declareQueue("q", arguments: ["x-max-priority": .int32(2)])
        h.bind("q", to: "x", key: "a.#")
        h.publish("one", routingKey: "q", properties: BasicProperties(priority: 2))
        h.publish("two", routingKey: "q")
        let data = h.state.snapshotData()
        var target = Self.richHarness().state
        let before = target.snapshotData()
        for length in 0..<data.count {
            XCTAssertThrowsError(try target.restore(from: Array(data[0..<length])), "cut at \(length)")
        }
        XCTAssertThrowsError(try target.restore(from: data + [0]))
        var wrongVersion = data
        wrongVersion[0] = 99
        XCTAssertThrowsError(try target.restore(from: wrongVersion)) { XCTAssertEqual($0 as? BrokerCodecError, .unsupportedVersion(99)) }
        XCTAssertEqual(target.snapshotData(), before)

        var random = TestRandom(state: 42)
        for _ in 0..<3_000 {
            var damaged = data
            damaged[Int.random(in: 0..<damaged.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            var scratch = BrokerState()
            if (try? scratch.restore(from: damaged)) != nil {
                XCTAssertEqual(scratch.snapshotData(), damaged, "what restores re-snapshots identically")
            }
        }
    }

    func testEmptyStateSnapshot() throws {
        let state = BrokerState()
        var restored = BrokerState()
        try restored.restore(from: state.snapshotData())
        XCTAssertEqual(restored.exchangeNames(in: "/"), ["", "amq.direct", "amq.fanout", "amq.headers", "amq.match", "amq.topic"])
        XCTAssertEqual(restored.snapshotData(), state.snapshotData())
    }
}

final class LegacySnapshotTests: XCTestCase {
    /// The snapshot without the sections version 6 added after a queue's levels (held-back
    /// times and pending dead letters, both empty in `queue`): as version 5 wrote a queue
    /// without delayed retry, and version 4 too.
    static func withoutVersion6Sections(_ data: [UInt8], queue: Queue) throws -> [UInt8] {
        var levels = ByteWriter(capacity: 256)
        for level in 0..<queue.priorityLevels { levels.messages(queue.level(level)) }
        let range = try XCTUnwrap(data.firstRange(of: levels.bytes + [0, 0]), "the queue's levels and empty sections")
        var old = data
        old.removeSubrange((range.upperBound - 2)..<range.upperBound)
        return old
    }

    /// The snapshot as version 4 wrote it: a quorum queue had a classic queue's levels,
    /// `levels` of them, of which this version's snapshot holds `present` from `first` on.
    private func asVersion4(_ data: [UInt8], queue: Queue, first: Int, present: Int) throws -> [UInt8] {
        var levels = ByteWriter(capacity: 256)
        for level in first..<(first + present) { levels.messages(queue.level(level)) }
        var written = ByteWriter(capacity: 256)
        for _ in 0..<first { written.count(0) }
        for byte in levels.bytes { written.byte(byte) }
        for _ in (first + present)..<queue.priorityLevels { written.count(0) }
        // Then version 6's held-back times and pending dead letters, none here.
        written.count(0)
        written.count(0)
        let range = try XCTUnwrap(data.firstRange(of: written.bytes), "the queue's levels as this version writes them")
        var old = data
        old.replaceSubrange(range, with: levels.bytes)
        // Nor had it the (empty) delayed section at the end.
        XCTAssertEqual(old.suffix(2), [0, 0])
        old.removeLast(2)
        old[0] = 4
        return old
    }

    func testAQuorumQueueWithoutPrioritiesMovesItsMessagesToTheDefaultLevel() throws {
        var h = Harness()
        h.declareQueue("qq", arguments: ["x-queue-type": "quorum"])
        for n in 0..<5 { h.publish("m\(n)", routingKey: "qq") }
        let queue = try XCTUnwrap(h.state.queue(q("qq")))
        XCTAssertEqual(h.messages("qq").map(\.priority), Array(repeating: QueueSettings.quorumPriorityDefault, count: 5))
        let current = h.state.snapshotData()
        let old = try asVersion4(current, queue: queue, first: Int(QueueSettings.quorumPriorityDefault), present: 1)

        var restored = BrokerState()
        try restored.restore(from: old)
        XCTAssertEqual(restored.queue(q("qq"))?.messages, queue.messages)
        XCTAssertEqual(restored.snapshotData(), current)
    }

    func testAQuorumQueueWithMaxPriorityKeepsEachMessagesLevel() throws {
        var h = Harness()
        h.declareQueue("qq", arguments: ["x-queue-type": "quorum", "x-max-priority": .int32(2)])
        for n in 0..<6 { h.publish("m\(n)", routingKey: "qq", properties: BasicProperties(priority: UInt8(n % 3))) }
        let queue = try XCTUnwrap(h.state.queue(q("qq")))
        let current = h.state.snapshotData()
        let old = try asVersion4(current, queue: queue, first: 0, present: 3)

        var restored = BrokerState()
        try restored.restore(from: old)
        XCTAssertEqual(restored.queue(q("qq"))?.messages.map(\.priority), [2, 2, 1, 1, 0, 0])
        XCTAssertEqual(restored.snapshotData(), current)
    }
}
