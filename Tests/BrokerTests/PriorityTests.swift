import XCTest

@testable import Broker

final class PriorityTests: XCTestCase {
    func testHigherPriorityFirstFIFOWithin() throws {
        var h = Harness()
        h.declareQueue("q", arguments: ["x-max-priority": .int32(5)])
        let published: [(String, UInt8?)] = [("low1", 1), ("top1", 5), ("mid", 3), ("top2", 5), ("none", nil), ("capped", 200), ("low2", 1)]
        for (body, priority) in published { h.publish(body, routingKey: "q", properties: BasicProperties(priority: priority)) }
        XCTAssertEqual(h.bodies("q"), ["top1", "top2", "capped", "mid", "low1", "low2", "none"])

        var dispatcher = Dispatcher(state: h.state, now: h.now)
        let channel = ChannelID(connection: "c", number: 1)
        _ = try dispatcher.consume(ConsumeRequest(channel: channel, queue: q("q"), consumerTag: "t"), state: h.state, now: h.now)
        let output = dispatcher.dispatch(state: h.state, now: h.now)
        XCTAssertEqual(h.held(output.deliveries).map(bodyText), ["top1", "top2", "capped", "mid", "low1", "low2", "none"])

        // A requeued message goes back ahead of newer ones of its priority.
        let mid = try XCTUnwrap(h.held(output.deliveries).first { bodyText($0) == "mid" })
        let proposals = try dispatcher.nack(channel: channel, deliveryTag: mid.deliveryTag, multiple: false, requeue: true, now: h.now)
        h.publish("mid2", routingKey: "q", properties: BasicProperties(priority: 3))
        _ = dispatcher.observe(h.apply(proposals[0]), state: h.state)
        h.publish("top3", routingKey: "q", properties: BasicProperties(priority: 4))
        let effects = h.publish("mid3", routingKey: "q", properties: BasicProperties(priority: 3))
        _ = dispatcher.observe(effects, state: h.state)
        XCTAssertEqual(h.held(dispatcher.dispatch(state: h.state, now: h.now).deliveries).map(bodyText), ["top3", "mid", "mid2", "mid3"])
    }

    func testQueuesWithoutPrioritiesIgnoreThem() {
        var h = Harness()
        h.declareQueue("q")
        h.publish("a", routingKey: "q", properties: BasicProperties(priority: 1))
        h.publish("b", routingKey: "q", properties: BasicProperties(priority: 9))
        XCTAssertEqual(h.bodies("q"), ["a", "b"])
        XCTAssertEqual(h.messages("q").map(\.priority), [0, 0])
    }

    func testQuorumQueuesServeThirtyTwoPrioritiesWithoutAnArgument() {
        var h = Harness()
        h.declareQueue("qq", arguments: ["x-queue-type": "quorum"])
        let published: [(String, UInt8?)] = [("zero", 0), ("none", nil), ("top", 31), ("capped", 200), ("five", 5), ("four", 4)]
        for (body, priority) in published { h.publish(body, routingKey: "qq", properties: BasicProperties(priority: priority)) }
        XCTAssertEqual(h.bodies("qq"), ["top", "capped", "five", "none", "four", "zero"])
        XCTAssertEqual(h.messages("qq").map(\.priority), [31, 31, 5, 4, 4, 0], "no priority counts as 4, beyond 31 as 31")
    }

    func testQuorumQueuesIgnoreMaxPriority() {
        var h = Harness()
        h.declareQueue("qq", arguments: ["x-queue-type": "quorum", "x-max-priority": .int32(2)])
        h.publish("three", routingKey: "qq", properties: BasicProperties(priority: 3))
        h.publish("nine", routingKey: "qq", properties: BasicProperties(priority: 9))
        XCTAssertEqual(h.bodies("qq"), ["nine", "three"])
    }

    func testAQuorumQueueServesReturnsFirstInTheOrderReturned() throws {
        var leader = Leader()
        leader.h.declareQueue("qq", arguments: ["x-queue-type": "quorum"])
        leader.publish("low", to: "qq", properties: BasicProperties(priority: 1))
        leader.publish("high1", to: "qq", properties: BasicProperties(priority: 9))
        leader.publish("high2", to: "qq", properties: BasicProperties(priority: 9))
        _ = leader.consume("qq", channel: channel())
        let first = leader.dispatch()
        XCTAssertEqual(first.map(bodyText), ["high1", "high2", "low"])

        // Returned high2, then low: they come back in that order, ahead of a newer high one.
        let tags = Dictionary(uniqueKeysWithValues: first.map { (bodyText($0), $0.deliveryTag) })
        for body in ["high2", "low"] {
            leader.commit(try leader.dispatcher.nack(channel: channel(), deliveryTag: try XCTUnwrap(tags[body]), multiple: false, requeue: true, now: 0))
        }
        leader.publish("high3", to: "qq", properties: BasicProperties(priority: 9))
        XCTAssertEqual(leader.dispatch().map(bodyText), ["high2", "low", "high3"])
    }

    func testAClassicQueueReturnsAMessageToItsPlaceInItsPriority() throws {
        var leader = Leader()
        leader.h.declareQueue("q", arguments: ["x-max-priority": .int32(9)])
        leader.publish("low", to: "q", properties: BasicProperties(priority: 1))
        leader.publish("high", to: "q", properties: BasicProperties(priority: 9))
        _ = leader.consume("q", channel: channel())
        let first = leader.dispatch()
        XCTAssertEqual(first.map(bodyText), ["high", "low"])
        for delivery in first.reversed() {
            leader.commit(try leader.dispatcher.nack(channel: channel(), deliveryTag: delivery.deliveryTag, multiple: false, requeue: true, now: 0))
        }
        XCTAssertEqual(leader.dispatch().map(bodyText), ["high", "low"])
    }
}
