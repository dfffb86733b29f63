import XCTest

@testable import Broker

final class TTLTests: XCTestCase {
    func testQueueTTLSetsExpiryAndExpireRemovesOnlyDueMessages() {
        var h = Harness()
        h.declareQueue("q", arguments: ["x-message-ttl": .int32(1_000)])
        let start = h.now
        h.publish("a", routingKey: "q")
        h.now += 500
        h.publish("b", routingKey: "q")
        XCTAssertEqual(h.messages("q").map(\.expiresAt), [start + 1_000, start + 1_500])
        let ids = h.ids("q")

        let early = h.apply(.expire(Expiry(timestamp: start + 999, messages: [MessageBatch(queue: q("q"), ids: ids)])))
        XCTAssertEqual(early, [])
        let due = h.apply(.expire(Expiry(timestamp: start + 1_000, messages: [MessageBatch(queue: q("q"), ids: ids)])))
        XCTAssertEqual(removed(due).map(\.1), [[ids[0]]])
        XCTAssertEqual(removed(due).map(\.2), [.expired])
        XCTAssertEqual(h.bodies("q"), ["b"])
    }

    func testPerMessageExpirationTakesTheLowerOfTheTwo() {
        var h = Harness()
        h.declareQueue("q", arguments: ["x-message-ttl": .int32(1_000)])
        h.declareQueue("plain")
        h.publish("short", routingKey: "q", properties: BasicProperties(expiration: "200"))
        h.publish("long", routingKey: "q", properties: BasicProperties(expiration: "5000"))
        h.publish("own", routingKey: "plain", properties: BasicProperties(expiration: "300"))
        h.publish("forever", routingKey: "plain")
        XCTAssertEqual(h.messages("q").map(\.expiresAt), [h.now + 200, h.now + 1_000])
        XCTAssertEqual(h.messages("plain").map(\.expiresAt), [h.now + 300, nil])
        XCTAssertEqual(h.state.queue(q("plain"))?.expiringCount, 1)
    }

    func testExpiredMessagesAreDeadLetteredWithTheirOriginalExpiration() throws {
        var h = Harness()
        h.declareQueue("dead")
        h.declareQueue("q", arguments: ["x-dead-letter-exchange": ""] + ["x-dead-letter-routing-key": "dead"])
        h.publish("m", routingKey: "q", properties: BasicProperties(expiration: "100"))
        let id = h.ids("q")[0]
        let effects = h.apply(.expire(Expiry(timestamp: h.now + 100, messages: [MessageBatch(queue: q("q"), ids: [id])])))
        let record = try XCTUnwrap(deadLetters(effects).first)
        XCTAssertEqual(record.reason, .expired)
        XCTAssertEqual(record.copies.map(\.queue), [q("dead")])
        let dead = try XCTUnwrap(h.messages("dead").first)
        XCTAssertNil(dead.message.properties.expiration)
        XCTAssertNil(dead.expiresAt)
        let death = try XCTUnwrap(xDeath(dead.message).first)
        XCTAssertEqual(death["original-expiration"], "100")
        XCTAssertEqual(death.keys.first, "original-expiration")
        XCTAssertEqual(death["reason"], "expired")
    }

    func testUnusedQueuesExpire() {
        var h = Harness()
        h.declareQueue("idle", arguments: ["x-expires": .int32(60_000)])
        h.declareQueue("kept")
        let declaredAt = h.now
        let early = h.apply(.expire(Expiry(timestamp: declaredAt + 59_999, unusedQueues: [q("idle"), q("kept")])))
        XCTAssertEqual(deletedQueues(early), [])
        // A redeclaration restarts the idle time.
        h.now += 30_000
        h.declareQueue("idle", arguments: ["x-expires": .int32(60_000)])
        let afterRedeclare = h.apply(.expire(Expiry(timestamp: declaredAt + 60_000, unusedQueues: [q("idle")])))
        XCTAssertEqual(deletedQueues(afterRedeclare), [])
        let due = h.apply(.expire(Expiry(timestamp: declaredAt + 90_000, unusedQueues: [q("idle"), q("kept")])))
        XCTAssertEqual(deletedQueues(due), [q("idle")], "only queues with x-expires go")
    }

    func testSweepExpiresHeadsOnlyAndNotWhatIsOut() throws {
        var h = Harness()
        h.declareQueue("q")
        h.publish("a", routingKey: "q", properties: BasicProperties(expiration: "100"))
        h.publish("b", routingKey: "q", properties: BasicProperties(expiration: "100"))
        h.publish("c", routingKey: "q")
        h.publish("d", routingKey: "q", properties: BasicProperties(expiration: "100"))
        let ids = h.ids("q")
        var dispatcher = Dispatcher(state: h.state, now: h.now)
        let channel = ChannelID(connection: "c", number: 1)
        // "a" goes out before it expires.
        let get = try dispatcher.get(channel: channel, queue: q("q"), noAck: false, state: h.state, now: h.now)
        XCTAssertEqual(get.delivery?.messageID, ids[0])

        let sweep = dispatcher.sweep(state: h.state, now: h.now + 100)
        // "b" is at the head and expired; "c" never expires, so "d" behind it waits, as in quorum queues.
        XCTAssertEqual(sweep, [.expire(Expiry(timestamp: h.now + 100, messages: [MessageBatch(queue: q("q"), ids: [ids[1]])]))])
        let effects = h.apply(sweep[0])
        _ = dispatcher.observe(effects, state: h.state)
        XCTAssertEqual(h.bodies("q"), ["a", "c", "d"])
        XCTAssertEqual(dispatcher.sweep(state: h.state, now: h.now + 100), [], "nothing more at the head")
    }

    func testDispatcherNeverDeliversAnExpiredMessage() throws {
        var h = Harness()
        h.declareQueue("q", arguments: ["x-message-ttl": .int32(50)])
        h.publish("stale", routingKey: "q")
        h.now += 100
        h.publish("fresh", routingKey: "q")
        var dispatcher = Dispatcher(state: h.state, now: h.now)
        let channel = ChannelID(connection: "c", number: 1)
        _ = try dispatcher.consume(ConsumeRequest(channel: channel, queue: q("q")), state: h.state, now: h.now)
        let output = dispatcher.dispatch(state: h.state, now: h.now)
        XCTAssertEqual(h.held(output.deliveries).map(bodyText), ["fresh"])
        let staleID = h.ids("q")[0]
        XCTAssertEqual(output.proposals, [.expire(Expiry(timestamp: h.now, messages: [MessageBatch(queue: q("q"), ids: [staleID])]))])
    }

    func testIdleQueueSweep() throws {
        var h = Harness()
        h.declareQueue("idle", arguments: ["x-expires": .int32(1_000)])
        h.declareQueue("busy", arguments: ["x-expires": .int32(1_000)])
        var dispatcher = Dispatcher(state: h.state, now: h.now)
        _ = try dispatcher.consume(
            ConsumeRequest(channel: ChannelID(connection: "c", number: 1), queue: q("busy")), state: h.state, now: h.now)
        XCTAssertEqual(dispatcher.sweep(state: h.state, now: h.now + 999), [])
        XCTAssertEqual(dispatcher.sweep(state: h.state, now: h.now + 1_000), [.expire(Expiry(timestamp: h.now + 1_000, unusedQueues: [q("idle")]))])
    }
}

private func + (a: ArgumentTable, b: ArgumentTable) -> ArgumentTable {
    ArgumentTable(a.entries + b.entries)
}
