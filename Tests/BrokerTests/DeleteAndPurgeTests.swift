import XCTest

@testable import Broker

final class DeleteAndPurgeTests: XCTestCase {
    func testDeleteIfEmptyAndIfUnused() {
        var h = Harness()
        h.declareQueue("q")
        h.bind("q", to: "amq.direct", key: "k")
        h.publish("a", routingKey: "q")
        h.publish("b", routingKey: "q")
        let notEmpty = h.apply(.deleteQueue(QueueDeletion(name: "q", ifEmpty: true)))
        XCTAssertEqual(failure(notEmpty)?.replyText, "PRECONDITION_FAILED - queue 'q' in vhost '/' not empty")
        let inUse = h.apply(.deleteQueue(QueueDeletion(name: "q", ifUnused: true, inUse: true)))
        XCTAssertEqual(failure(inUse)?.replyText, "PRECONDITION_FAILED - queue 'q' in vhost '/' in use")
        let deleted = h.apply(.deleteQueue(QueueDeletion(name: "q", ifUnused: true, inUse: false)))
        XCTAssertEqual(reply(deleted), .queueDeleted(messageCount: 2))
        XCTAssertEqual(deletedQueues(deleted), [q("q")])
        XCTAssertNil(h.state.queue(q("q")))
        XCTAssertEqual(h.state.bindings(in: "/"), [])
        XCTAssertEqual(reply(h.apply(.deleteQueue(QueueDeletion(name: "q")))), .queueDeleted(messageCount: 0), "deleting twice is fine")
    }

    /// As RabbitMQ: an if-empty delete and delete-ok's count count the ready messages, not
    /// those out at consumers.
    func testDeleteIfEmptyDoesNotCountMessagesOutAtConsumers() {
        var h = Harness()
        h.declareQueue("q")
        h.publish("out", routingKey: "q")
        h.publish("ready", routingKey: "q")
        let ids = h.ids("q")
        let oneReady = h.apply(.deleteQueue(QueueDeletion(name: "q", ifEmpty: true, outstanding: [ids[0]])))
        XCTAssertEqual(failure(oneReady)?.replyText, "PRECONDITION_FAILED - queue 'q' in vhost '/' not empty")
        _ = h.apply(.settle(MessageBatch(queue: q("q"), ids: [ids[1]])))
        // The id of a message settled meanwhile does not count either way.
        let deleted = h.apply(.deleteQueue(QueueDeletion(name: "q", ifEmpty: true, outstanding: [ids[0], ids[1]])))
        XCTAssertEqual(reply(deleted), .queueDeleted(messageCount: 0))
        XCTAssertNil(h.state.queue(q("q")))
    }

    func testAutoDeleteOnlyDeletesAutoDeleteQueues() {
        var h = Harness()
        h.declareQueue("plain")
        h.declareQueue("temp", autoDelete: true)
        let plain = h.apply(.deleteQueue(QueueDeletion(name: "plain", autoDeleteOnly: true)))
        XCTAssertEqual(deletedQueues(plain), [])
        XCTAssertNotNil(h.state.queue(q("plain")))
        let stillUsed = h.apply(.deleteQueue(QueueDeletion(name: "temp", inUse: true, autoDeleteOnly: true)))
        XCTAssertEqual(deletedQueues(stillUsed), [])
        let temp = h.apply(.deleteQueue(QueueDeletion(name: "temp", autoDeleteOnly: true)))
        XCTAssertEqual(deletedQueues(temp), [q("temp")])
    }

    func testPurgeReturnsTheCountAndKeepsWhatIsOut() {
        var h = Harness()
        h.declareQueue("q")
        for body in ["a", "b", "c", "d"] { h.publish(body, routingKey: "q") }
        let ids = h.ids("q")
        let purged = h.apply(.purge(QueuePurge(queue: q("q"), keeping: [ids[1]])))
        XCTAssertEqual(reply(purged), .purged(messageCount: 3))
        XCTAssertEqual(removed(purged).first?.1, [ids[0], ids[2], ids[3]])
        XCTAssertEqual(h.bodies("q"), ["b"])
        XCTAssertEqual(failure(h.apply(.purge(QueuePurge(queue: q("none")))))?.replyText, "NOT_FOUND - no queue 'none' in vhost '/'")
    }

    func testExclusiveQueuesGoWithTheirConnection() {
        var h = Harness()
        h.declareQueue("mine1", exclusive: true, owner: "conn-A")
        h.declareQueue("mine2", exclusive: true, owner: "conn-A")
        h.declareQueue("theirs", exclusive: true, owner: "conn-B")
        XCTAssertEqual(h.state.queuesOwned(by: "conn-A"), [q("mine1"), q("mine2")])
        XCTAssertEqual(h.state.exclusiveOwners, ["conn-A", "conn-B"])
        let effects = h.apply(.deleteQueuesOwned(by: "conn-A"))
        XCTAssertEqual(reply(effects), .ownedQueuesDeleted([q("mine1"), q("mine2")]))
        XCTAssertEqual(deletedQueues(effects), [q("mine1"), q("mine2")])
        XCTAssertEqual(h.state.queueNames(in: "/"), ["theirs"])
    }

    func testSettleRemovesOnlyNamedMessages() {
        var h = Harness()
        h.declareQueue("q")
        for body in ["a", "b", "c"] { h.publish(body, routingKey: "q") }
        let ids = h.ids("q")
        let effects = h.apply(.settle(MessageBatch(queue: q("q"), ids: [ids[0], ids[2], 999_999])))
        XCTAssertEqual(removed(effects).map(\.1), [[ids[0], ids[2]]])
        XCTAssertEqual(removed(effects).map(\.2), [.settled])
        XCTAssertEqual(h.bodies("q"), ["b"])
        XCTAssertEqual(h.apply(.settle(MessageBatch(queue: q("gone"), ids: [1]))), [])
    }

    func testMessageIDsAreNeverReusedAcrossQueueIncarnations() {
        var h = Harness()
        h.declareQueue("q")
        h.publish("a", routingKey: "q")
        let old = h.ids("q")
        h.apply(.deleteQueue(QueueDeletion(name: "q")))
        h.declareQueue("q")
        h.publish("b", routingKey: "q")
        XCTAssertGreaterThan(h.ids("q")[0], old[0])
        // A late settle of the old message cannot touch the new one.
        h.apply(.settle(MessageBatch(queue: q("q"), ids: old)))
        XCTAssertEqual(h.bodies("q"), ["b"])
    }
}
