import XCTest

@testable import Broker

final class RoutingTests: XCTestCase {
    func testDefaultExchangeRoutesByQueueName() throws {
        var h = Harness()
        h.declareQueue("orders")
        XCTAssertEqual(try h.state.route(vhost: "/", exchange: "", routingKey: "orders", headers: nil), [q("orders")])
        XCTAssertEqual(try h.state.route(vhost: "/", exchange: "", routingKey: "missing", headers: nil), [])
    }

    func testDirectExchangeMatchesKeysInBindingOrder() throws {
        var h = Harness()
        for name in ["q1", "q2", "q3"] { h.declareQueue(name) }
        h.bind("q1", to: "amq.direct", key: "a")
        h.bind("q2", to: "amq.direct", key: "b")
        h.bind("q1", to: "amq.direct", key: "b")
        h.bind("q3", to: "amq.direct", key: "c")
        XCTAssertEqual(try h.state.route(vhost: "/", exchange: "amq.direct", routingKey: "b", headers: nil), [q("q2"), q("q1")])
        XCTAssertEqual(try h.state.route(vhost: "/", exchange: "amq.direct", routingKey: "a", headers: nil), [q("q1")])
        XCTAssertEqual(try h.state.route(vhost: "/", exchange: "amq.direct", routingKey: "z", headers: nil), [])
    }

    func testFanoutIgnoresTheRoutingKey() throws {
        var h = Harness()
        h.declareQueue("a")
        h.declareQueue("b")
        h.bind("a", to: "amq.fanout", key: "x")
        h.bind("b", to: "amq.fanout")
        XCTAssertEqual(try h.state.route(vhost: "/", exchange: "amq.fanout", routingKey: "anything", headers: nil), [q("a"), q("b")])
    }

    func testTopicPatterns() {
        let cases: [(String, String, Bool)] = [
            ("#", "", true), ("#", "a", true), ("#", "a.b.c", true), ("#", ".", true),
            ("*", "", false), ("*", "a", true), ("*", "a.b", false), ("*", ".", false),
            ("*.*", "a.b", true), ("*.*", "a", false), ("*.*", "a.b.c", false), ("*.*", ".", true),
            ("a.#.b", "a.b", true), ("a.#.b", "a.x.b", true), ("a.#.b", "a.x.y.b", true),
            ("a.#.b", "a.x.y", false), ("a.#.b", "b.a.b", false), ("a.#.b", "a.b.b", true),
            ("a.*", "a.", true), ("a.*", "a", false), ("a.*", "a.b.c", false),
            ("", "", true), ("", "a", false), ("a", "", false),
            ("a..b", "a..b", true), ("a.*.b", "a..b", true), ("a..b", "a.b", false),
            ("#.a", "a", true), ("#.a", "x.y.a", true), ("#.a", "a.x", false),
            ("#.#", "", true), ("#.#", "a.b", true), ("a.#", "a", true), ("a.#", "ab", false),
            ("*.#", "", false), ("*.#", "a", true), ("#.*", "a", true), ("#.*", "", false),
            ("stock.*.nyse", "stock.ibm.nyse", true), ("stock.*.nyse", "stock.ibm.nasdaq", false),
            ("#.#.#.x", "x", true), ("*.#.*", "a", false), ("*.#.*", "a.b", true), ("*.#.*", "a.b.c.d", true),
        ]
        for (pattern, key, expected) in cases {
            XCTAssertEqual(
                TopicPattern(pattern).matches(TopicPattern.split(key)), expected, "pattern '\(pattern)' key '\(key)'")
        }
    }

    func testTopicExchangeRoutesEachQueueOnce() throws {
        var h = Harness()
        h.declareQueue("all")
        h.declareQueue("ibm")
        h.bind("all", to: "amq.topic", key: "#")
        h.bind("all", to: "amq.topic", key: "stock.#")
        h.bind("ibm", to: "amq.topic", key: "*.ibm.*")
        XCTAssertEqual(try h.state.route(vhost: "/", exchange: "amq.topic", routingKey: "stock.ibm.nyse", headers: nil), [q("all"), q("ibm")])
        XCTAssertEqual(try h.state.route(vhost: "/", exchange: "amq.topic", routingKey: "", headers: nil), [q("all")])
    }

