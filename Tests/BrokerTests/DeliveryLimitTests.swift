import XCTest

@testable import Broker

final class DeliveryLimitTests: XCTestCase {
    func testRequeueCountsAndThenDeadLettersPastTheLimit() throws {
        var h = Harness()
        h.declareQueue("poison")
        h.declareQueue("q", arguments: ["x-delivery-limit": .int32(1), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "poison"])
        h.publish("m", routingKey: "q")
        let id = h.ids("q")[0]
        let first = h.apply(.requeue(MessageBatch(queue: q("q"), ids: [id]), timestamp: h.now, deliveryFailed: true))
        XCTAssertEqual(readyIDs(first, q("q")), [id])
        XCTAssertEqual(h.messages("q").first?.deliveryCount, 1)
        XCTAssertEqual(h.messages("q").first?.redelivered, true)

        let second = h.apply(.requeue(MessageBatch(queue: q("q"), ids: [id]), timestamp: h.now, deliveryFailed: true))
        XCTAssertEqual(removed(second).map(\.2), [.deliveryLimit])
        XCTAssertEqual(deadLetters(second).first?.reason, .deliveryLimit)
        XCTAssertEqual(h.bodies("q"), [])
        let dead = try XCTUnwrap(h.messages("poison").first)
        XCTAssertEqual(xDeath(dead.message).first?["reason"], "delivery_limit")
        XCTAssertEqual(dead.deliveryCount, 0, "a dead-lettered copy starts afresh")
    }

    func testRedeliveryCarriesXDeliveryCount() throws {
        var h = Harness()
        h.declareQueue("q", arguments: ["x-queue-type": "quorum"])
        var dispatcher = Dispatcher(state: h.state, now: h.now)
        _ = dispatcher.observe(h.publish("m", routingKey: "q"), state: h.state)
        let channel = ChannelID(connection: "c", number: 1)
        _ = try dispatcher.consume(ConsumeRequest(channel: channel, queue: q("q"), consumerTag: "t"), state: h.state, now: h.now)
        let first = h.held(try XCTUnwrap(dispatcher.dispatch(state: h.state, now: h.now).deliveries.first))
        XCTAssertNil(first.message.properties.headers?["x-delivery-count"])
        XCTAssertFalse(first.redelivered)
        for count in 1...3 {
            let proposals = try dispatcher.nack(channel: channel, deliveryTag: UInt64(count), multiple: false, requeue: true, now: h.now)
            XCTAssertEqual(proposals.count, 1)
            _ = dispatcher.observe(h.apply(proposals[0]), state: h.state)
            let again = h.held(try XCTUnwrap(dispatcher.dispatch(state: h.state, now: h.now).deliveries.first))
            XCTAssertTrue(again.redelivered)
            XCTAssertEqual(again.deliveryTag, UInt64(count + 1))
            XCTAssertEqual(again.message.properties.headers?["x-delivery-count"], .int64(Int64(count)))
        }
    }
}
