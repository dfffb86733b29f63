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
        for n in 1...2 { leader.publish("m\(n)", to: "q") }
        XCTAssertEqual(leader.dispatch().map(\.consumerTag), ["first", "second"])
    }
}
