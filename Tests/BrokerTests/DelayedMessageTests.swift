import XCTest

@testable import Broker

extension Harness {
    /// Publishes as the node does: a publish its x-delayed-message exchange holds is not
    /// routed now but carries its delay.
    @discardableResult
    mutating func publishDelayed(
        _ body: String, exchange: String = "delayed", routingKey: String = "k", headers: ArgumentTable = [:],
        file: StaticString = #filePath, line: UInt = #line
    ) -> [BrokerEffect] {
        let message = Message(
            exchange: exchange, routingKey: routingKey, properties: BasicProperties(headers: headers), body: Array(body.utf8))
        do {
            try state.validatePublish(vhost: "/", message: message)
            let delay = state.delay(of: message, vhost: "/")
            let queues = delay != nil ? [] : try state.route(vhost: "/", exchange: exchange, routingKey: routingKey, headers: headers)
            return apply(
                .enqueue(Enqueue(timestamp: now, messages: [Publish(message: message, queues: queues, publisherToken: Array(body.utf8), delay: delay)])),
                file: file, line: line)
        } catch {
            XCTFail("publish refused: \(error)", file: file, line: line)
            return []
        }
    }

    /// The leader's firing at `time`, if anything is due then.
    @discardableResult
    mutating func fire(at time: Int64, messagesMax: Int = 4_096, file: StaticString = #filePath, line: UInt = #line) -> [BrokerEffect] {
        apply(.fireDelayed(DelayedFiring(timestamp: time, messagesMax: messagesMax, recordBytesMax: 1 << 20)), file: file, line: line)
    }

    mutating func declareDelayed(_ name: String = "delayed", routing: String = "direct", file: StaticString = #filePath, line: UInt = #line) {
        declareExchange(name, .delayedMessage, arguments: ["x-delayed-type": .string(routing)], file: file, line: line)
    }
}

final class DelayedMessageTests: XCTestCase {
    func testDeclarationNeedsAKnownDelayedType() {
        var h = Harness()
        XCTAssertEqual(try ExchangeType.parse("x-delayed-message"), .delayedMessage)
        func declare(_ arguments: ArgumentTable, name: String = "d") -> [BrokerEffect] {
            h.apply(.declareExchange(ExchangeDeclaration(name: name, type: .delayedMessage, arguments: arguments)))
        }
        let plugin = "PRECONDITION_FAILED - Invalid argument, 'x-delayed-type' must bean existing exchnage type"
        XCTAssertEqual(failure(declare([:]))?.replyText, plugin)
        XCTAssertEqual(failure(declare(["x-delayed-type": .int32(1)]))?.replyText, plugin)
        XCTAssertEqual(failure(declare(["x-delayed-type": "nonsense"]))?.replyText, "PRECONDITION_FAILED - unknown exchange type 'nonsense'")
        XCTAssertEqual(
            failure(declare(["x-delayed-type": "x-delayed-message"]))?.replyText, "PRECONDITION_FAILED - unknown exchange type 'x-delayed-message'")
        XCTAssertNil(h.state.exchange(ExchangeName("d")), "nothing declared by a refusal")

        XCTAssertEqual(reply(declare(["x-delayed-type": "topic"])), .exchangeDeclared)
        let exchange = h.state.exchange(ExchangeName("d"))
        XCTAssertEqual(exchange?.type.name, "x-delayed-message")
        XCTAssertEqual(exchange?.routingType, .topic)
        XCTAssertEqual(exchange?.arguments["x-delayed-type"], "topic")
        XCTAssertEqual(reply(declare(["x-delayed-type": "topic"])), .exchangeDeclared, "an equivalent redeclaration")
        XCTAssertEqual(
            failure(declare(["x-delayed-type": "direct"]))?.replyText,
            "PRECONDITION_FAILED - inequivalent arg 'x-delayed-type' for exchange 'd' in vhost '/': received 'direct' but current is 'topic'")
        XCTAssertEqual(
            failure(h.apply(.declareExchange(ExchangeDeclaration(name: "d", type: .topic))))?.replyText,
            "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'd' in vhost '/': received 'topic' but current is 'x-delayed-message'")
        XCTAssertEqual(h.state.delayStore(of: ExchangeName("d"))?.exchange, ExchangeName("d"))
        XCTAssertNil(h.state.delayStore(of: ExchangeName("amq.direct")))
    }

