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
}