    func testHeadersExchangeMatching() throws {
        var h = Harness()
        for name in ["all", "any", "none", "present", "withX", "anyEmpty"] { h.declareQueue(name) }
        h.bind("all", to: "amq.headers", arguments: ["x-match": "all", "format": "pdf", "type": "report"])
        h.bind("any", to: "amq.headers", arguments: ["x-match": "any", "format": "pdf", "type": "log"])
        h.bind("none", to: "amq.headers", arguments: [:])
        h.bind("present", to: "amq.headers", arguments: ["x-match": "all", "format": .void])
        h.bind("withX", to: "amq.headers", arguments: ["x-match": "any-with-x", "x-tenant": "acme"])
        h.bind("anyEmpty", to: "amq.headers", arguments: ["x-match": "any", "x-tenant": "acme"])

        func route(_ headers: ArgumentTable?) throws -> [String] {
            try h.state.route(vhost: "/", exchange: "amq.headers", routingKey: "", headers: headers).map(\.name)
        }
        XCTAssertEqual(try route(["format": "pdf", "type": "report"]), ["all", "any", "none", "present"])
        XCTAssertEqual(try route(["format": "zip", "type": "log"]), ["any", "none", "present"])
        XCTAssertEqual(try route(["x-tenant": "acme"]), ["none", "withX"])
        XCTAssertEqual(try route(nil), ["none"])
        // Integers of different widths are equal values, as in RabbitMQ.
        h.declareQueue("num")
        h.bind("num", to: "amq.match", arguments: ["n": .int32(7)])
        XCTAssertEqual(try h.state.route(vhost: "/", exchange: "amq.match", routingKey: "", headers: ["n": .int64(7)]), [q("num")])
        XCTAssertEqual(try h.state.route(vhost: "/", exchange: "amq.match", routingKey: "", headers: ["n": .double(7)]), [])
    }

    func testHeadersBindingRefusesAnUnknownMatchMode() {
        var h = Harness()
        h.declareQueue("q")
        let effects = h.apply(
            .bind(BindingChange(binding: Binding(source: "amq.headers", destination: .queue("q"), routingKey: "", arguments: ["x-match": "some"]))))
        XCTAssertEqual(failure(effects)?.code, .preconditionFailed)
        XCTAssertEqual(
            failure(effects)?.message, "Invalid x-match field value <<\"some\">>; expected all, any, all-with-x, or any-with-x")
    }

    func testExchangeToExchangeBindingsVisitEachExchangeOnce() throws {
        var h = Harness()
        h.declareExchange("x1", .topic)
        h.declareExchange("x2", .fanout)
        h.declareExchange("x3", .direct)
        h.declareQueue("q2")
        h.declareQueue("q3")
        h.bindExchange("x2", to: "x1", key: "a.#")
        h.bindExchange("x1", to: "x2")  // a cycle
        h.bindExchange("x3", to: "x2")
        h.bind("q2", to: "x2")
        h.bind("q3", to: "x3", key: "a.b")
        h.bind("q2", to: "x3", key: "a.b")
        XCTAssertEqual(try h.state.route(vhost: "/", exchange: "x1", routingKey: "a.b", headers: nil), [q("q3"), q("q2")])
        XCTAssertEqual(try h.state.route(vhost: "/", exchange: "x1", routingKey: "b", headers: nil), [])
        XCTAssertEqual(try h.state.route(vhost: "/", exchange: "x2", routingKey: "zzz", headers: nil), [q("q2")])
    }

