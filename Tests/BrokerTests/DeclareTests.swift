import XCTest

@testable import Broker

final class DeclareTests: XCTestCase {
    func testDeclareCreatesAndPassiveFinds() {
        var h = Harness()
        XCTAssertEqual(reply(h.declareQueue("jobs")), .queueDeclared(q("jobs"), messageCount: 0))
        h.publish("1", routingKey: "jobs")
        let passive = h.apply(.declareQueue(QueueDeclaration(name: "jobs", passive: true, owner: "other", timestamp: h.now)))
        XCTAssertEqual(reply(passive), .queueDeclared(q("jobs"), messageCount: 1))
        let missing = h.apply(.declareQueue(QueueDeclaration(name: "nope", passive: true, owner: h.owner, timestamp: h.now)))
        XCTAssertEqual(failure(missing)?.replyText, "NOT_FOUND - no queue 'nope' in vhost '/'")
        XCTAssertNil(h.state.queue(q("nope")))
    }

    func testRedeclareWithDifferentAttributesIsPreconditionFailed() {
        var h = Harness()
        h.declareQueue("q", durable: false)
        let durable = h.apply(.declareQueue(QueueDeclaration(name: "q", durable: true, owner: h.owner, timestamp: h.now)))
        XCTAssertEqual(
            failure(durable)?.replyText,
            "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost '/': received 'true' but current is 'false'")
        let autoDelete = h.apply(
            .declareQueue(QueueDeclaration(name: "q", durable: false, autoDelete: true, owner: h.owner, timestamp: h.now)))
        XCTAssertEqual(
            failure(autoDelete)?.message,
            "inequivalent arg 'auto_delete' for queue 'q' in vhost '/': received 'true' but current is 'false'")
        XCTAssertEqual(reply(h.declareQueue("q", durable: false)), .queueDeclared(q("q"), messageCount: 0))
    }

    func testRedeclareWithDifferentArgumentsUsesRabbitMQsWording() {
        var h = Harness()
        h.declareQueue("ttl", arguments: ["x-message-ttl": .int32(1000)])
        func declare(_ arguments: ArgumentTable) -> BrokerError? {
            failure(h.apply(.declareQueue(QueueDeclaration(name: "ttl", arguments: arguments, owner: h.owner, timestamp: h.now))))
        }
        XCTAssertEqual(
            declare(["x-message-ttl": .int32(2000)])?.message,
            "inequivalent arg 'x-message-ttl' for queue 'ttl' in vhost '/': received '2000' but current is '1000'")
        XCTAssertEqual(
            declare([:])?.message,
            "inequivalent arg 'x-message-ttl' for queue 'ttl' in vhost '/': received none but current is the value '1000' of type 'signedint'")
        XCTAssertEqual(
            declare(["x-message-ttl": .int32(1000), "x-max-length": .int64(5)])?.message,
            "inequivalent arg 'x-max-length' for queue 'ttl' in vhost '/': received the value '5' of type 'long' but current is none")
        // The same value in another integer width is equivalent, as in RabbitMQ.
        XCTAssertNil(declare(["x-message-ttl": .int64(1000)]))
        // Classic is the default type: naming it or not is the same.
        XCTAssertNil(declare(["x-message-ttl": .int32(1000), "x-queue-type": "classic"]))
        XCTAssertEqual(
            declare(["x-message-ttl": .int32(1000), "x-queue-type": "quorum"])?.message,
            "inequivalent arg 'x-queue-type' for queue 'ttl' in vhost '/': received the value 'quorum' of type 'longstr' but current is none")
    }

