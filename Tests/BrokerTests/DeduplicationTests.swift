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
