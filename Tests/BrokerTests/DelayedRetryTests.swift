import XCTest

@testable import Broker

/// RabbitMQ 4.3's delayed retry of quorum queues: a message given back is held until the
/// return's timestamp plus min × delivery count (at most max), by every replica alike.
final class DelayedRetryTests: XCTestCase {
    static func retrying(_ kind: String, min: Int32 = 100, max: Int32? = nil) -> ArgumentTable {
        var arguments: ArgumentTable = ["x-queue-type": "quorum", "x-delayed-retry-type": .string(kind), "x-delayed-retry-min": .int32(min)]
        if let max { arguments["x-delayed-retry-max"] = .int32(max) }
        return arguments
    }

    // MARK: Arguments

    func testArgumentsAreParsedAndMaxDefaultsToMin() throws {
        var h = Harness()
        h.declareQueue("grows", arguments: Self.retrying("all", min: 100, max: 250))
        h.declareQueue("flat", arguments: Self.retrying("failed", min: 100))
        h.declareQueue("off", arguments: ["x-queue-type": "quorum", "x-delayed-retry-type": "disabled", "x-delayed-retry-min": .int32(5)])
        XCTAssertEqual(h.state.queue(q("grows"))?.settings.delayedRetry, DelayedRetry(kind: .all, minMs: 100, maxMs: 250))
        XCTAssertEqual(h.state.queue(q("flat"))?.settings.delayedRetry, DelayedRetry(kind: .failed, minMs: 100, maxMs: 100))
        XCTAssertNil(try XCTUnwrap(h.state.queue(q("off"))).settings.delayedRetry)
    }

    func testInvalidArgumentsAreRefused() {
        let prefix = "invalid arg 'x-delayed-retry"
        let cases: [(ArgumentTable, String)] = [
            (["x-queue-type": "quorum", "x-delayed-retry-type": "sometimes"], "\(prefix)-type' for queue 'q' in vhost '/': invalid_delayed_retry_type"),
            (["x-queue-type": "quorum", "x-delayed-retry-type": .int8(1)], "\(prefix)-type' for queue 'q' in vhost '/': {unacceptable_type,byte}"),
            (["x-queue-type": "quorum", "x-delayed-retry-type": "all"], "\(prefix)-min' for queue 'q' in vhost '/': required_when_delayed_retry_enabled"),
            (Self.retrying("all", min: 0), "\(prefix)-min' for queue 'q' in vhost '/': {value_zero,0}"),
            (Self.retrying("all", min: -5), "\(prefix)-min' for queue 'q' in vhost '/': {value_negative,-5}"),
            (Self.retrying("all", min: 100, max: 99), "\(prefix)-max' for queue 'q' in vhost '/': {value_below_min,99}"),
            (["x-queue-type": "quorum", "x-delayed-retry-type": "all", "x-delayed-retry-min": .int64(BrokerState.delayMaxMs + 1)],
             "\(prefix)-min' for queue 'q' in vhost '/': {value_too_large,\(BrokerState.delayMaxMs + 1)}"),
            (["x-delayed-retry-type": "all", "x-delayed-retry-min": .int32(100)], "\(prefix)-type' for queue 'q' in vhost '/' of queue type classic"),
        ]
        for (arguments, text) in cases {
            var h = Harness()
            let effects = h.apply(.declareQueue(QueueDeclaration(name: "q", arguments: arguments, owner: h.owner, timestamp: h.now)))
            XCTAssertEqual(failure(effects)?.code, .preconditionFailed, text)
            XCTAssertEqual(failure(effects)?.message, text)
            XCTAssertNil(h.state.queue(q("q")))
        }
    }

    func testARedeclarationMustAgreeOnTheRetry() {
        var h = Harness()
        h.declareQueue("q", arguments: Self.retrying("all", min: 100))
        let effects = h.apply(.declareQueue(QueueDeclaration(name: "q", arguments: Self.retrying("all", min: 200), owner: h.owner, timestamp: h.now)))
        XCTAssertEqual(failure(effects)?.code, .preconditionFailed)
        XCTAssertEqual(failure(effects)?.message.contains("x-delayed-retry-min"), true)
    }

    // MARK: The replicated times