    func testDelayIsReadAsThePluginReadsIt() {
        var h = Harness()
        h.declareDelayed()
        h.declareExchange("plain", .direct)
        func delay(_ value: ArgumentValue?, exchange: String = "delayed") -> Int64? {
            let headers: ArgumentTable? = value.map { ["x-delay": $0] }
            let message = Message(exchange: exchange, routingKey: "", properties: BasicProperties(headers: headers), body: [])
            return h.state.delay(of: message, vhost: "/")?.milliseconds
        }
        XCTAssertEqual(delay(.int32(1_000)), 1_000)
        XCTAssertEqual(delay(.uint8(7)), 7)
        XCTAssertEqual(delay(.int64(BrokerState.delayMaxMs)), BrokerState.delayMaxMs)
        XCTAssertEqual(delay("1500"), 1_500, "a string is parsed")
        XCTAssertEqual(delay(.double(2.9)), 2, "a float is cut to whole ms")
        XCTAssertEqual(delay(.decimal(scale: 2, value: 12_345)), 123)
        for routedAtOnce: ArgumentValue? in [nil, .int32(0), .int32(-5), .int64(BrokerState.delayMaxMs + 1), "soon", .bool(true), .void] {
            XCTAssertNil(delay(routedAtOnce), "\(String(describing: routedAtOnce))")
        }
        XCTAssertNil(delay(.int32(1_000), exchange: "plain"), "only an x-delayed-message exchange holds")
    }

    func testHeldUntilTheLeadersTimestampPlusTheDelay() {
        var h = Harness()
        h.declareDelayed()
        h.declareQueue("q")
        h.bind("q", to: "delayed", key: "k")
        let publishedAt = h.now
        let held = outcomes(h.publishDelayed("later", headers: ["x-delay": .int32(1_000), "BCC": .array(["q"])]))
        XCTAssertEqual(held.map(\.shouldConfirm), [true], "confirmed once in the log, before it fires")
        XCTAssertEqual(held.first?.stored, [])
        XCTAssertEqual(h.messages("q").count, 0)
        XCTAssertEqual(h.state.delayedMessageCount, 1)
        XCTAssertEqual(h.state.nextDelayedFireAt, publishedAt + 1_000)
        XCTAssertNil(h.state.delayedFiring(at: publishedAt + 999), "nothing is due before its time")
        XCTAssertNotNil(h.state.delayedFiring(at: publishedAt + 1_000))

        XCTAssertEqual(readyIDs(h.fire(at: publishedAt + 999), q("q")), [])
        XCTAssertEqual(h.bodies("q"), [])
        let fired = h.fire(at: publishedAt + 1_000)
        XCTAssertEqual(readyIDs(fired, q("q")).count, 1)
        XCTAssertEqual(h.bodies("q"), ["later"])
        let message = h.messages("q")[0].message
        XCTAssertEqual(message.properties.headers?["x-delay"], .int32(-1_000), "as the plugin marks a fired message")
        XCTAssertNil(message.properties.headers?["BCC"], "BCC routes, and is not delivered")
        XCTAssertEqual(message.exchange, "delayed")
        XCTAssertEqual(h.state.delayedMessageCount, 0)
        XCTAssertEqual(h.state.delayStore(of: ExchangeName("delayed"))?.messageCount, 0)
        XCTAssertEqual(readyIDs(h.fire(at: publishedAt + 5_000), q("q")), [], "a message fires once")
        XCTAssertEqual(h.bodies("q"), ["later"])
    }

    func testWithoutADelayItRoutesAtOnce() {
        var h = Harness()
        h.declareDelayed(routing: "fanout")
        h.declareQueue("q")
        h.bind("q", to: "delayed")
        h.publishDelayed("now")
        h.publishDelayed("zero", headers: ["x-delay": .int32(0)])
        h.publishDelayed("negative", headers: ["x-delay": .int32(-10)])
        XCTAssertEqual(h.bodies("q"), ["now", "zero", "negative"])
        XCTAssertEqual(h.state.delayedMessageCount, 0)
    }