    func testAlternateExchangeTakesWhatRoutesNowhere() throws {
        var h = Harness()
        h.declareExchange("unrouted", .fanout)
        h.declareExchange("main", .direct, arguments: ["alternate-exchange": "unrouted"])
        h.declareQueue("known")
        h.declareQueue("lost")
        h.bind("known", to: "main", key: "k")
        h.bind("lost", to: "unrouted")
        XCTAssertEqual(try h.state.route(vhost: "/", exchange: "main", routingKey: "k", headers: nil), [q("known")])
        XCTAssertEqual(try h.state.route(vhost: "/", exchange: "main", routingKey: "other", headers: nil), [q("lost")])
    }

    func testCCAndBCCHeadersAddRoutingKeysAndBCCIsStripped() throws {
        var h = Harness()
        for name in ["a", "b", "c"] { h.declareQueue(name) }
        let headers: ArgumentTable = ["CC": .array(["b"]), "BCC": .array(["c"])]
        XCTAssertEqual(try h.state.route(vhost: "/", exchange: "", routingKey: "a", headers: headers), [q("a"), q("b"), q("c")])
        h.publish("m", routingKey: "a", properties: BasicProperties(headers: headers))
        for name in ["a", "b", "c"] {
            let stored = try XCTUnwrap(h.messages(name).first)
            XCTAssertNil(stored.message.properties.headers?["BCC"], name)
            XCTAssertEqual(stored.message.properties.headers?["CC"], .array(["b"]), name)
        }
    }

    func testPublishChecks() {
        var h = Harness()
        h.declareExchange("hidden", .fanout, isInternal: true)
        let message = Message(exchange: "hidden", routingKey: "", body: [])
        XCTAssertThrowsError(try h.state.validatePublish(vhost: "/", message: message)) { error in
            XCTAssertEqual((error as? BrokerError)?.replyText, "ACCESS_REFUSED - cannot publish to internal exchange 'hidden' in vhost '/'")
        }
        XCTAssertThrowsError(try h.state.route(vhost: "/", exchange: "nope", routingKey: "", headers: nil)) { error in
            XCTAssertEqual((error as? BrokerError)?.replyText, "NOT_FOUND - no exchange 'nope' in vhost '/'")
        }
        let longKey = Message(exchange: "", routingKey: String(repeating: "k", count: 256), body: [])
        XCTAssertThrowsError(try h.state.validatePublish(vhost: "/", message: longKey)) { error in
            XCTAssertEqual((error as? BrokerError)?.message, "routing key name is longer than 255 bytes")
        }
        var deep: ArgumentValue = .int64(1)
        for _ in 0..<BrokerLimits().argumentDepthMax { deep = .array([deep]) }
        let deepHeaders = Message(exchange: "", routingKey: "q", properties: BasicProperties(headers: ["deep": deep]), body: [])
        XCTAssertThrowsError(try h.state.validatePublish(vhost: "/", message: deepHeaders), "the log format would refuse it")
        var limits = BrokerLimits()
        limits.messageBodyBytesMax = 4
        let small = BrokerState(limits: limits)
        XCTAssertThrowsError(try small.validatePublish(vhost: "/", message: Message(exchange: "", routingKey: "q", body: [1, 2, 3, 4, 5]))) {
            error in
            XCTAssertEqual((error as? BrokerError)?.message, "message size 5 is larger than configured max size 4")
        }
    }

    func testInvalidExpirationIsRefusedWithRabbitMQsTexts() {
        let cases: [(String, String)] = [
            ("abc", "invalid expiration 'abc': no_integer"),
            ("-5", "invalid expiration '-5': {value_negative,-5}"),
            ("10x", "invalid expiration '10x': {leftover_string,\"x\"}"),
            ("315360000001", "invalid expiration '315360000001': {value_too_large,315360000001}"),
        ]
        for (expiration, text) in cases {
            XCTAssertThrowsError(try BasicProperties(expiration: expiration).expirationMs()) { error in
                XCTAssertEqual((error as? BrokerError)?.code, .preconditionFailed)
                XCTAssertEqual((error as? BrokerError)?.message, text)
            }
        }
        XCTAssertEqual(try BasicProperties(expiration: "0").expirationMs(), 0)
        XCTAssertEqual(try BasicProperties(expiration: "60000").expirationMs(), 60_000)
    }
}
