import XCTest

@testable import Broker

/// How the state holds queued messages: forty bytes each in memory, records placed in the
/// queue's store by a rule every replica computes alike, and runs of chunks that stay
/// ordered through any mix of appends and removals.
final class MessageStorageTests: XCTestCase {
    func testAQueuedMessageTakesFortyBytes() {
        XCTAssertEqual(MemoryLayout<QueuedMessage>.stride, 40)
    }

    func testRecordsNeverStraddleASegmentAndALargeOneHasItsSegmentsToItself() {
        let segment = 1_000
        XCTAssertEqual(Queue.place(bytes: 300, at: 0, segmentBytes: segment).position, 0)
        XCTAssertEqual(Queue.place(bytes: 300, at: 900, segmentBytes: segment).position, 1_000, "it would straddle: the next segment")
        XCTAssertEqual(Queue.place(bytes: 100, at: 900, segmentBytes: segment).next, 1_000, "it fits exactly")
        let large = Queue.place(bytes: 2_500, at: 1_200, segmentBytes: segment)
        XCTAssertEqual(large.position, 2_000)
        XCTAssertEqual(large.next, 5_000, "segments 2, 3 and 4 are the large record's")
        XCTAssertEqual(Queue.place(bytes: 10, at: large.next, segmentBytes: segment).position, 5_000)
    }

    /// The stored positions follow the rule, record after record, in every store.
    func testEveryStoredRecordLiesWhereThePlacementRulePutsIt() {
        var limits = BrokerLimits()
        limits.storeSegmentBytes = 4_096
        var h = Harness(limits: limits)
        h.declareQueue("q")
        h.declareQueue("other")
        var cursor: UInt64 = 0
        for n in 0..<200 {
            h.publish(String(repeating: "x", count: (n * 97) % 3_000), routingKey: n % 5 == 0 ? "other" : "q")
        }
        for message in h.messages("q") {
            let placed = Queue.place(bytes: message.recordBytes, at: cursor, segmentBytes: limits.storeSegmentBytes)
            XCTAssertEqual(message.position, placed.position)
            cursor = placed.next
        }
        XCTAssertEqual(h.state.queue(q("q"))?.storeCursor, cursor)
        XCTAssertNotEqual(h.state.queue(q("q"))?.storeID, h.state.queue(q("other"))?.storeID)
    }

    /// A run keeps every live message in id order through appends and removals anywhere,
    /// and lookups find exactly the live ones: checked against a plain array.
    func testARunAgreesWithAPlainListThroughRandomAppendsAndRemovals() {
        var run = MessageRun()
        var model: [QueuedMessage] = []
        var random = TestRandom(state: 77)
        var nextID: MessageID = 1
        for step in 0..<20_000 {
            if model.isEmpty || Int.random(in: 0..<10, using: &random) < 6 {
                let message = QueuedMessage(id: nextID, position: nextID * 10, recordBytes: 10, bodyBytes: 1, expiresAt: nil)
                nextID += UInt64.random(in: 1...3, using: &random)
                run.append(message)
                model.append(message)
            } else {
                // Mostly from the front, as consumers settle; sometimes anywhere.
                let index = Int.random(in: 0..<10, using: &random) < 7 ? 0 : Int.random(in: 0..<model.count, using: &random)
                let removed = model.remove(at: index)
                XCTAssertEqual(run.remove(removed.id), removed, "step \(step)")
                XCTAssertNil(run.remove(removed.id), "step \(step): removed once")
            }
            if step % 1_000 == 0 {
                XCTAssertEqual(run.all, model, "step \(step)")
                if let probe = model.randomElement(using: &random) {
                    XCTAssertEqual(run.message(probe.id), probe)
                    XCTAssertEqual(run.first(atOrAfter: probe.id)?.id, probe.id)
                    XCTAssertEqual(run.first(atOrAfter: probe.id + 1)?.id, model.first { $0.id > probe.id }?.id)
                    let limit = Int.random(in: 1...2_500, using: &random)
                    XCTAssertEqual(run.messages(atOrAfter: probe.id, limit: limit), Array(model.drop { $0.id < probe.id }.prefix(limit)))
                }
            }
            XCTAssertEqual(run.count, model.count)
            XCTAssertEqual(run.first, model.first)
        }
    }

    /// The cursor a snapshot's transfer follows visits every record once, in the order
    /// `forEachRecord` gives, across queues, priority levels and batches with holes.
    func testTheRecordCursorVisitsEveryRecordInTransferOrder() {
        var h = Harness()
        h.declareQueue("a")
        h.declareQueue("b", arguments: ["x-max-priority": .int32(2)])
        h.declareQueue("empty")
        for n in 0..<5_000 {
            h.publish("m\(n)", routingKey: n % 4 == 0 ? "b" : "a", properties: BasicProperties(priority: UInt8(n % 3)))
        }
        let ids = h.ids("a")
        h.apply(.settle(MessageBatch(queue: q("a"), ids: stride(from: 0, to: ids.count, by: 7).map { ids[$0] })))
        var expected: [RecordLocation] = []
        h.state.forEachRecord { expected.append($0) }
        var cursor = BrokerState.RecordCursor(h.state)
        var visited: [RecordLocation] = []
        while let location = cursor.next(in: h.state) { visited.append(location) }
        XCTAssertEqual(visited.count, h.state.queue(q("a"))!.messageCount + h.state.queue(q("b"))!.messageCount)
        XCTAssertEqual(visited, expected)
        XCTAssertNil(cursor.next(in: h.state), "it stays at the end")
    }

    func testUpdatingAMessageChangesItsDeliveryBookkeepingOnly() {
        var run = MessageRun()
        for id in MessageID(1)...3 { run.append(QueuedMessage(id: id, position: id * 100, recordBytes: 50, bodyBytes: 20, expiresAt: 99)) }
        XCTAssertTrue(run.update(2) {
            $0.deliveryCount = 4
            $0.redelivered = true
        })
        let updated = run.message(2)
        XCTAssertEqual(updated?.deliveryCount, 4)
        XCTAssertEqual(updated?.redelivered, true)
        XCTAssertEqual(updated?.position, 200)
        XCTAssertEqual(updated?.expiresAt, 99)
        XCTAssertFalse(run.update(9) { $0.deliveryCount = 1 })
    }

    /// A copy of the state (a snapshot being written) shares its chunks: changing the state
    /// afterwards leaves the copy as it was.
    func testACopyOfTheStateIsUnmovedByLaterChanges() {
        var h = Harness()
        h.declareQueue("q")
        for n in 0..<3_000 { h.publish("m\(n)", routingKey: "q") }
        let copy = h.state
        let ids = h.ids("q")
        h.apply(.settle(MessageBatch(queue: q("q"), ids: Array(ids.prefix(1_500)))))
        h.publish("late", routingKey: "q")
        XCTAssertEqual(copy.queue(q("q"))?.messageIDs, ids)
        XCTAssertEqual(h.state.queue(q("q"))?.messageCount, 1_501)
    }
}