    func testInvalidArgumentsAreRefusedNamingTheArgument() {
        let cases: [(ArgumentTable, String)] = [
            (["x-max-length": .int32(-1)], "invalid arg 'x-max-length' for queue 'q' in vhost '/': {value_negative,-1}"),
            (["x-max-length": "ten"], "invalid arg 'x-max-length' for queue 'q' in vhost '/': \"expected integer, got longstr\""),
            (["x-max-length-bytes": .double(1)], "invalid arg 'x-max-length-bytes' for queue 'q' in vhost '/': \"expected integer, got double\""),
            (["x-expires": .int32(0)], "invalid arg 'x-expires' for queue 'q' in vhost '/': {value_zero,0}"),
            (["x-message-ttl": .int64(315_360_000_001)], "invalid arg 'x-message-ttl' for queue 'q' in vhost '/': {value_too_large,315360000001}"),
            (["x-overflow": "drop-tail"], "invalid arg 'x-overflow' for queue 'q' in vhost '/': invalid_overflow"),
            (["x-overflow": .int8(1)], "invalid arg 'x-overflow' for queue 'q' in vhost '/': {unacceptable_type,byte}"),
            (["x-max-priority": .int32(256)], "invalid arg 'x-max-priority' for queue 'q' in vhost '/': {max_value_exceeded,256}"),
            (["x-single-active-consumer": .int32(1)], "invalid arg 'x-single-active-consumer' for queue 'q' in vhost '/': {unacceptable_type,signedint}"),
            (["x-dead-letter-routing-key": "rk"], "invalid arg 'x-dead-letter-routing-key' for queue 'q' in vhost '/': routing_key_but_no_dlx_defined"),
            (["x-dead-letter-exchange": .int32(1)], "invalid arg 'x-dead-letter-exchange' for queue 'q' in vhost '/': {unacceptable_type,signedint}"),
            (["x-queue-type": "mirrored"], "invalid arg 'x-queue-type' for queue 'q' in vhost '/': \"unsupported queue type 'mirrored'\""),
            (["x-frobnicate": "yes"], "invalid arg 'x-frobnicate' for queue 'q' in vhost '/': unknown_argument"),
            (["x-max-age": "1D"], "invalid arg 'x-max-age' for queue 'q' in vhost '/' of queue type classic"),
        ]
        for (arguments, text) in cases {
            var h = Harness()
            let effects = h.apply(.declareQueue(QueueDeclaration(name: "q", arguments: arguments, owner: h.owner, timestamp: h.now)))
            XCTAssertEqual(failure(effects)?.code, .preconditionFailed, text)
            XCTAssertEqual(failure(effects)?.message, text)
            XCTAssertNil(h.state.queue(q("q")))
        }
    }

    func testKnownArgumentsAreParsed() throws {
        var h = Harness()
        h.declareQueue(
            "q",
            arguments: [
                "x-queue-type": "quorum", "x-message-ttl": .int32(500), "x-expires": .int64(60_000), "x-max-length": .int16(10),
                "x-max-length-bytes": .uint32(1_000), "x-overflow": "reject-publish-dlx", "x-dead-letter-exchange": "dlx",
                "x-dead-letter-routing-key": "dead", "x-delivery-limit": .int8(3), "x-single-active-consumer": true,
                "x-max-priority": .uint8(9), "x-queue-leader-locator": "balanced", "not-an-x-argument": "kept",
            ])
        let settings = try XCTUnwrap(h.state.queue(q("q"))?.settings)
        XCTAssertEqual(settings.queueType, .quorum)
        XCTAssertEqual(settings.messageTTLMs, 500)
        XCTAssertEqual(settings.expiresMs, 60_000)
        XCTAssertEqual(settings.lengthMax, 10)
        XCTAssertEqual(settings.lengthBytesMax, 1_000)
        XCTAssertEqual(settings.overflow, .rejectPublishDeadLetter)
        XCTAssertEqual(settings.deadLetterExchange, "dlx")
        XCTAssertEqual(settings.deadLetterRoutingKey, "dead")
        XCTAssertEqual(settings.deliveryLimit, 3)
        XCTAssertTrue(settings.singleActiveConsumer)
        XCTAssertEqual(settings.priorityMax, 9)
        XCTAssertEqual(h.state.queue(q("q"))?.priorityLevels, 32, "a quorum queue has every level, whatever x-max-priority says")
        // Quorum queues default to RabbitMQ 4's delivery limit; a negative one means none.
        h.declareQueue("qq", arguments: ["x-queue-type": "quorum"])
        XCTAssertEqual(h.state.queue(q("qq"))?.settings.deliveryLimit, 20)
        h.declareQueue("unlimited", arguments: ["x-queue-type": "quorum", "x-delivery-limit": .int32(-1)])
        XCTAssertNil(h.state.queue(q("unlimited"))?.settings.deliveryLimit)
    }

