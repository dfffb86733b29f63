import XCTest

@testable import Broker

/// RabbitMQ's at-least-once dead-lettering of quorum queues (`x-dead-letter-strategy:
/// at-least-once` with `x-overflow: reject-publish`): a dead-lettered message that some
/// target does not take stays in its source queue, never delivered, until a retry stores
/// it in every target.
final class AtLeastOnceDeadLetterTests: XCTestCase {
    static let source: ArgumentTable = [
        "x-queue-type": "quorum", "x-dead-letter-exchange": "dlx", "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    ]

    /// A source queue "src" dead-lettering to the direct exchange "dlx", which routes (by the
    /// message's own key "src") to "dlq", a queue of at most one message that refuses more.
    static func harness(sourceArguments: ArgumentTable = source) -> Harness {
        var h = Harness()
        h.declareExchange("dlx", .direct)
        h.declareQueue("src", arguments: sourceArguments)
        h.declareQueue("dlq", arguments: ["x-queue-type": "quorum", "x-max-length": .int32(1), "x-overflow": "reject-publish"])
        h.bind("dlq", to: "dlx", key: "src")
        return h
    }

    func reject(_ h: inout Harness, _ ids: [MessageID]) -> [BrokerEffect] {
        h.apply(.reject(MessageBatch(queue: q("src"), ids: ids), timestamp: h.now))
    }

    func retry(_ h: inout Harness, _ queues: [String] = ["src"], max: Int = 1_024, bytes: Int = 1 << 20) -> [BrokerEffect] {
        h.apply(.retryDeadLetters(DeadLetterRetry(timestamp: h.now, queues: queues.map { q($0) }, messagesMax: max, recordBytesMax: bytes)))
    }

    func testTheStrategyHoldsOnlyForAQuorumQueueWithRejectPublishAndAnExchange() throws {
        let cases: [(ArgumentTable, Bool)] = [
            (Self.source, true),
            (Self.source.merging(["x-overflow": "drop-head"]), false),
            (Self.source.merging(["x-dead-letter-strategy": "at-most-once"]), false),
            (Self.source.merging(["x-queue-type": "classic"]), false),
        ]
        for (arguments, expected) in cases {
            XCTAssertEqual(try QueueSettings.parse(arguments, for: q("q")).deadLettersAtLeastOnce, expected, "\(arguments)")
        }
        var noExchange = Self.source
        noExchange["x-dead-letter-exchange"] = nil
        XCTAssertFalse(try QueueSettings.parse(noExchange, for: q("q")).deadLettersAtLeastOnce)
    }

    func testARefusedCopyStaysInTheSourceUntilARetryForwardsIt() throws {
        var h = Self.harness()
        h.publish("filler", routingKey: "dlq")
        h.publish("m", routingKey: "src")
        let id = h.ids("src")[0]
        let effects = reject(&h, [id])
        XCTAssertEqual(deadLetters(effects).map(\.pending), [true])
        XCTAssertEqual(deadLetters(effects).first?.copies, [])
        XCTAssertTrue(removed(effects).contains { $0.0 == q("src") && $0.1 == [id] && $0.2 == .rejected }, "out of delivery")
        let source = try XCTUnwrap(h.state.queue(q("src")))
        XCTAssertEqual(source.messageCount, 1, "still held, and weighed against the limits")
        XCTAssertEqual(source.deliverableCount, 0)
        XCTAssertEqual(source.pendingDeadLetterCount, 1)
        XCTAssertEqual(source.pendingDeadLetterBytes, 1)
        XCTAssertEqual(source.pendingDeadLetter(id), PendingDeadLetter(reason: .rejected, deadAt: h.now))
        XCTAssertEqual(h.bodies("dlq"), ["filler"])

        // The target still full: nothing moves.
        h.now += 5_000
        XCTAssertEqual(deadLetters(retry(&h)).map(\.pending), [true])
        XCTAssertEqual(h.state.queue(q("src"))?.pendingDeadLetterCount, 1)

        // Room in the target: the retry forwards it and it leaves its source.
        let filler = h.ids("dlq")[0]
        h.apply(.settle(MessageBatch(queue: q("dlq"), ids: [filler])))
        let deadAt = h.now - 5_000
        h.now += 5_000
        let forwarded = retry(&h)
        XCTAssertEqual(deadLetters(forwarded).map(\.pending), [false])
        XCTAssertEqual(deadLetters(forwarded).first?.copies.map(\.queue), [q("dlq")])
        XCTAssertNil(h.state.queue(q("src"))?.message(id))
        XCTAssertEqual(h.state.queue(q("src"))?.messageCount, 0)
        XCTAssertEqual(h.state.queue(q("src"))?.pendingDeadLetterBytes, 0)
        let dead = try XCTUnwrap(h.messages("dlq").first?.message)
        XCTAssertEqual(String(decoding: dead.body, as: UTF8.self), "m")
        XCTAssertEqual(xDeath(dead).first?["reason"], "rejected")
        XCTAssertEqual(xDeath(dead).first?["time"], .timestamp(UInt64(deadAt / 1_000)), "the death's time is the first attempt's")
    }

    func testWithDropHeadARefusedCopyIsLostAsInRabbitMQ() {
        var h = Self.harness(sourceArguments: Self.source.merging(["x-overflow": "drop-head"]))
        h.publish("filler", routingKey: "dlq")
        h.publish("m", routingKey: "src")
        let effects = reject(&h, h.ids("src"))
        XCTAssertEqual(deadLetters(effects).map(\.pending), [false])
        XCTAssertEqual(h.state.queue(q("src"))?.messageCount, 0)
        XCTAssertEqual(h.bodies("dlq"), ["filler"])
    }

    func testAMissingOrUnroutingExchangeKeepsTheMessageUntilTheTopologyIsThere() throws {
        var h = Harness()
        h.declareQueue("src", arguments: Self.source)
        h.publish("m", routingKey: "src")
        XCTAssertEqual(deadLetters(reject(&h, h.ids("src"))).map(\.pending), [true], "no dead-letter exchange yet")
        h.declareExchange("dlx", .direct)
        XCTAssertEqual(deadLetters(retry(&h)).map(\.pending), [true], "an exchange that routes nowhere")
        h.declareQueue("dlq", arguments: ["x-queue-type": "quorum"])
        h.bind("dlq", to: "dlx", key: "src")
        XCTAssertEqual(deadLetters(retry(&h)).map(\.pending), [false])
        XCTAssertEqual(h.bodies("dlq"), ["m"])
        XCTAssertEqual(h.state.queue(q("src"))?.messageCount, 0)
    }

    func testARetryStoresOnlyInTheTargetsThatLackACopy() throws {
        var h = Self.harness()
        h.declareQueue("audit", arguments: ["x-queue-type": "quorum"])
        h.bind("audit", to: "dlx", key: "src")
        h.publish("filler", routingKey: "dlq")
        h.publish("m", routingKey: "src")
        let id = h.ids("src")[0]
        let first = reject(&h, [id])
        XCTAssertEqual(deadLetters(first).first?.copies.map(\.queue), [q("audit")])
        XCTAssertEqual(h.state.queue(q("src"))?.pendingDeadLetter(id)?.forwardedTo, [q("audit")])
        XCTAssertEqual(deadLetters(retry(&h)).first?.copies, [], "audit has it; dlq still full")
        h.apply(.settle(MessageBatch(queue: q("dlq"), ids: h.ids("dlq"))))
        XCTAssertEqual(deadLetters(retry(&h)).first?.copies.map(\.queue), [q("dlq")])
        XCTAssertEqual(h.bodies("audit"), ["m"], "one copy however often it was retried")
        XCTAssertEqual(h.bodies("dlq"), ["m"])
    }

    func testEveryReasonBesidesMaxlenIsHeldAlike() throws {
        // Expired and over the delivery limit; reject-publish never drops a head (maxlen).
        var h = Self.harness(sourceArguments: Self.source.merging(["x-message-ttl": .int32(10), "x-delivery-limit": .int32(0)]))
        h.publish("filler", routingKey: "dlq")
        h.publish("expiring", routingKey: "src")
        h.publish("returned", routingKey: "src")
        let (expiring, returned) = (h.ids("src")[0], h.ids("src")[1])
        h.apply(.requeue(MessageBatch(queue: q("src"), ids: [returned]), timestamp: h.now, deliveryFailed: true))
        h.now += 10
        h.apply(.expire(Expiry(timestamp: h.now, messages: [MessageBatch(queue: q("src"), ids: [expiring])], unusedQueues: [])))
        let source = try XCTUnwrap(h.state.queue(q("src")))
        XCTAssertEqual(source.pendingDeadLetter(returned)?.reason, .deliveryLimit)
        XCTAssertEqual(source.pendingDeadLetter(expiring)?.reason, .expired)
        XCTAssertEqual(source.pendingDeadLetterEntries.map(\.id), [returned, expiring], "in the order they were dead-lettered")
    }

    func testPendingDeadLettersWeighAgainstTheSourcesLimits() {
        var h = Self.harness(sourceArguments: Self.source.merging(["x-max-length": .int32(1)]))
        h.publish("filler", routingKey: "dlq")
        h.publish("m", routingKey: "src")
        _ = reject(&h, h.ids("src"))
        let refused = h.publish("n", routingKey: "src")
        XCTAssertEqual(outcomes(refused).first?.rejected, [q("src")], "a queue of only pending dead letters is full, as in RabbitMQ")
    }

    func testAPendingDeadLetterIsNeitherSettledRequeuedNorPurged() throws {
        var h = Self.harness()
        h.publish("filler", routingKey: "dlq")
        h.publish("m", routingKey: "src")
        h.publish("n", routingKey: "src")
        let (m, n) = (h.ids("src")[0], h.ids("src")[1])
        _ = reject(&h, [m])
        XCTAssertEqual(removed(h.apply(.settle(MessageBatch(queue: q("src"), ids: [m])))).count, 0)
        XCTAssertEqual(readyIDs(h.apply(.requeue(MessageBatch(queue: q("src"), ids: [m]), timestamp: h.now, deliveryFailed: true)), q("src")), [])
        XCTAssertEqual(deadLetters(reject(&h, [m])), [], "dead-lettered once")
        XCTAssertEqual(reply(h.apply(.purge(QueuePurge(queue: q("src"))))), .purged(messageCount: 1))
        XCTAssertEqual(h.ids("src"), [m])
        XCTAssertNil(h.state.queue(q("src"))?.message(n))
        XCTAssertEqual(h.state.queue(q("src"))?.pendingDeadLetterCount, 1)
    }

    func testAPendingDeadLetterIsNeverDelivered() throws {
        var leader = Leader(Self.harness())
        leader.publish("filler", to: "dlq")
        leader.publish("m", to: "src")
        leader.publish("n", to: "src")
        try leader.dispatcher.qos(channel: channel(), prefetchCount: 1, global: false)
        _ = leader.consume("src", channel: channel())
        XCTAssertEqual(leader.dispatch().map(bodyText), ["m"])
        leader.commit(try leader.dispatcher.reject(channel: channel(), deliveryTag: 1, requeue: false, now: leader.h.now))
        XCTAssertEqual(leader.dispatch().map(bodyText), ["n"])
        XCTAssertEqual(leader.dispatcher.readyCount(q("src"), state: leader.h.state, now: leader.h.now), 0)
        // A new leader starts from the replicated state alone.
        var next = Leader(leader.h)
        try next.dispatcher.qos(channel: channel("conn-2"), prefetchCount: 10, global: false)
        _ = next.consume("src", channel: channel("conn-2"))
        XCTAssertEqual(next.dispatch().map(bodyText), ["n"], "the pending dead letter stays out of delivery")
        XCTAssertEqual(next.dispatcher.readyCount(q("src"), state: next.h.state, now: next.h.now), 0)
    }

    func testTheSweepRetriesAtOnceAfterProgressAndBacksOffWithout() throws {
        var leader = Leader(Self.harness())
        leader.publish("filler", to: "dlq")
        leader.publish("m1", to: "src")
        leader.publish("m2", to: "src")
        leader.commit([.reject(MessageBatch(queue: q("src"), ids: leader.h.ids("src")), timestamp: leader.h.now)])
        func sweep() -> [BrokerCommand] {
            leader.dispatcher.sweep(state: leader.h.state, now: leader.h.now).filter {
                if case .retryDeadLetters = $0 { true } else { false }
            }
        }
        let first = sweep()
        XCTAssertEqual(first, [.retryDeadLetters(DeadLetterRetry(
            timestamp: leader.h.now, queues: [q("src")], messagesMax: 1_024, recordBytesMax: BrokerState.commandRecordBytesMax))])
        leader.commit(first)
        leader.h.now += 1_000
        XCTAssertEqual(sweep(), [], "nothing forwarded: it waits")
        leader.h.now += Dispatcher.deadLetterRetryBackoffMs
        let again = sweep()
        XCTAssertEqual(again.count, 1)
        leader.commit([.settle(MessageBatch(queue: q("dlq"), ids: leader.h.ids("dlq")))])
        leader.commit(again)
        XCTAssertEqual(leader.h.state.queue(q("src"))?.pendingDeadLetterCount, 1, "one forwarded, dlq full again")
        leader.h.now += 1_000
        XCTAssertEqual(sweep().count, 1, "some went: the next sweep tries again")
        leader.commit([.settle(MessageBatch(queue: q("dlq"), ids: leader.h.ids("dlq")))])
    }

    func testARetryTakesAtMostItsBoundAndPutsTheStillPendingAtTheBack() throws {
        var h = Self.harness()
        h.publish("filler", routingKey: "dlq")
        for body in ["a", "b", "c"] { h.publish(body, routingKey: "src") }
        let ids = h.ids("src")
        _ = reject(&h, ids)
        XCTAssertEqual(deadLetters(retry(&h, max: 2)).map(\.messageID), [ids[0], ids[1]])
        XCTAssertEqual(h.state.queue(q("src"))?.pendingDeadLetterEntries.map(\.id), [ids[2], ids[0], ids[1]])
    }

    func testARetryReadsBackAtMostItsBytesOverAllQueuesButAlwaysOneMessage() throws {
        var h = Self.harness()
        h.declareQueue("src2", arguments: Self.source)
        h.publish("filler", routingKey: "dlq")
        for body in ["a", "b"] {
            h.publish(String(repeating: body, count: 100), routingKey: "src")
            h.publish(String(repeating: body, count: 100), routingKey: "src2")
        }
        _ = reject(&h, h.ids("src"))
        h.apply(.reject(MessageBatch(queue: q("src2"), ids: h.ids("src2")), timestamp: h.now))
        let record = try XCTUnwrap(h.state.queue(q("src"))?.messages.first?.recordBytes)  // src2's are a byte longer (its routing key)
        XCTAssertEqual(deadLetters(retry(&h, ["src", "src2"], bytes: 1)).map(\.source), [q("src")], "the first alone, though larger")
        XCTAssertEqual(deadLetters(retry(&h, ["src", "src2"], bytes: 3 * record + 8)).map(\.source), [q("src"), q("src"), q("src2")])
    }

    func testSnapshotsKeepPendingDeadLetters() throws {
        var h = Self.harness()
        h.declareQueue("audit", arguments: ["x-queue-type": "quorum"])
        h.bind("audit", to: "dlx", key: "src")
        h.publish("filler", routingKey: "dlq")
        for body in ["a", "b"] { h.publish(body, routingKey: "src") }
        let ids = h.ids("src")
        _ = reject(&h, [ids[1]])
        _ = reject(&h, [ids[0]])
        let data = h.state.snapshotData()
        var restored = BrokerState()
        try restored.restore(from: data)
        XCTAssertEqual(restored.snapshotData(), data)
        let queue = try XCTUnwrap(restored.queue(q("src")))
        XCTAssertEqual(queue.pendingDeadLetterEntries.map(\.id), [ids[1], ids[0]])
        XCTAssertEqual(queue.pendingDeadLetter(ids[1])?.forwardedTo, [q("audit")])
        XCTAssertEqual(queue.pendingDeadLetterBytes, 2)
        XCTAssertEqual(queue.deliverableCount, 0)
        XCTAssertEqual(queue.message(ids[0])?.isDeadLettered, true)
        var records: [RecordLocation] = []
        restored.forEachRecord { records.append($0) }
        XCTAssertTrue(ids.allSatisfy { id in records.contains(queue.location(of: try! XCTUnwrap(queue.message(id)))) },
                      "their records stay referenced, so the store keeps them")
    }
}


/// Seeded runs of publishes, rejects, expiries, consumption of a small target, retries and
/// snapshot restores: every message dead-lettered is, at every step, either pending in its
/// source or in the target, never both and never twice; once the target drains and the
/// retries run, none is pending.
final class AtLeastOnceDeadLetterFuzzTests: XCTestCase {
    func testNoDeadLetterIsLostOrCopiedTwice() throws {
        var pendingSeen = 0
        for seed in UInt64(1)...25 {
            var random = TestRandom(state: seed)
            var h = Harness()
            h.declareExchange("dlx", .direct)
            h.declareQueue("src", arguments: AtLeastOnceDeadLetterTests.source.merging(["x-message-ttl": .int32(50)]))
            h.declareQueue("dlq", arguments: ["x-queue-type": "quorum", "x-max-length": .int32(3), "x-overflow": "reject-publish"])
            h.bind("dlq", to: "dlx", key: "src")
            var deadLettered: Set<String> = []
            var consumed: [String] = []
            var published = 0
            func retry() {
                h.apply(.retryDeadLetters(DeadLetterRetry(timestamp: h.now, queues: [q("src")], messagesMax: 4, recordBytesMax: 1 << 20)))
            }
            for _ in 0..<300 {
                h.now += Int64(random.next() % 20)
                switch random.next() % 7 {
                case 0, 1:
                    h.publish("m\(published)", routingKey: "src")
                    published += 1
                case 2:
                    let live = h.messages("src").filter { !$0.queued.isDeadLettered }
                    guard let victim = live.randomElement(using: &random) else { continue }
                    deadLettered.insert(String(decoding: victim.message.body, as: UTF8.self))
                    h.apply(.reject(MessageBatch(queue: q("src"), ids: [victim.id]), timestamp: h.now))
                case 3:
                    let expiring = h.messages("src").filter { !$0.queued.isDeadLettered && $0.queued.isExpired(at: h.now) }
                    for message in expiring { deadLettered.insert(String(decoding: message.message.body, as: UTF8.self)) }
                    h.apply(.expire(Expiry(timestamp: h.now, messages: [MessageBatch(queue: q("src"), ids: expiring.map(\.id))], unusedQueues: [])))
                case 4:
                    guard let head = h.messages("dlq").first else { continue }
                    consumed.append(String(decoding: head.message.body, as: UTF8.self))
                    h.apply(.settle(MessageBatch(queue: q("dlq"), ids: [head.id])))
                case 5:
                    retry()
                default:
                    var restored = BrokerState()
                    try restored.restore(from: h.state.snapshotData())
                    h.state = restored
                }
                let pending = h.messages("src").filter(\.queued.isDeadLettered).map { String(decoding: $0.message.body, as: UTF8.self) }
                let arrived = consumed + h.bodies("dlq")
                XCTAssertEqual(Set(pending).intersection(arrived), [], "seed \(seed): pending and forwarded both")
                XCTAssertEqual(arrived.count, Set(arrived).count, "seed \(seed): a copy twice")
                XCTAssertEqual(Set(pending).union(arrived), deadLettered, "seed \(seed): every dead letter pending or forwarded")
                XCTAssertEqual(h.state.queue(q("src"))?.pendingDeadLetterCount, pending.count, "seed \(seed)")
                pendingSeen = max(pendingSeen, pending.count)
            }
            for _ in 0..<published where h.state.queue(q("src"))?.pendingDeadLetterCount != 0 {
                h.apply(.settle(MessageBatch(queue: q("dlq"), ids: h.ids("dlq"))))
                retry()
            }
            XCTAssertEqual(h.state.queue(q("src"))?.pendingDeadLetterCount, 0, "seed \(seed): drained")
            XCTAssertEqual(h.state.queue(q("src"))?.pendingDeadLetterBytes, 0, "seed \(seed)")
        }
        XCTAssertGreaterThan(pendingSeen, 3, "the target was full often enough for dead letters to wait")
    }
}
