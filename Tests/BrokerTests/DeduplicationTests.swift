import XCTest

@testable import Broker

final class DeduplicationTests: XCTestCase {
    private func keyed(_ key: ArgumentValue) -> BasicProperties { BasicProperties(headers: [QueueSettings.deduplicationHeader: key]) }

    private func outcome(_ effects: [BrokerEffect]) throws -> PublishOutcome {
        let outcomes = effects.compactMap { effect -> PublishOutcome? in
            if case .published(let outcome) = effect { return outcome }
            return nil
        }
        return try XCTUnwrap(outcomes.first)
    }

    func testADuplicateOfAHeldMessageIsConfirmedAndDropped() throws {
        var h = Harness()
        h.declareQueue("q", arguments: ["x-message-deduplication": true])
        XCTAssertEqual(try outcome(h.publish("first", routingKey: "q", properties: keyed("order-7"))).stored.count, 1)
        let duplicate = try outcome(h.publish("again", routingKey: "q", properties: keyed("order-7")))
        XCTAssertTrue(duplicate.shouldConfirm, "a duplicate is confirmed")
        XCTAssertEqual(duplicate.stored, [])
        h.publish("other", routingKey: "q", properties: keyed(.int32(7)))
        h.publish("plain", routingKey: "q")
        h.publish("plain", routingKey: "q")
        XCTAssertEqual(h.bodies("q"), ["first", "other", "plain", "plain"], "keys of other types differ; messages without one are kept")
    }

    func testAKeyIsFreeAgainOnceItsMessageLeavesAndKeptWhileItComesBack() {
        var h = Harness()
        h.declareQueue("q", arguments: ["x-message-deduplication": true])
        h.publish("first", routingKey: "q", properties: keyed("k"))
        let id = h.ids("q")[0]
        h.apply(.requeue(MessageBatch(queue: q("q"), ids: [id]), timestamp: h.now, deliveryFailed: true))
        h.publish("while requeued", routingKey: "q", properties: keyed("k"))
        XCTAssertEqual(h.bodies("q"), ["first"])
        h.apply(.settle(MessageBatch(queue: q("q"), ids: [id])))
        h.publish("after", routingKey: "q", properties: keyed("k"))
        XCTAssertEqual(h.bodies("q"), ["after"])
    }

    func testQueuesWithoutTheArgumentKeepEveryCopy() {
        var h = Harness()
        h.declareQueue("q")
        h.publish("a", routingKey: "q", properties: keyed("k"))
        h.publish("b", routingKey: "q", properties: keyed("k"))
        XCTAssertEqual(h.bodies("q"), ["a", "b"])
    }

    func testTheArgumentMustBeABoolean() {
        var h = Harness()
        let effects = h.apply(.declareQueue(QueueDeclaration(name: "q", arguments: ["x-message-deduplication": "yes"], owner: h.owner, timestamp: h.now)))
        XCTAssertTrue(effects.contains { if case .failed(let error) = $0 { return error.code == .preconditionFailed } else { return false } })
    }

    func testASnapshotKeepsTheKeys() throws {
        var h = Harness()
        h.declareQueue("q", arguments: ["x-message-deduplication": true])
        for n in 0..<3 { h.publish("m\(n)", routingKey: "q", properties: keyed(.string("k\(n)"))) }
        h.publish("plain", routingKey: "q")
        let data = h.state.snapshotData()
        var restored = h
        restored.state = BrokerState()
        try restored.state.restore(from: data)
        XCTAssertEqual(restored.state.snapshotData(), data)
        restored.publish("again", routingKey: "q", properties: keyed("k1"))
        restored.publish("new", routingKey: "q", properties: keyed("k3"))
        XCTAssertEqual(restored.bodies("q"), ["m0", "m1", "m2", "plain", "new"])
    }
}

final class DeduplicationExchangeTests: XCTestCase {
    private func keyed(_ key: ArgumentValue, ttl: ArgumentValue? = nil) -> BasicProperties {
        var headers: ArgumentTable = [DeduplicationCache.keyHeader: key]
        if let ttl { headers[DeduplicationCache.ttlHeader] = ttl }
        return BasicProperties(headers: headers)
    }

    /// An x-message-deduplication exchange "dedup" bound to queues "a" and "b".
    private func harness(_ arguments: ArgumentTable) -> Harness {
        var h = Harness()
        h.declareExchange("dedup", .deduplication, arguments: arguments)
        for name in ["a", "b"] {
            h.declareQueue(name)
            h.bind(name, to: "dedup", key: name)
        }
        return h
    }

    private func refusal(_ arguments: ArgumentTable) -> String? {
        var h = Harness()
        let effects = h.apply(.declareExchange(ExchangeDeclaration(name: "dedup", type: .deduplication, arguments: arguments)))
        guard case .failed(let error)? = effects.first else { return nil }
        return error.replyText
    }