    func testFiresInDueOrderTiesInPublishOrderWithinBounds() {
        var h = Harness()
        h.declareDelayed()
        h.declareQueue("q")
        h.bind("q", to: "delayed", key: "k")
        let start = h.now
        h.publishDelayed("1500", headers: ["x-delay": .int32(1_500)])
        h.publishDelayed("300a", headers: ["x-delay": .int32(300)])
        h.now += 100
        h.publishDelayed("800", headers: ["x-delay": .int32(700)])
        h.now -= 100
        h.publishDelayed("300b", headers: ["x-delay": .int32(300)])
        XCTAssertEqual(h.state.delayedMessages(limit: 10).map(\.fireAt), [start + 300, start + 300, start + 800, start + 1_500])

        h.fire(at: start + 10_000, messagesMax: 2)
        XCTAssertEqual(h.bodies("q"), ["300a", "300b"], "one firing takes at most its batch")
        h.fire(at: start + 10_000)
        XCTAssertEqual(h.bodies("q"), ["300a", "300b", "800", "1500"])
    }

    func testRoutedThroughTheBindingsAsTheyAreWhenItFires() {
        var h = Harness()
        h.declareDelayed(routing: "topic")
        h.declareQueue("early")
        h.declareQueue("late")
        h.declareQueue("gone")
        h.bind("early", to: "delayed", key: "a.*")
        h.bind("gone", to: "delayed", key: "#")
        h.publishDelayed("routed", routingKey: "a.b", headers: ["x-delay": .int32(100)])
        h.publishDelayed("nowhere", routingKey: "c", headers: ["x-delay": .int32(100)])
        h.bind("late", to: "delayed", key: "*.b")
        h.apply(.unbind(BindingChange(binding: Binding(source: "delayed", destination: .queue("gone"), routingKey: "#"))))
        h.fire(at: h.now + 100)
        XCTAssertEqual(h.bodies("early"), ["routed"])
        XCTAssertEqual(h.bodies("late"), ["routed"], "a binding made while it was held counts")
        XCTAssertEqual(h.bodies("gone"), [], "a binding removed while it was held does not")
        XCTAssertEqual(h.state.delayedMessageCount, 0, "an unroutable message fires and is dropped")
    }

    func testTheAlternateExchangeTakesWhatRoutesNowhereWhenItFiresNotBefore() {
        var h = Harness()
        h.declareExchange("ae", .fanout)
        h.declareQueue("unrouted")
        h.bind("unrouted", to: "ae")
        h.declareExchange("delayed", .delayedMessage, arguments: ["x-delayed-type": "direct", "alternate-exchange": "ae"])
        h.publishDelayed("lost", routingKey: "nobody", headers: ["x-delay": .int32(50)])
        XCTAssertEqual(h.bodies("unrouted"), [], "held, not sent to the alternate exchange at publish")
        h.fire(at: h.now + 50)
        XCTAssertEqual(h.bodies("unrouted"), ["lost"])
    }

    func testAMessageReachingADelayedExchangeThroughAnotherRoutesAtOnce() {
        var h = Harness()
        h.declareDelayed(routing: "fanout")
        h.declareExchange("front", .fanout)
        h.bindExchange("delayed", to: "front")
        h.declareQueue("q")
        h.bind("q", to: "delayed")
        h.publish("through", exchange: "front", routingKey: "", properties: BasicProperties(headers: ["x-delay": .int32(500)]))
        XCTAssertEqual(h.bodies("q"), ["through"])
        XCTAssertEqual(h.state.delayedMessageCount, 0)
    }