    func testServerNamedQueuesAreNamedFromTheLogIndex() throws {
        var first = Harness()
        var second = Harness()
        let declaration = BrokerCommand.declareQueue(QueueDeclaration(name: "", exclusive: true, owner: "c1", timestamp: 0))
        let a = first.apply(declaration)
        let b = second.apply(declaration)
        XCTAssertEqual(a, b)
        guard case .queueDeclared(let name, _)? = reply(a) else { return XCTFail("no reply: \(a)") }
        XCTAssertTrue(name.name.hasPrefix("amq.gen-"), name.name)
        XCTAssertEqual(name.name.count, "amq.gen-".count + 22)
        let again = first.apply(declaration)
        guard case .queueDeclared(let other, _)? = reply(again) else { return XCTFail("no reply") }
        XCTAssertNotEqual(name, other)
        XCTAssertFalse(name.name.dropFirst(8).contains { !($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
    }

    func testReservedPrefixAndExclusiveOwnership() {
        var h = Harness()
        let reserved = h.apply(.declareQueue(QueueDeclaration(name: "amq.mine", owner: h.owner, timestamp: h.now)))
        XCTAssertEqual(failure(reserved)?.replyText, "ACCESS_REFUSED - queue name 'amq.mine' contains reserved prefix 'amq.*'")

        h.declareQueue("private", exclusive: true, owner: "conn-A")
        XCTAssertEqual(h.state.queue(q("private"))?.durable, false, "exclusive queues are never durable")
        let locked = "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'private' in vhost '/'. It could be "
            + "originally declared on another connection or the exclusive property value does not match that of the original declaration."
        XCTAssertEqual(failure(h.apply(.declareQueue(QueueDeclaration(name: "private", exclusive: true, owner: "conn-B", timestamp: 0))))?.replyText, locked)
        XCTAssertEqual(failure(h.apply(.declareQueue(QueueDeclaration(name: "private", passive: true, owner: "conn-B", timestamp: 0))))?.replyText, locked)
        XCTAssertEqual(
            reply(h.apply(.declareQueue(QueueDeclaration(name: "private", passive: true, owner: "conn-A", timestamp: 0)))),
            .queueDeclared(q("private"), messageCount: 0))
        XCTAssertEqual(failure(h.apply(.purge(QueuePurge(queue: q("private"), owner: "conn-B"))))?.code, .resourceLocked)
        XCTAssertEqual(failure(h.apply(.deleteQueue(QueueDeletion(name: "private", owner: "conn-B"))))?.code, .resourceLocked)
        XCTAssertThrowsError(try h.state.checkExclusiveAccess(q("private"), connection: "conn-B"))
    }

    func testExchangeDeclarations() {
        var h = Harness()
        h.declareExchange("logs", .topic)
        XCTAssertEqual(reply(h.declareExchange("logs", .topic)), .exchangeDeclared)
        let type = h.apply(.declareExchange(ExchangeDeclaration(name: "logs", type: .fanout)))
        XCTAssertEqual(
            failure(type)?.replyText,
            "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'logs' in vhost '/': received 'fanout' but current is 'topic'")
        let durable = h.apply(.declareExchange(ExchangeDeclaration(name: "logs", type: .topic, durable: false)))
        XCTAssertEqual(failure(durable)?.message, "inequivalent arg 'durable' for exchange 'logs' in vhost '/': received 'false' but current is 'true'")
        let passive = h.apply(.declareExchange(ExchangeDeclaration(name: "ghost", type: .direct, passive: true)))
        XCTAssertEqual(failure(passive)?.replyText, "NOT_FOUND - no exchange 'ghost' in vhost '/'")
        let reserved = h.apply(.declareExchange(ExchangeDeclaration(name: "amq.custom", type: .direct)))
        XCTAssertEqual(failure(reserved)?.replyText, "ACCESS_REFUSED - exchange name 'amq.custom' contains reserved prefix 'amq.*'")
        XCTAssertEqual(reply(h.apply(.declareExchange(ExchangeDeclaration(name: "amq.direct", type: .direct)))), .exchangeDeclared)
        let defaultExchange = h.apply(.declareExchange(ExchangeDeclaration(name: "", type: .direct)))
        XCTAssertEqual(failure(defaultExchange)?.replyText, "ACCESS_REFUSED - operation not permitted on the default exchange")
        XCTAssertThrowsError(try ExchangeType.parse("x-consistent-hash")) { error in
            XCTAssertEqual((error as? BrokerError)?.message, "unknown exchange type 'x-consistent-hash'")
        }
        XCTAssertEqual(h.state.exchangeNames(in: "/"), ["", "amq.direct", "amq.fanout", "amq.headers", "amq.match", "amq.topic", "logs"])
    }

    func testExchangeDeletion() {
        var h = Harness()
        h.declareExchange("x", .direct)
        h.declareQueue("q")
        h.bind("q", to: "x", key: "k")
        let inUse = h.apply(.deleteExchange(ExchangeDeletion(name: "x", ifUnused: true)))
        XCTAssertEqual(failure(inUse)?.replyText, "PRECONDITION_FAILED - exchange 'x' in vhost '/' in use")
        XCTAssertEqual(failure(h.apply(.deleteExchange(ExchangeDeletion(name: "amq.topic"))))?.replyText,
            "ACCESS_REFUSED - deletion of system exchange 'amq.topic' in vhost '/' not allowed")
        XCTAssertEqual(reply(h.apply(.deleteExchange(ExchangeDeletion(name: "never-was")))), .exchangeDeleted)
        let deleted = h.apply(.deleteExchange(ExchangeDeletion(name: "x")))
        XCTAssertEqual(reply(deleted), .exchangeDeleted)
        XCTAssertEqual(deletedExchanges(deleted), [ExchangeName("x")])
        XCTAssertNil(h.state.exchange(ExchangeName("x")))
        XCTAssertEqual(h.state.bindings(in: "/"), [])
    }

    func testAutoDeleteExchangeGoesWithItsLastBinding() {
        var h = Harness()
        h.declareExchange("temp", .fanout, autoDelete: true)
        h.declareQueue("a")
        h.declareQueue("b")
        h.bind("a", to: "temp")
        h.bind("b", to: "temp")
        let unbind = h.apply(.unbind(BindingChange(binding: Binding(source: "temp", destination: .queue("a"), routingKey: ""))))
        XCTAssertEqual(reply(unbind), .unbound)
        XCTAssertNotNil(h.state.exchange(ExchangeName("temp")))
        let deleteQueue = h.apply(.deleteQueue(QueueDeletion(name: "b")))
        XCTAssertEqual(deletedQueues(deleteQueue), [q("b")])
        XCTAssertEqual(deletedExchanges(deleteQueue), [ExchangeName("temp")])
        XCTAssertNil(h.state.exchange(ExchangeName("temp")))
    }

    func testBindingErrors() {
        var h = Harness()
        h.declareQueue("q")
        func bind(_ source: String, _ destination: BindingDestination) -> BrokerError? {
            failure(h.apply(.bind(BindingChange(binding: Binding(source: source, destination: destination, routingKey: "k")))))
        }
        XCTAssertEqual(bind("", .queue("q"))?.replyText, "ACCESS_REFUSED - operation not permitted on the default exchange")
        XCTAssertEqual(bind("missing", .queue("q"))?.replyText, "NOT_FOUND - no exchange 'missing' in vhost '/'")
        XCTAssertEqual(bind("amq.direct", .queue("missing"))?.replyText, "NOT_FOUND - no queue 'missing' in vhost '/'")
        XCTAssertEqual(bind("amq.direct", .exchange("missing"))?.replyText, "NOT_FOUND - no exchange 'missing' in vhost '/'")
        XCTAssertNil(bind("amq.direct", .queue("q")))
        XCTAssertNil(bind("amq.direct", .queue("q")), "binding twice is fine")
        XCTAssertEqual(h.state.bindings(in: "/").count, 1)
        XCTAssertEqual(reply(h.apply(.unbind(BindingChange(binding: Binding(source: "amq.direct", destination: .queue("q"), routingKey: "other"))))), .unbound)
        // As RabbitMQ: unbinding from or to what does not exist succeeds; the default
        // exchange is still refused.
        func unbind(_ source: String, _ destination: BindingDestination) -> BrokerEffect? {
            h.apply(.unbind(BindingChange(binding: Binding(source: source, destination: destination, routingKey: "k")))).first
        }
        XCTAssertEqual(unbind("missing", .queue("q")), .reply(.unbound))
        XCTAssertEqual(unbind("amq.direct", .queue("missing")), .reply(.unbound))
        XCTAssertEqual(unbind("amq.direct", .exchange("missing")), .reply(.unbound))
        XCTAssertEqual(unbind("missing", .queue("missing")), .reply(.unbound))
        guard case .failed(let refused)? = unbind("", .queue("q")) else { return XCTFail("an unbind from the default exchange was taken") }
        XCTAssertEqual(refused.replyText, "ACCESS_REFUSED - operation not permitted on the default exchange")
        XCTAssertEqual(h.state.bindings(in: "/").count, 1, "nothing changed")
    }

    func testVirtualHostsAreSeparate() throws {
        var h = Harness()
        XCTAssertEqual(reply(h.apply(.declareVHost(name: "prod"))), .vhostDeclared)
        h.declareQueue("q", vhost: "prod")
        XCTAssertNil(h.state.queue(q("q")))
        XCTAssertEqual(try h.state.route(vhost: "prod", exchange: "", routingKey: "q", headers: nil), [q("q", vhost: "prod")])
        XCTAssertEqual(h.state.exchangeNames(in: "prod").count, 6)
        let deleted = h.apply(.deleteVHost(name: "prod"))
        XCTAssertEqual(reply(deleted), .vhostDeleted)
        XCTAssertEqual(deletedQueues(deleted), [q("q", vhost: "prod")])
        XCTAssertEqual(h.state.vhostNames, ["/"])
        let declare = h.apply(.declareQueue(QueueDeclaration(vhost: "prod", name: "q", owner: h.owner, timestamp: 0)))
        XCTAssertEqual(failure(declare)?.replyText, "NOT_FOUND - no vhost 'prod'")
    }

    func testNamesAreBounded() {
        var h = Harness()
        let long = String(repeating: "n", count: 256)
        let command = BrokerCommand.declareQueue(QueueDeclaration(name: long, owner: h.owner, timestamp: 0))
        XCTAssertThrowsError(try BrokerCommand(decoding: command.encoded()), "the log format refuses it")
        let effects = h.state.apply(command, at: 1, reader: h.records)
        XCTAssertEqual(failure(effects)?.replyText, "PRECONDITION_FAILED - queue name is longer than 255 bytes")
    }
}