    func testTheDelayGrowsWithTheDeliveryCountAndStopsAtMax() throws {
        var h = Harness()
        h.declareQueue("q", arguments: Self.retrying("all", min: 100, max: 250))
        h.publish("m", routingKey: "q")
        let id = h.ids("q")[0]
        var delays: [Int64] = []
        for _ in 1...4 {
            h.apply(.requeue(MessageBatch(queue: q("q"), ids: [id]), timestamp: h.now, deliveryFailed: false))
            delays.append(try XCTUnwrap(h.state.queue(q("q"))?.heldUntil[id]) - h.now)
        }
        XCTAssertEqual(delays, [100, 200, 250, 250])
        XCTAssertEqual(h.messages("q").first?.deliveryCount, 4)
    }

    func testEachKindHoldsItsReturnsOnly() throws {
        let expected: [(kind: String, failed: Bool, held: Bool)] = [
            ("all", true, true), ("all", false, true), ("failed", true, true), ("failed", false, false),
            ("returned", true, false), ("returned", false, true),
        ]
        for case let (kind, failed, held) in expected {
            var h = Harness()
            h.declareQueue("q", arguments: Self.retrying(kind))
            h.publish("m", routingKey: "q")
            let id = h.ids("q")[0]
            h.apply(.requeue(MessageBatch(queue: q("q"), ids: [id]), timestamp: h.now, deliveryFailed: failed))
            XCTAssertEqual(h.state.queue(q("q"))?.heldUntil[id] != nil, held, "\(kind), failed: \(failed)")
        }
    }

    func testAReturnNotHeldClearsTheTimeOfAnEarlierOne() {
        var h = Harness()
        h.declareQueue("q", arguments: Self.retrying("failed"))
        h.publish("m", routingKey: "q")
        let id = h.ids("q")[0]
        h.apply(.requeue(MessageBatch(queue: q("q"), ids: [id]), timestamp: h.now, deliveryFailed: true))
        XCTAssertNotNil(h.state.queue(q("q"))?.heldUntil[id])
        h.apply(.requeue(MessageBatch(queue: q("q"), ids: [id]), timestamp: h.now, deliveryFailed: false))
        XCTAssertEqual(h.state.queue(q("q"))?.heldUntil, [:])
    }

    func testTheTimeGoesWithItsMessage() {
        var h = Harness()
        h.declareQueue("q", arguments: Self.retrying("all"))
        h.publish("m", routingKey: "q")
        let id = h.ids("q")[0]
        h.apply(.requeue(MessageBatch(queue: q("q"), ids: [id]), timestamp: h.now, deliveryFailed: true))
        h.apply(.settle(MessageBatch(queue: q("q"), ids: [id])))
        XCTAssertEqual(h.state.queue(q("q"))?.heldUntil, [:])
    }

    func testAFailedRequeueKeepsTheTagEveryRequeueHadBefore() throws {
        let batch = MessageBatch(queue: q("q"), ids: [3])
        let failed = BrokerCommand.requeue(batch, timestamp: 7, deliveryFailed: true).encoded()
        XCTAssertEqual(failed[1], 12, "older entries, all decoded as failed")
        let plain = BrokerCommand.requeue(batch, timestamp: 7, deliveryFailed: false).encoded()
        XCTAssertEqual(plain[1], 26)
        XCTAssertEqual(Array(plain[2...]), Array(failed[2...]))
        XCTAssertEqual(try BrokerCommand(decoding: plain), .requeue(batch, timestamp: 7, deliveryFailed: false))
    }

    // MARK: The dispatcher

    /// A leader whose quorum queue "q" retries after 100 ms (at most 300), with `bodies`
    /// published, consumed by one consumer of prefetch 1 on `channel()`.
    static func consumedLeader(_ bodies: [String], kind: String = "all") throws -> Leader {
        var leader = Leader()
        leader.h.declareQueue("q", arguments: Self.retrying(kind, min: 100, max: 300))
        for body in bodies { leader.publish(body, to: "q") }
        try leader.dispatcher.qos(channel: channel(), prefetchCount: 1, global: false)
        _ = leader.consume("q", channel: channel())
        return leader
    }