    func testDeletingTheExchangeDropsWhatItHolds() {
        var h = Harness()
        h.declareDelayed()
        h.declareQueue("q")
        h.bind("q", to: "delayed", key: "k")
        h.publishDelayed("a", headers: ["x-delay": .int32(100)])
        h.publishDelayed("b", headers: ["x-delay": .int32(200)])
        let store = try! XCTUnwrap(h.state.exchange(ExchangeName("delayed"))?.delayStoreID)
        XCTAssertNotNil(h.state.storeCursors[store], "the store is live while the exchange is")
        var records: [RecordLocation] = []
        h.state.forEachRecord { records.append($0) }
        XCTAssertEqual(records.filter { $0.store == store }.count, 2, "held records count as live for reclaiming")

        h.apply(.deleteExchange(ExchangeDeletion(name: "delayed")))
        XCTAssertEqual(h.state.delayedMessageCount, 0)
        XCTAssertNil(h.state.storeCursors[store], "its store is reclaimed")
        h.declareDelayed()
        h.bind("q", to: "delayed", key: "k")
        h.fire(at: h.now + 1_000)
        XCTAssertEqual(h.bodies("q"), [], "a new exchange of the same name fires nothing of the old one's")

        h.apply(.declareVHost(name: "v"))
        h.apply(.declareExchange(ExchangeDeclaration(vhost: "v", name: "d", type: .delayedMessage, arguments: ["x-delayed-type": "direct"])))
        let message = Message(exchange: "d", routingKey: "", properties: BasicProperties(headers: ["x-delay": .int32(5)]), body: [1])
        let delay = h.state.delay(of: message, vhost: "v")
        XCTAssertNotNil(delay)
        h.apply(.enqueue(Enqueue(timestamp: h.now, messages: [Publish(message: message, queues: [], delay: delay)])))
        XCTAssertEqual(h.state.delayedMessageCount, 1)
        h.apply(.deleteVHost(name: "v"))
        XCTAssertEqual(h.state.delayedMessageCount, 0, "deleting the vhost drops its exchanges' held messages")
    }

    func testAPublishHeldForAnExchangeGoneByThenIsDropped() {
        var h = Harness()
        h.declareDelayed()
        let message = Message(exchange: "delayed", routingKey: "k", properties: BasicProperties(headers: ["x-delay": .int32(5)]), body: [1])
        let delay = h.state.delay(of: message, vhost: "/")
        h.apply(.deleteExchange(ExchangeDeletion(name: "delayed")))
        h.declareExchange("delayed", .direct)
        let outcome = outcomes(h.apply(.enqueue(Enqueue(timestamp: h.now, messages: [Publish(message: message, queues: [], delay: delay)]))))
        XCTAssertEqual(outcome.map(\.shouldConfirm), [true], "routed nowhere, as an unroutable publish")
        XCTAssertEqual(h.state.delayedMessageCount, 0)
    }

    func testHoldingPastTheLimitIsRefused() {
        var limits = BrokerLimits()
        limits.delayedMessagesMax = 1
        var h = Harness(limits: limits)
        h.declareDelayed()
        XCTAssertEqual(outcomes(h.publishDelayed("one", headers: ["x-delay": .int32(5)])).map(\.shouldConfirm), [true])
        let refused = outcomes(h.publishDelayed("two", headers: ["x-delay": .int32(5)]))
        XCTAssertEqual(refused.map(\.shouldConfirm), [false], "nacked")
        XCTAssertEqual(refused.map(\.holdRefused), [true])
        XCTAssertEqual(h.state.delayedMessageCount, 1)
    }

    func testAnEnqueueWithoutDelaysKeepsItsOlderLogFormat() throws {
        let plain = BrokerCommand.enqueue(Enqueue(timestamp: 1, messages: [Publish(message: Message(exchange: "", routingKey: "q", body: [1]), queues: [q("q")])]))
        XCTAssertEqual(plain.encoded()[1], 10, "the enqueue tag older nodes read")
        let delayed = BrokerCommand.enqueue(
            Enqueue(timestamp: 1, messages: [Publish(message: Message(exchange: "d", routingKey: "", body: [1]), queues: [], delay: Publish.Delay(vhost: "/", milliseconds: 5))]))
        XCTAssertEqual(try BrokerCommand(decoding: delayed.encoded()), delayed)
        var routedAndDelayed = delayed.encoded()
        XCTAssertNoThrow(try BrokerCommand(decoding: routedAndDelayed))
        // A delay past the plugin's maximum never reaches the log.
        let tooLong = BrokerCommand.enqueue(
            Enqueue(timestamp: 1, messages: [Publish(message: Message(exchange: "d", routingKey: "", body: [1]), queues: [], delay: Publish.Delay(vhost: "/", milliseconds: BrokerState.delayMaxMs + 1))]))
        XCTAssertThrowsError(try BrokerCommand(decoding: tooLong.encoded()))
        routedAndDelayed[routedAndDelayed.count - 1] = 0
        XCTAssertThrowsError(try BrokerCommand(decoding: routedAndDelayed), "a delay of 0 ms")
    }