    func testTheWindowsArgumentsAreCheckedAsThePluginChecksThem() {
        XCTAssertEqual(refusal([:]), "PRECONDITION_FAILED - Missing or invalid argument, 'x-cache-size' must be an integer greater than 0")
        XCTAssertEqual(refusal(["x-cache-size": .int32(0)]), refusal([:]))
        XCTAssertNil(refusal(["x-cache-size": "100", "x-cache-ttl": "5000", "x-cache-persistence": "disk"]), "numbers may come as strings")
        XCTAssertEqual(
            refusal(["x-cache-size": .int32(10), "x-cache-ttl": .int32(-1)]),
            "PRECONDITION_FAILED - Invalid argument, 'x-cache-ttl' must be an integer greater than 0")
        XCTAssertEqual(
            refusal(["x-cache-size": .int32(10), "x-cache-persistence": "tape"]),
            "PRECONDITION_FAILED - Invalid argument, 'x-cache-persistence' must be either 'disk' or 'memory'")
        XCTAssertEqual(
            refusal(["x-cache-size": .int64(Int64(BrokerLimits().deduplicationCacheEntriesMax) + 1)]),
            "PRECONDITION_FAILED - Invalid argument, 'x-cache-size' must be at most \(BrokerLimits().deduplicationCacheEntriesMax)")
    }

    func testAKeySeenWithinTheWindowIsRoutedNowhereAndConfirmed() throws {
        var h = harness(["x-cache-size": .int32(10)])
        h.publish("first", exchange: "dedup", routingKey: "ignored", properties: keyed("k"))
        let duplicate = h.publish("again", exchange: "dedup", routingKey: "ignored", properties: keyed("k"))
        let outcome = try XCTUnwrap(duplicate.compactMap { if case .published(let o) = $0 { return o } else { return nil } }.first)
        XCTAssertTrue(outcome.shouldConfirm)
        XCTAssertEqual(outcome.stored, [])
        h.publish("plain", exchange: "dedup", routingKey: "ignored")
        h.publish("plain", exchange: "dedup", routingKey: "ignored")
        XCTAssertEqual(h.bodies("a"), ["first", "plain", "plain"], "routed as fanout; no header, no check")
        XCTAssertEqual(h.bodies("b"), h.bodies("a"))
    }

    func testAKeyIsAdmittedAgainOnceItsTTLIsOverTheMessagesOwnFirst() {
        var h = harness(["x-cache-size": .int32(10), "x-cache-ttl": .int32(1_000)])
        h.publish("k1", exchange: "dedup", routingKey: "", properties: keyed("k"))
        h.publish("short", exchange: "dedup", routingKey: "", properties: keyed("s", ttl: .int32(100)))
        h.now += 999
        h.publish("k2", exchange: "dedup", routingKey: "", properties: keyed("k"))
        h.publish("short again", exchange: "dedup", routingKey: "", properties: keyed("s"))
        h.now += 1
        h.publish("k3", exchange: "dedup", routingKey: "", properties: keyed("k"))
        XCTAssertEqual(h.bodies("a"), ["k1", "short", "short again", "k3"])
    }

    func testAFullWindowForgetsItsOldestKey() {
        var h = harness(["x-cache-size": .int32(2)])
        for key in ["x", "y", "z", "x", "z"] { h.publish(key, exchange: "dedup", routingKey: "", properties: keyed(.string(key))) }
        XCTAssertEqual(h.bodies("a"), ["x", "y", "z", "x"], "z pushed x out; x pushed y out and z stayed")
        XCTAssertEqual(h.state.exchange(ExchangeName("dedup"))?.deduplication?.keys.map(\.key), ["z", "x"])
    }

    func testASnapshotKeepsTheWindow() throws {
        var h = harness(["x-cache-size": .int32(3), "x-cache-ttl": .int32(60_000)])
        for key in ["p", "q", "r", "s"] { h.publish(key, exchange: "dedup", routingKey: "", properties: keyed(.string(key))) }
        let data = h.state.snapshotData()
        var restored = h
        restored.state = BrokerState()
        try restored.state.restore(from: data)
        XCTAssertEqual(restored.state.snapshotData(), data)
        XCTAssertEqual(restored.state.exchange(ExchangeName("dedup"))?.deduplication, h.state.exchange(ExchangeName("dedup"))?.deduplication)
        for key in ["s", "p"] { restored.publish(key + "'", exchange: "dedup", routingKey: "", properties: keyed(.string(key))) }
        XCTAssertEqual(restored.bodies("a"), ["p", "q", "r", "s", "p'"], "s is remembered; p had been pushed out")
    }
}