    func testAHeldMessageGoesToNoConsumerBeforeItsTimeAndThenAtOnce() throws {
        var leader = try Self.consumedLeader(["m"])
        XCTAssertEqual(leader.dispatch().map(bodyText), ["m"])
        let returnedAt = leader.h.now
        leader.commit(try leader.dispatcher.nack(channel: channel(), deliveryTag: 1, multiple: false, requeue: true, now: returnedAt))
        XCTAssertEqual(leader.dispatch().map(bodyText), [])
        XCTAssertEqual(leader.dispatcher.nextHeldBackReadyAt, returnedAt + 100)
        XCTAssertEqual(leader.dispatcher.readyCount(q("q"), state: leader.h.state, now: returnedAt + 99), 0, "held back, not ready")
        var fresh = Dispatcher(state: leader.h.state, now: returnedAt)
        XCTAssertEqual(fresh.readyCount(q("q"), state: leader.h.state, now: returnedAt + 99), 0,
                       "a new leader's count alike")
        XCTAssertEqual(leader.dispatcher.readyCount(q("q"), state: leader.h.state, now: returnedAt + 100), 1, "ready at its time")
        XCTAssertEqual(leader.h.state.queue(q("q"))?.messageCount, 1, "still in its queue")
        leader.h.now = returnedAt + 99
        XCTAssertEqual(leader.dispatch().map(bodyText), [])
        leader.h.now = returnedAt + 100
        let again = leader.dispatch()
        XCTAssertEqual(again.map(bodyText), ["m"])
        XCTAssertEqual(again.first?.redelivered, true)
        XCTAssertNil(leader.dispatcher.nextHeldBackReadyAt)
    }

    func testAHeldMessageGoesToNoGetBeforeItsTime() throws {
        var leader = Leader()
        leader.h.declareQueue("q", arguments: Self.retrying("all", min: 100))
        leader.publish("m", to: "q")
        let first = try leader.dispatcher.get(channel: channel(), queue: q("q"), noAck: false, state: leader.h.state, now: leader.h.now)
        XCTAssertNotNil(first.delivery)
        let returnedAt = leader.h.now
        leader.commit(try leader.dispatcher.reject(channel: channel(), deliveryTag: 1, requeue: true, now: returnedAt))
        let early = try leader.dispatcher.get(channel: channel(), queue: q("q"), noAck: false, state: leader.h.state, now: returnedAt + 99)
        XCTAssertNil(early.delivery)
        XCTAssertEqual(early.messageCount, 0)
        let due = try leader.dispatcher.get(channel: channel(), queue: q("q"), noAck: false, state: leader.h.state, now: returnedAt + 100)
        XCTAssertEqual(due.delivery?.messageID, first.delivery?.messageID)
    }

    func testAHeldMessageBlocksNoneBehindItAndGoesOutFirstWhenReady() throws {
        var leader = try Self.consumedLeader(["m1", "m2", "m3"])
        XCTAssertEqual(leader.dispatch().map(bodyText), ["m1"])
        let returnedAt = leader.h.now
        leader.commit(try leader.dispatcher.nack(channel: channel(), deliveryTag: 1, multiple: false, requeue: true, now: returnedAt))
        XCTAssertEqual(leader.dispatch().map(bodyText), ["m2"])
        leader.h.now = returnedAt + 100
        leader.commit(try leader.dispatcher.ack(channel: channel(), deliveryTag: 2, multiple: false))
        XCTAssertEqual(leader.dispatch().map(bodyText), ["m1"], "a returned message, first once ready")
        leader.commit(try leader.dispatcher.ack(channel: channel(), deliveryTag: 3, multiple: false))
        XCTAssertEqual(leader.dispatch().map(bodyText), ["m3"])
    }

    func testAClosedChannelsDeliveriesAreHeldAsFailedOnes() throws {
        var leader = try Self.consumedLeader(["m"], kind: "failed")
        XCTAssertEqual(leader.dispatch().map(bodyText), ["m"])
        leader.commit(leader.dispatcher.closeChannel(channel(), state: leader.h.state, now: leader.h.now))
        _ = leader.consume("q", channel: channel("conn-2"))
        XCTAssertEqual(leader.dispatch().map(bodyText), [])
        leader.h.now += 100
        XCTAssertEqual(leader.dispatch().map(bodyText), ["m"])
    }