    /// A state holding delayed messages in two exchanges, some fired.
    static func heldHarness() -> Harness {
        var h = Harness()
        h.declareDelayed("first")
        h.declareDelayed("second", routing: "fanout")
        h.declareQueue("q")
        h.bind("q", to: "first", key: "k")
        h.bind("q", to: "second")
        for n in 0..<40 {
            h.publishDelayed("m\(n)", exchange: n % 2 == 0 ? "first" : "second", headers: ["x-delay": .int32(Int32(1 + (n * 37) % 500))])
            h.now += 3
        }
        h.fire(at: h.now, messagesMax: 5)
        return h
    }

    func testSnapshotCarriesHeldMessagesAndTheirRecords() throws {
        var h = Self.heldHarness()
        XCTAssertEqual(h.bodies("q").count, 5)
        let data = h.state.snapshotData()
        XCTAssertEqual(data.first, 6)
        var restored = Harness()
        try restored.state.restore(from: data)
        restored.records = h.records
        restored.index = h.index
        restored.now = h.now
        XCTAssertEqual(restored.state.snapshotData(), data, "byte for byte")
        XCTAssertEqual(restored.state.delayedMessages(limit: 100), h.state.delayedMessages(limit: 100))
        XCTAssertEqual(restored.state.storeCursors, h.state.storeCursors)
        XCTAssertEqual(restored.state.recordBytes, h.state.recordBytes)
        for name in ["first", "second"] {
            XCTAssertEqual(restored.state.delayStore(of: ExchangeName(name)), h.state.delayStore(of: ExchangeName(name)))
        }

        // A snapshot's transfer walks the held records after the queues', the same on both sides.
        var walked: [RecordLocation] = []
        var cursor = BrokerState.RecordCursor(restored.state)
        while let next = cursor.next(in: restored.state) { walked.append(next) }
        var visited: [RecordLocation] = []
        h.state.forEachRecord { visited.append($0) }
        XCTAssertEqual(walked, visited)
        XCTAssertEqual(walked.count, 35 + 5)
        XCTAssertEqual(walked.reduce(0) { $0 + Int($1.bytes) }, h.state.recordBytes)

        // The restored state fires what the original fires.
        XCTAssertEqual(restored.fire(at: h.now + 10_000), h.fire(at: h.now + 10_000))
        XCTAssertEqual(restored.bodies("q"), h.bodies("q"))
        XCTAssertEqual(restored.bodies("q").count, 40)
    }

    func testAnOlderSnapshotWithoutDelayedExchangesStillRestores() throws {
        // Classic queues only: version 4 laid a quorum queue's levels out otherwise (see
        // LegacySnapshotTests).
        var h = Harness()
        h.declareExchange("events", .topic)
        h.declareQueue("work", arguments: ["x-max-priority": .int32(3)])
        h.bind("work", to: "events", key: "work.*")
        for n in 0..<5 { h.publish("job \(n)", exchange: "events", routingKey: "work.x", properties: BasicProperties(priority: UInt8(n % 4))) }
        let current = h.state.snapshotData()
        // Version 4 ended before the delayed section: no stores, no held messages.
        XCTAssertEqual(Array(current.suffix(2)), [0, 0])
        var older = try LegacySnapshotTests.withoutVersion6Sections(Array(current.dropLast(2)), queue: try XCTUnwrap(h.state.queue(q("work"))))
        older[0] = 4
        var restored = BrokerState()
        try restored.restore(from: older)
        XCTAssertEqual(restored.snapshotData(), current)
    }

    func testASnapshotRefusesHeldMessagesOutsideTheirStore() throws {
        var h = Harness()
        h.declareDelayed()
        h.publishDelayed("x", headers: ["x-delay": .int32(5)])
        var data = h.state.snapshotData()
        // The last varint is the held record's length: make it run past the store's cursor.
        data[data.count - 1] = 0x7f
        var restored = BrokerState()
        XCTAssertThrowsError(try restored.restore(from: data))
    }

