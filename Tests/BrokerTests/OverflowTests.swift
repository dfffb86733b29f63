import XCTest

@testable import Broker

final class OverflowTests: XCTestCase {
    func testDropHeadDropsTheOldest() {
        var h = Harness()
        h.declareQueue("q", arguments: ["x-max-length": .int32(2)])
        h.publish("1", routingKey: "q")
        h.publish("2", routingKey: "q")
        let first = h.ids("q")[0]
        let effects = h.publish("3", routingKey: "q")
        XCTAssertEqual(h.bodies("q"), ["2", "3"])
        XCTAssertEqual(removed(effects).map(\.1), [[first]])
        XCTAssertEqual(removed(effects).map(\.2), [.maxLength])
        XCTAssertEqual(outcomes(effects).first?.shouldConfirm, true, "drop-head still confirms the publish")
    }

    func testDropHeadByBytesAndDeadLettersTheHead() throws {
        var h = Harness()
        h.declareQueue("overflowed")
        h.declareQueue("q", arguments: ["x-max-length-bytes": .int32(10), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "overflowed"])
        h.publish("12345", routingKey: "q")
        h.publish("67890", routingKey: "q")
        let effects = h.publish("abc", routingKey: "q")
        XCTAssertEqual(h.bodies("q"), ["67890", "abc"])
        XCTAssertEqual(h.bodies("overflowed"), ["12345"])
        XCTAssertEqual(deadLetters(effects).map(\.reason), [.maxlen])
        let death = try XCTUnwrap(xDeath(h.messages("overflowed")[0].message).first)
        XCTAssertEqual(death["reason"], "maxlen")
        XCTAssertEqual(h.state.queue(q("q"))?.messageBytes, 8)
    }

    func testRejectPublishRefusesAndOtherQueuesStillStore() {
        var h = Harness()
        h.declareQueue("small", arguments: ["x-max-length": .int32(1), "x-overflow": "reject-publish"])
        h.declareQueue("big")
        h.bind("small", to: "amq.fanout")
        h.bind("big", to: "amq.fanout")
        let first = h.publish("1", exchange: "amq.fanout", routingKey: "", token: [1])
        XCTAssertEqual(outcomes(first).first?.shouldConfirm, true)
        let second = h.publish("2", exchange: "amq.fanout", routingKey: "", token: [2])
        let outcome = outcomes(second).first
        XCTAssertEqual(outcome?.publisherToken, [2])
        XCTAssertEqual(outcome?.rejected, [q("small")])
        XCTAssertEqual(outcome?.stored.map(\.queue), [q("big")])
        XCTAssertEqual(outcome?.shouldConfirm, false, "the publisher gets a nack")
        XCTAssertEqual(h.bodies("small"), ["1"])
        XCTAssertEqual(h.bodies("big"), ["1", "2"])
    }

    func testRejectPublishDeadLetterRefusesAndDeadLetters() throws {
        var h = Harness()
        h.declareQueue("dlq")
        h.declareQueue(
            "q", arguments: ["x-max-length": .int32(0), "x-overflow": "reject-publish-dlx", "x-dead-letter-exchange": "amq.direct"])
        h.bind("dlq", to: "amq.direct", key: "q")
        let effects = h.publish("m", routingKey: "q")
        XCTAssertEqual(outcomes(effects).first?.rejected, [q("q")])
        XCTAssertEqual(h.bodies("q"), [])
        XCTAssertEqual(h.bodies("dlq"), ["m"])
        let record = try XCTUnwrap(deadLetters(effects).first)
        XCTAssertNil(record.messageID)
        XCTAssertEqual(record.reason, .maxlen)
        let stored = h.messages("dlq")[0].message
        XCTAssertEqual(stored.exchange, "amq.direct")
        XCTAssertEqual(xDeath(stored).first?["queue"], "q")
    }

    func testQueueMessagesMaxBoundsEveryQueue() {
        var limits = BrokerLimits()
        limits.queueMessagesMax = 2
        var h = Harness(limits: limits)
        h.declareQueue("q")
        h.publish("1", routingKey: "q")
        h.publish("2", routingKey: "q")
        XCTAssertEqual(outcomes(h.publish("3", routingKey: "q")).first?.rejected, [q("q")])
    }

    func testTransientAndPersistentAreStoredAlike() {
        var h = Harness()
        h.declareQueue("q")
        h.publish("t", routingKey: "q", properties: BasicProperties(deliveryMode: 1))
        h.publish("p", routingKey: "q", properties: BasicProperties(deliveryMode: 2))
        XCTAssertEqual(h.bodies("q"), ["t", "p"])
    }
}
