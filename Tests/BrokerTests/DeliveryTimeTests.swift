import XCTest

@testable import Broker

/// A message's own delivery time on a quorum queue (`x-opt-delivery-time`, or
/// `x-opt-delivery-delay` from its enqueue): held back by every replica alike, delivered
/// once due, blocking none behind it.
final class DeliveryTimeTests: XCTestCase {
    static func properties(_ headers: ArgumentTable) -> BasicProperties {
        var properties = BasicProperties()
        properties.headers = headers
        return properties
    }

    static func consumedLeader(queueType: String = "quorum") throws -> Leader {
        var leader = Leader()
        leader.h.declareQueue("q", arguments: ["x-queue-type": .string(queueType)])
        try leader.dispatcher.qos(channel: channel(), prefetchCount: 10, global: false)
        _ = leader.consume("q", channel: channel())
        return leader
    }

    func testTheHeadersGiveTheTime() {
        let at: Int64 = 1_000_000
        XCTAssertEqual(DeliveryTime.heldUntil([DeliveryTime.delayHeader: .int32(250)], enqueuedAt: at), at + 250)
        XCTAssertEqual(DeliveryTime.heldUntil([DeliveryTime.timeHeader: .int64(at + 900)], enqueuedAt: at), at + 900)
        XCTAssertEqual(
            DeliveryTime.heldUntil([DeliveryTime.timeHeader: .int64(at + 900), DeliveryTime.delayHeader: .int32(5)], enqueuedAt: at), at + 900,
            "the time wins")
        XCTAssertEqual(DeliveryTime.heldUntil([DeliveryTime.delayHeader: .int64(.max)], enqueuedAt: at), .max, "no overflow")
        let nothing: [ArgumentTable?] = [
            nil, [:], [DeliveryTime.delayHeader: .int32(0)], [DeliveryTime.delayHeader: .int32(-5)], [DeliveryTime.timeHeader: .int64(at)],
            [DeliveryTime.timeHeader: .int64(at - 1)], [DeliveryTime.delayHeader: "soon"], ["x-delay": .int32(500)],
        ]
        for headers in nothing { XCTAssertNil(DeliveryTime.heldUntil(headers, enqueuedAt: at), "\(String(describing: headers))") }
    }

    func testAMessageGoesOutAtItsTimeAndHoldsNoneBehindIt() throws {
        var leader = try Self.consumedLeader()
        let publishedAt = leader.h.now
        leader.publish("later", to: "q", properties: Self.properties([DeliveryTime.delayHeader: .int32(1_000)]))
        leader.publish("now", to: "q")
        XCTAssertEqual(leader.dispatch().map(bodyText), ["now"])
        XCTAssertEqual(leader.dispatcher.nextHeldBackReadyAt, publishedAt + 1_000, "the leader wakes for it")
        XCTAssertEqual(leader.dispatcher.readyCount(q("q"), state: leader.h.state, now: publishedAt + 999), 0)
        leader.h.now = publishedAt + 999
        XCTAssertEqual(leader.dispatch().map(bodyText), [])
        leader.h.now = publishedAt + 1_000
        let due = leader.dispatch()
        XCTAssertEqual(due.map(bodyText), ["later"])
        XCTAssertEqual(due.first?.redelivered, false)
    }

    func testAnAbsoluteTimeIsHeldByANewLeaderAndASnapshot() throws {
        var leader = try Self.consumedLeader()
        let dueAt = leader.h.now + 60_000
        leader.publish("m", to: "q", properties: Self.properties([DeliveryTime.timeHeader: .int64(dueAt)]))
        XCTAssertEqual(leader.dispatch().map(bodyText), [])
        var restored = BrokerState()
        try restored.restore(from: leader.h.state.snapshotData())
        XCTAssertEqual(restored.queue(q("q"))?.heldUntil.values.first, dueAt)
        var next = Leader(leader.h)
        next.h.state = restored
        next.dispatcher = Dispatcher(state: restored, now: next.h.now)
        try next.dispatcher.qos(channel: channel("conn-2"), prefetchCount: 10, global: false)
        _ = next.consume("q", channel: channel("conn-2"))
        XCTAssertEqual(next.dispatch().map(bodyText), [])
        next.h.now = dueAt
        XCTAssertEqual(next.dispatch().map(bodyText), ["m"])
    }

    func testHeldMessagesAtTheCursorAreSteppedOverOnceAndThenGoOutAsReturns() throws {
        var leader = try Self.consumedLeader()
        let held = Self.properties([DeliveryTime.delayHeader: .int32(60_000)])
        for n in 0..<1_000 { leader.publish("h\(n)", to: "q", properties: held) }
        XCTAssertEqual(leader.dispatch().map(bodyText), [])
        let level = Int(QueueSettings.quorumPriorityDefault)
        let last = try XCTUnwrap(leader.h.ids("q").last)
        XCTAssertEqual(leader.dispatcher.queues[q("q")]?.cursor[level], last + 1, "a peek starts past them, not at the first")
        leader.publish("now", to: "q")
        XCTAssertEqual(leader.dispatch().map(bodyText), ["now"])
        leader.h.now += 60_000
        let due = leader.dispatch()
        XCTAssertEqual(due.count, 9, "the consumer's prefetch, \"now\" still unacknowledged")
        XCTAssertEqual(due.map(bodyText), (0..<9).map { "h\($0)" }, "in the order they were held")
    }

    func testAClassicQueueIgnoresTheHeaders() throws {
        var leader = try Self.consumedLeader(queueType: "classic")
        leader.publish("m", to: "q", properties: Self.properties([DeliveryTime.delayHeader: .int32(1_000)]))
        XCTAssertEqual(leader.dispatch().map(bodyText), ["m"])
    }

    func testAHeldMessageStillExpiresAndGoesToNoGet() throws {
        var leader = Leader()
        leader.h.declareQueue("q", arguments: ["x-queue-type": "quorum", "x-message-ttl": .int32(500)])
        leader.publish("m", to: "q", properties: Self.properties([DeliveryTime.delayHeader: .int32(1_000)]))
        let early = try leader.dispatcher.get(channel: channel(), queue: q("q"), noAck: false, state: leader.h.state, now: leader.h.now)
        XCTAssertNil(early.delivery)
        leader.h.now += 500
        let sweep = leader.dispatcher.sweep(state: leader.h.state, now: leader.h.now)
        leader.commit(sweep)
        XCTAssertEqual(leader.h.state.queue(q("q"))?.messageCount, 0, "its TTL ran out while it was held")
    }
}