    func testANewLeaderKeepsHoldingAndServesTheRestMeanwhile() throws {
        var leader = try Self.consumedLeader(["m1", "m2"])
        XCTAssertEqual(leader.dispatch().map(bodyText), ["m1"])
        let returnedAt = leader.h.now
        leader.commit(try leader.dispatcher.nack(channel: channel(), deliveryTag: 1, multiple: false, requeue: true, now: returnedAt))

        var next = Leader(leader.h)
        XCTAssertEqual(next.dispatcher.nextHeldBackReadyAt, nil, "no consumer yet")
        try next.dispatcher.qos(channel: channel("conn-2"), prefetchCount: 2, global: false)
        _ = next.consume("q", channel: channel("conn-2"))
        XCTAssertEqual(next.dispatcher.nextHeldBackReadyAt, returnedAt + 100)
        XCTAssertEqual(next.dispatch().map(bodyText), ["m2"])
        next.h.now = returnedAt + 100
        XCTAssertEqual(next.dispatch().map(bodyText), ["m1"])
    }

    func testASnapshotKeepsTheTimesAndARestoredLeaderHolds() throws {
        var leader = try Self.consumedLeader(["m1", "m2"])
        XCTAssertEqual(leader.dispatch().map(bodyText), ["m1"])
        let returnedAt = leader.h.now
        leader.commit(try leader.dispatcher.nack(channel: channel(), deliveryTag: 1, multiple: false, requeue: true, now: returnedAt))
        let data = leader.h.state.snapshotData()
        var restored = BrokerState()
        try restored.restore(from: data)
        XCTAssertEqual(restored.snapshotData(), data)
        XCTAssertEqual(restored.queue(q("q"))?.heldUntil, leader.h.state.queue(q("q"))?.heldUntil)
        XCTAssertEqual(restored.queue(q("q"))?.heldUntil.count, 1)

        var harness = leader.h
        harness.state = restored
        var next = Leader(harness)
        _ = next.consume("q", channel: channel("conn-2"))
        XCTAssertEqual(next.dispatch().map(bodyText), ["m2"])
        next.h.now = returnedAt + 100
        next.commit(try next.dispatcher.ack(channel: channel("conn-2"), deliveryTag: 1, multiple: false))
        XCTAssertEqual(next.dispatch().map(bodyText), ["m1"])
    }

    func testAHeldMessageStillExpires() throws {
        var leader = Leader()
        leader.h.declareQueue("q", arguments: Self.retrying("all", min: 10_000).merging(["x-message-ttl": .int32(500)]))
        leader.publish("m", to: "q")
        _ = leader.consume("q", channel: channel())
        XCTAssertEqual(leader.dispatch().map(bodyText), ["m"])
        leader.commit(try leader.dispatcher.nack(channel: channel(), deliveryTag: 1, multiple: false, requeue: true, now: leader.h.now))
        XCTAssertEqual(leader.dispatcher.sweep(state: leader.h.state, now: leader.h.now + 499), [])
        let sweep = leader.dispatcher.sweep(state: leader.h.state, now: leader.h.now + 500)
        let effects = leader.commit(sweep)
        XCTAssertEqual(removed(effects).map(\.2), [.expired])
        XCTAssertEqual(leader.h.bodies("q"), [])
        XCTAssertNil(leader.dispatcher.nextHeldBackReadyAt)
    }

    func testTheDeliveryLimitStillDeadLetters() throws {
        var leader = Leader()
        leader.h.declareQueue("q", arguments: Self.retrying("all").merging(["x-delivery-limit": .int32(0)]))
        leader.publish("m", to: "q")
        _ = leader.consume("q", channel: channel())
        XCTAssertEqual(leader.dispatch().map(bodyText), ["m"])
        let effects = leader.commit(try leader.dispatcher.nack(channel: channel(), deliveryTag: 1, multiple: false, requeue: true, now: leader.h.now))
        XCTAssertEqual(removed(effects).map(\.2), [.deliveryLimit])
        XCTAssertEqual(leader.h.state.queue(q("q"))?.heldUntil, [:])
    }
}

extension ArgumentTable {
    func merging(_ other: ArgumentTable) -> ArgumentTable {
        var merged = self
        for entry in other.entries { merged[entry.key] = entry.value }
        return merged
    }
}