    func testTwoReplicasApplyingTheSameCommandsAgree() {
        var plain = Harness()
        var churned = Harness()
        for n in 0..<200 {
            churned.declareDelayed("junk\(n)")
            churned.apply(.deleteExchange(ExchangeDeletion(name: "junk\(n)")))
        }
        while plain.index < churned.index { plain.apply(.declareVHost(name: "/")) }
        var script: [BrokerCommand] = []
        for n in 0..<6 {
            script.append(.declareExchange(ExchangeDeclaration(name: "d\(n)", type: .delayedMessage, arguments: ["x-delayed-type": "fanout"])))
            script.append(.declareQueue(QueueDeclaration(name: "q\(n)", owner: "conn", timestamp: 0)))
            script.append(.bind(BindingChange(binding: Binding(source: "d\(n)", destination: .queue("q\(n)"), routingKey: ""))))
            script.append(.bind(BindingChange(binding: Binding(source: "d\(n)", destination: .queue("q\((n + 1) % 6)"), routingKey: ""))))
        }
        var random = TestRandom(state: 7)
        for round in 0..<20 {
            let publishes = (0..<30).map { n in
                Publish(
                    message: Message(exchange: "d\(n % 6)", routingKey: "", body: [UInt8(n)]), queues: [],
                    delay: Publish.Delay(vhost: "/", milliseconds: Int64.random(in: 1...2_000, using: &random)))
            }
            script.append(.enqueue(Enqueue(timestamp: Int64(round) * 100, messages: publishes)))
            script.append(.fireDelayed(DelayedFiring(timestamp: Int64(round) * 100 + 50, messagesMax: 7, recordBytesMax: 1 << 20)))
            if round == 10 { script.append(.deleteExchange(ExchangeDeletion(name: "d3"))) }
        }
        for command in script {
            XCTAssertEqual(plain.apply(command), churned.apply(command), "\(command)")
        }
        XCTAssertEqual(plain.state.snapshotData(), churned.state.snapshotData())
        XCTAssertGreaterThan(plain.state.delayedMessageCount, 0, "some still held")
    }
}

final class DelayedScheduleTests: XCTestCase {
    func testAHeldMessageCostsFortyBytes() {
        XCTAssertEqual(MemoryLayout<DelayedMessage>.stride, 40)
    }

    /// Many chunks' worth in random order: it keeps firing order through inserts, takes,
    /// removals and paging, as a sorted array would.
    func testKeepsFiringOrderAcrossChunks() {
        var random = TestRandom(state: 11)
        var schedule = DelayedSchedule()
        var reference: [DelayedMessage] = []
        func check(_ context: String) {
            reference.sort { $0.key < $1.key }
            XCTAssertEqual(schedule.count, reference.count, context)
            XCTAssertEqual(schedule.first, reference.first, context)
            var all: [DelayedMessage] = []
            schedule.forEach { all.append($0) }
            XCTAssertEqual(all, reference, context)
            var paged: [DelayedMessage] = []
            var after: DelayedMessage.Key?
            while true {
                let page = schedule.messages(after: after, limit: 97)
                guard let last = page.last else { break }
                paged += page
                after = last.key
            }
            XCTAssertEqual(paged, reference, "\(context): paged")
        }
        var sequence: UInt64 = 1
        for round in 0..<6 {
            for _ in 0..<1_500 {
                // Few distinct times, so that ties are common.
                let message = DelayedMessage(
                    fireAt: Int64.random(in: 0..<400, using: &random), sequence: sequence, store: UInt64(sequence % 3 + 1), position: sequence,
                    recordBytes: 20)
                sequence += 1
                schedule.insert(message)
                reference.append(message)
            }
            check("round \(round), inserted")
            for _ in 0..<700 {
                reference.sort { $0.key < $1.key }
                XCTAssertEqual(schedule.removeFirst(), reference.removeFirst())
            }
            check("round \(round), taken")
            if round == 3 {
                XCTAssertEqual(schedule.removeAll { $0.store == 2 }, reference.filter { $0.store == 2 }.count)
                reference.removeAll { $0.store == 2 }
                check("store 2 removed")
            }
        }
        while schedule.removeFirst() != nil {}
        XCTAssertTrue(schedule.isEmpty)
        XCTAssertNil(schedule.first)
    }
}
