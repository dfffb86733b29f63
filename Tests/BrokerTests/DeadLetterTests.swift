import XCTest

@testable import Broker

final class DeadLetterTests: XCTestCase {
    func testRejectWritesXDeathAsRabbitMQDoes() throws {
        var h = Harness()
        h.declareExchange("dlx", .topic)
        h.declareQueue("dead")
        h.bind("dead", to: "dlx", key: "#")
        h.declareQueue("work", arguments: ["x-dead-letter-exchange": "dlx"])
        h.bind("work", to: "amq.direct", key: "jobs")
        h.publish("job", exchange: "amq.direct", routingKey: "jobs", properties: BasicProperties(headers: ["CC": .array(["cc-key"])]))
        let id = h.ids("work")[0]
        let timestamp = h.now + 2_500
        let effects = h.apply(.reject(MessageBatch(queue: q("work"), ids: [id]), timestamp: timestamp))

        XCTAssertEqual(removed(effects).map(\.2), [.rejected])
        let record = try XCTUnwrap(deadLetters(effects).first)
        XCTAssertEqual(record.source, q("work"))
        XCTAssertEqual(record.messageID, id)
        XCTAssertEqual(record.reason, .rejected)
        XCTAssertEqual(record.copies.map(\.queue), [q("dead")])
        XCTAssertEqual(readyIDs(effects, q("dead")), record.copies.map(\.id))

        let dead = try XCTUnwrap(h.messages("dead").first).message
        XCTAssertEqual(dead.exchange, "dlx")
        XCTAssertEqual(dead.routingKey, "jobs", "without x-dead-letter-routing-key the original keys route")
        let headers = try XCTUnwrap(dead.properties.headers)
        XCTAssertEqual(
            headers["x-death"],
            .array([
                .table([
                    "count": .int64(1), "reason": "rejected", "queue": "work", "time": .timestamp(UInt64(timestamp / 1000)),
                    "exchange": "amq.direct", "routing-keys": .array(["jobs", "cc-key"]),
                ])
            ]))
        XCTAssertEqual(headers["x-first-death-reason"], "rejected")
        XCTAssertEqual(headers["x-first-death-queue"], "work")
        XCTAssertEqual(headers["x-first-death-exchange"], "amq.direct")
        XCTAssertNil(headers["x-last-death-reason"], "RabbitMQ 3.10 writes no x-last-death-*")
        XCTAssertEqual(headers["CC"], .array(["cc-key"]))
    }

    /// The retry pattern: work rejects into wait, wait's TTL sends back to work. Each pass
    /// bumps the count of the (queue, reason) it repeats and moves it to the front.
    func testXDeathCountsRepeatsAndOrdersByRecency() throws {
        var h = Harness()
        h.declareQueue("work", arguments: ["x-dead-letter-exchange": "", "x-dead-letter-routing-key": "wait"])
        h.declareQueue("wait", arguments: ["x-message-ttl": .int32(10), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "work"])
        h.publish("m", routingKey: "work")
        for round in 1...3 {
            let workID = h.ids("work")[0]
            h.apply(.reject(MessageBatch(queue: q("work"), ids: [workID]), timestamp: h.now))
            let waitID = h.ids("wait")[0]
            let expired = h.apply(.expire(Expiry(timestamp: h.now + 10, messages: [MessageBatch(queue: q("wait"), ids: [waitID])])))
            XCTAssertEqual(deadLetters(expired).first?.copies.map(\.queue), [q("work")], "round \(round): not a cycle, a client rejected")
            let deaths = xDeath(h.messages("work")[0].message)
            XCTAssertEqual(deaths.map { $0["queue"] }, ["wait", "work"])
            XCTAssertEqual(deaths.map { $0["count"] }, [.int64(Int64(round)), .int64(Int64(round))])
            XCTAssertEqual(h.messages("work")[0].message.routingKey, "work")
            XCTAssertEqual(h.messages("work")[0].message.properties.headers?["x-first-death-queue"], "work")
        }
    }

    func testAutomaticCyclesAreDropped() throws {
        var h = Harness()
        h.declareQueue("loop", arguments: ["x-message-ttl": .int32(5), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "loop"])
        h.publish("m", routingKey: "loop")
        let id = h.ids("loop")[0]
        let effects = h.apply(.expire(Expiry(timestamp: h.now + 5, messages: [MessageBatch(queue: q("loop"), ids: [id])])))
        XCTAssertEqual(deadLetters(effects).first?.copies, [])
        XCTAssertEqual(h.bodies("loop"), [])
        // A rejection is not automatic: the same loop keeps the message.
        h.publish("n", routingKey: "loop")
        let second = h.ids("loop")[0]
        let rejected = h.apply(.reject(MessageBatch(queue: q("loop"), ids: [second]), timestamp: h.now))
        XCTAssertEqual(deadLetters(rejected).first?.copies.map(\.queue), [q("loop")])
    }

    func testAMissingDeadLetterExchangeDropsTheMessage() {
        var h = Harness()
        h.declareQueue("q", arguments: ["x-dead-letter-exchange": "nowhere"])
        h.publish("m", routingKey: "q")
        let effects = h.apply(.reject(MessageBatch(queue: q("q"), ids: h.ids("q")), timestamp: h.now))
        XCTAssertEqual(deadLetters(effects).map(\.copies), [[]])
        XCTAssertEqual(h.bodies("q"), [])
    }

    func testRejectWithoutDeadLetterExchangeDrops() {
        var h = Harness()
        h.declareQueue("q")
        h.publish("m", routingKey: "q")
        let effects = h.apply(.reject(MessageBatch(queue: q("q"), ids: h.ids("q")), timestamp: h.now))
        XCTAssertEqual(deadLetters(effects), [])
        XCTAssertEqual(removed(effects).map(\.2), [.rejected])
    }

    func testDeadLetterCascadeIsBounded() {
        var limits = BrokerLimits()
        limits.deadLetterHopsMax = 2
        var h = Harness(limits: limits)
        // Each queue holds one message and drops its head into the next.
        for index in 0..<4 {
            var arguments: ArgumentTable = ["x-max-length": .int32(1)]
            if index < 3 { arguments["x-dead-letter-exchange"] = ""; arguments["x-dead-letter-routing-key"] = .string("q\(index + 1)") }
            h.declareQueue("q\(index)", arguments: arguments)
        }
        for index in 0..<4 { h.publish("old\(index)", routingKey: "q\(index)") }
        let effects = h.publish("new", routingKey: "q0")
        XCTAssertEqual(h.bodies("q0"), ["new"])
        XCTAssertEqual(h.bodies("q1"), ["old0"])
        XCTAssertEqual(h.bodies("q2"), ["old1"])
        XCTAssertEqual(h.bodies("q3"), ["old3"], "the third hop is past the bound: old2 is dropped")
        XCTAssertEqual(deadLetters(effects).count, 3)
    }
}
