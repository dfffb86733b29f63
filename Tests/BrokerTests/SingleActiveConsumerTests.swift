import XCTest

@testable import Broker

final class SingleActiveConsumerTests: XCTestCase {
    func testOnlyTheFirstConsumerGetsMessagesUntilItLeaves() throws {
        var leader = Leader()
        leader.h.declareQueue("q", arguments: ["x-single-active-consumer": true])
        try leader.dispatcher.qos(channel: channel("c1"), prefetchCount: 2, global: false)
        _ = leader.consume("q", channel: channel("c1"), tag: "first")
        _ = leader.consume("q", channel: channel("c2"), tag: "second")
        XCTAssertEqual(leader.dispatcher.activeConsumer(q("q"))?.consumerTag, "first")
        for n in 1...5 { leader.publish("m\(n)", to: "q") }
        let first = leader.dispatch()
        XCTAssertEqual(first.map(\.consumerTag), ["first", "first"], "the active consumer's prefetch holds the rest back")
        XCTAssertEqual(first.map(bodyText), ["m1", "m2"])

        _ = try leader.dispatcher.ack(channel: channel("c1"), deliveryTag: 1, multiple: false)
        // The first consumer's channel closes with m2 unacknowledged: the second takes over, m2 first.
        leader.commit(leader.dispatcher.closeChannel(channel("c1"), state: leader.h.state, now: 0))
        XCTAssertEqual(leader.dispatcher.activeConsumer(q("q"))?.consumerTag, "second")
        let second = leader.dispatch()
        XCTAssertEqual(second.map(bodyText), ["m2", "m3", "m4", "m5"])
        XCTAssertEqual(second.map(\.consumerTag), Array(repeating: "second", count: 4))
        XCTAssertEqual(second.map(\.redelivered), [true, false, false, false])
    }

    func testWithoutSingleActiveConsumerBothShare() {
        var leader = Leader()
        leader.h.declareQueue("q")
        _ = leader.consume("q", channel: channel("c1"), tag: "first")
        _ = leader.consume("q", channel: channel("c2"), tag: "second")
        XCTAssertEqual(leader.dispatcher.consumerViews.map(\.isSingleActive), [nil, nil])
        for n in 1...2 { leader.publish("m\(n)", to: "q") }
        XCTAssertEqual(leader.dispatch().map(\.consumerTag), ["first", "second"])
    }

    func testAHigherPriorityConsumerTakesOverOnceTheActiveOneHoldsNothing() throws {
        var leader = Leader()
        leader.h.declareQueue("q", arguments: ["x-single-active-consumer": true, "x-queue-type": "quorum"])
        _ = leader.consume("q", channel: channel("c1"), tag: "low")
        for n in 1...2 { leader.publish("m\(n)", to: "q") }
        XCTAssertEqual(leader.dispatch().map(\.consumerTag), ["low", "low"])

        _ = leader.consume("q", channel: channel("c2"), tag: "high", arguments: ["x-priority": .int32(5)])
        leader.publish("m3", to: "q")
        XCTAssertEqual(leader.dispatch().count, 0, "nothing goes out while the active consumer holds deliveries")
        XCTAssertEqual(leader.dispatcher.activeConsumer(q("q"))?.consumerTag, "low")

        leader.commit(try leader.dispatcher.ack(channel: channel("c1"), deliveryTag: 1, multiple: false))
        XCTAssertEqual(leader.dispatch().count, 0, "one delivery is still out")
        leader.commit(try leader.dispatcher.ack(channel: channel("c1"), deliveryTag: 2, multiple: false))
        let after = leader.dispatch()
        XCTAssertEqual(after.map(\.consumerTag), ["high"])
        XCTAssertEqual(after.map(bodyText), ["m3"])
        XCTAssertEqual(leader.dispatcher.activeConsumer(q("q"))?.consumerTag, "high")
    }

    func testWhenTheActiveConsumerLeavesTheHighestPriorityEarliestTakesOver() {
        var leader = Leader()
        leader.h.declareQueue("q", arguments: ["x-single-active-consumer": true])
        _ = leader.consume("q", channel: channel("c1"), tag: "first")
        _ = leader.consume("q", channel: channel("c2"), tag: "plain")
        _ = leader.consume("q", channel: channel("c3"), tag: "urgent1", arguments: ["x-priority": .int32(3)])
        _ = leader.consume("q", channel: channel("c4"), tag: "urgent2", arguments: ["x-priority": .int32(3)])
        XCTAssertEqual(leader.dispatcher.activeConsumer(q("q"))?.consumerTag, "first", "the first to subscribe starts active")
        _ = leader.dispatcher.cancel(channel: channel("c1"), consumerTag: "first", state: leader.h.state, now: 0)
        XCTAssertEqual(leader.dispatcher.activeConsumer(q("q"))?.consumerTag, "urgent1")
        leader.publish("m", to: "q")
        XCTAssertEqual(leader.dispatch().map(\.consumerTag), ["urgent1"])
        _ = leader.dispatcher.cancel(channel: channel("c3"), consumerTag: "urgent1", state: leader.h.state, now: 0)
        XCTAssertEqual(leader.dispatcher.activeConsumer(q("q"))?.consumerTag, "urgent2")
        XCTAssertEqual(
            leader.dispatcher.consumerViews.map { [$0.tag: $0.isSingleActive] }, [["plain": false], ["urgent2": true]],
            "the management API's active and waiting consumers")
    }
}
