import AMQP
import Auth
import Broker
import Client
import FoundationEssentials
import NIOCore
import NIOHTTP1
import Node
import Raft
import StatusAPI
import XCTest

/// RabbitMQ's management routes for queues, exchanges, bindings, the overview and the nodes,
/// through a follower (which passes changes to the leader over their peer link) and the
/// leader alike.
final class ManagementRoutesTests: XCTestCase {
    private var cluster: LocalCluster!

    override func setUp() {
        cluster = LocalCluster(name: "management") { $0.httpPort = 0 }
    }

    override func tearDown() async throws {
        try await cluster.tearDown()
    }

    func testQueuesAndExchangesAreDeclaredListedPurgedAndDeletedThroughAnyNode() async throws {
        let nodes = try await cluster.start(size: 3)
        let leaderID = try await cluster.leader(of: nodes)
        let leader = nodes[leaderID]!
        let follower = nodes.first { $0.key != leaderID }!.value
        _ = try await waitFor("the follower to know the leader") { try await self.http(follower).node().leader }

        try await expect(201, follower, .PUT, "/api/queues/%2F/orders", #"{"durable":true,"arguments":{"x-queue-type":"quorum","x-max-length":50}}"#)
        try await expect(204, follower, .PUT, "/api/queues/%2F/orders", #"{"durable":true,"arguments":{"x-queue-type":"quorum","x-max-length":50}}"#,
                         message: "declared again alike")
        try await expect(400, follower, .PUT, "/api/queues/%2F/orders", #"{"durable":true,"arguments":{"x-max-length":7}}"#,
                         message: "inequivalent arguments")
        try await expect(400, follower, .PUT, "/api/queues/%2F/orders", "not json")
        try await expect(201, follower, .PUT, "/api/exchanges/%2F/orders.topic", #"{"type":"topic","durable":true}"#)
        try await expect(400, follower, .PUT, "/api/exchanges/%2F/x", #"{"type":"no-such-type"}"#)

        let connection = try await cluster.connect([leader])
        let channel = try await connection.openChannel()
        try await channel.queueBind(queue: "orders", exchange: "orders.topic", routingKey: "eu.#")
        try await channel.confirmSelect()
        for n in 0..<3 {
            try await channel.publish(exchange: "orders.topic", routingKey: "eu.de", body: ByteBuffer(string: "order \(n)"),
                                      properties: BasicProperties(deliveryMode: 2)).confirmed()
        }

        for node in [leader, follower] {
            let queue = try await waitFor("the node to count the three messages") { () -> QueueInfo? in
                let info = try await self.decode(QueueInfo.self, self.http(node).get("/api/queues/%2F/orders"))
                return info.messages == 3 ? info : nil
            }
            XCTAssertEqual(queue.type, "quorum")
            XCTAssertEqual(queue.arguments, ["x-queue-type": .string("quorum"), "x-max-length": .int(50)])
            XCTAssertEqual([queue.messages_ready, queue.messages_unacknowledged, queue.consumers], [3, 0, 0])
            let queues = try await decode([QueueInfo].self, http(node).get("/api/queues/%2F"))
            XCTAssertEqual(queues.map(\.name), ["orders"])
            let exchanges = try await decode([ExchangeInfo].self, http(node).get("/api/exchanges"))
            XCTAssertEqual(exchanges.first { $0.name == "orders.topic" }, ExchangeInfo(
                name: "orders.topic", vhost: "/", type: "topic", durable: true, auto_delete: false, internal: false, arguments: [:]))
            XCTAssertTrue(exchanges.contains { $0.name == "" && $0.type == "direct" }, "the default exchange, named \"\"")
            let bindings = try await decode([BindingInfo].self, http(node).get("/api/bindings/%2F"))
            XCTAssertEqual(bindings.map { "\($0.source)->\($0.destination):\($0.routing_key)" }, ["->orders:orders", "orders.topic->orders:eu.#"])
            let overview = try await decode(OverviewInfo.self, http(node).get("/api/overview"))
            XCTAssertEqual(overview.queue_totals.messages, 3)
            XCTAssertEqual(overview.object_totals.queues, 1)
            XCTAssertEqual(overview.object_totals.connections, 1, "the leader's count, from either node")
            let members = try await decode([ClusterNodeInfo].self, http(node).get("/api/nodes"))
            XCTAssertEqual(members.map(\.name), ["berth@1", "berth@2", "berth@3"])
            XCTAssertEqual(members.filter { $0.berth_role == "leader" }.map(\.name), ["berth@\(leaderID)"])
        }
        try await expect(404, follower, .GET, "/api/queues/%2F/nowhere")
        try await expect(404, follower, .GET, "/api/queues/no-such-vhost")

        try await expect(204, follower, .DELETE, "/api/queues/%2F/orders/contents", message: "purged")
        _ = try await waitFor("the purge to reach the follower") { () -> Bool? in
            try await self.decode(QueueInfo.self, self.http(follower).get("/api/queues/%2F/orders")).messages == 0 ? true : nil
        }
        try await expect(204, follower, .DELETE, "/api/exchanges/%2F/orders.topic")
        try await expect(204, follower, .DELETE, "/api/queues/%2F/orders")
        _ = try await waitFor("the deletion to reach the follower") { () -> Bool? in
            try await self.http(follower).get("/api/queues/%2F/orders").status == 404 ? true : nil
        }
        try await expect(404, follower, .DELETE, "/api/queues/%2F/orders", message: "gone")
        try await expect(404, follower, .DELETE, "/api/queues/%2F/orders/contents", message: "gone")
        try await expect(404, follower, .DELETE, "/api/exchanges/%2F/orders.topic", message: "gone")
        await connection.close()
        for node in nodes.values { try await node.shutdown() }
    }

    func testAChangeThroughAFollowerIsSeenByTheNextReadThroughIt() async throws {
        // A loop for each node, so that a follower's replica can lag the leader's answer.
        try await cluster.tearDown()
        cluster = LocalCluster(name: "management-reads", threads: 3) { $0.httpPort = 0 }
        let nodes = try await cluster.start(size: 3)
        let leaderID = try await cluster.leader(of: nodes)
        let follower = nodes.first { $0.key != leaderID }!.value
        _ = try await waitFor("the follower to know the leader") { try await self.http(follower).node().leader }
        // No waiting between a change and the read after it: the follower answers a change
        // only once its own replica has applied it, as RabbitMQ's nodes answer.
        for round in 0..<10 {
            try await expect(201, follower, .PUT, "/api/queues/%2F/round-\(round)", "{}")
            try await expect(200, follower, .GET, "/api/queues/%2F/round-\(round)", message: "read after its declaration")
            try await expect(201, follower, .PUT, "/api/users/user-\(round)", #"{"password":"pw","tags":""}"#)
            try await expect(200, follower, .GET, "/api/users/user-\(round)")
            try await expect(204, follower, .DELETE, "/api/queues/%2F/round-\(round)")
            try await expect(404, follower, .GET, "/api/queues/%2F/round-\(round)", message: "read after its deletion")
            try await expect(204, follower, .DELETE, "/api/users/user-\(round)")
            try await expect(404, follower, .GET, "/api/users/user-\(round)")
        }
        for node in nodes.values { try await node.shutdown() }
    }

    func testAUserSeesOnlyItsVHostsAndDeclaresOnlyWhatItMayConfigure() async throws {
        let node = try await cluster.startLone()
        _ = try await waitFor("the node to serve") { try await self.http(node).node().serving ? true : nil }
        try await expect(201, node, .PUT, "/api/vhosts/shop")
        try await expect(201, node, .PUT, "/api/users/dana", #"{"password":"pw","tags":"management"}"#)
        try await expect(201, node, .PUT, "/api/permissions/shop/dana", #"{"configure":"^dana\\.","write":".*","read":".*"}"#)
        let dana = HTTPCredentials(user: "dana", password: "pw")

        try await expect(201, node, .PUT, "/api/queues/shop/dana.q", "{}", as: dana)
        try await expect(403, node, .PUT, "/api/queues/shop/other.q", "{}", as: dana, message: "not hers to configure")
        try await expect(403, node, .DELETE, "/api/queues/%2F/anything", as: dana, message: "no permission in /")
        try await expect(201, node, .PUT, "/api/queues/%2F/admins.q", "{}")
        let hers = try await decode([QueueInfo].self, http(node, dana).get("/api/queues"))
        XCTAssertEqual(hers.map { "\($0.vhost)/\($0.name)" }, ["shop/dana.q"], "only the vhosts she has a permission in")
        try await expect(404, node, .GET, "/api/queues/%2F", as: dana)
        let all = try await decode([QueueInfo].self, http(node).get("/api/queues"))
        XCTAssertEqual(all.map { "\($0.vhost)/\($0.name)" }, ["//admins.q", "shop/dana.q"], "an administrator sees every vhost")
        try await node.shutdown()
    }

    func testHealthChecksAnswerAsRabbitMQsDo() async throws {
        try await cluster.tearDown()
        cluster = LocalCluster(name: "management-alarm") {
            $0.httpPort = 0
            $0.resourceLimits.memoryHighWatermarkBytes = 1  // any resident memory is past it
        }
        let node = try await cluster.startLone()
        let local = try await waitFor("the memory alarm") { () -> HealthCheck? in
            let reply = try await self.http(node).get("/api/health/checks/local-alarms")
            return reply.status == 503 ? try JSONDecoder().decode(HealthCheck.self, from: Data(reply.body)) : nil
        }
        XCTAssertEqual(local.status, "failed")
        XCTAssertEqual(local.alarms?.map(\.resource), ["memory"])
        try await expect(503, node, .GET, "/api/health/checks/alarms")
        try await expect(200, node, .GET, "/api/health/checks/virtual-hosts")

        let amqpPort = node.amqpAddress.port!
        let listening = try decode(HealthCheck.self, try await http(node).get("/api/health/checks/port-listener/\(amqpPort)"))
        XCTAssertEqual(listening, HealthCheck(status: "ok", port: amqpPort))
        let other = try await http(node).get("/api/health/checks/port-listener/1")
        XCTAssertEqual(other.status, 503)
        XCTAssertEqual(try JSONDecoder().decode(HealthCheck.self, from: Data(other.body)).reason, "No active listener")
        try await expect(200, node, .GET, "/api/health/checks/protocol-listener/amqp")
        try await expect(200, node, .GET, "/api/health/checks/protocol-listener/http")
        try await expect(503, node, .GET, "/api/health/checks/protocol-listener/mqtt")
        let overview = try decode(OverviewInfo.self, try await http(node).get("/api/overview"))
        XCTAssertEqual(overview.listeners.map(\.protocol), ["amqp", "http"], "the overview lists the ports the health checks see")
        XCTAssertEqual(overview.listeners.first?.port, amqpPort)
        try await expect(200, node, .GET, "/api/health/checks/node-is-quorum-critical", message: "a node of its own is no one's quorum")
        try await node.shutdown()
    }

    func testANodeIsQuorumCriticalOnceStoppingItWouldLeaveNoMajority() async throws {
        try await cluster.tearDown()
        cluster = LocalCluster(name: "management-quorum") {
            $0.httpPort = 0
            $0.gossipProbeIntervalMs = 100
            $0.gossipSuspicionTimeoutMs = 500
        }
        var nodes = try await cluster.start(size: 3)
        let leaderID = try await cluster.leader(of: nodes)
        try await expect(201, nodes[leaderID]!, .PUT, "/api/queues/%2F/kept", "{}")
        for node in nodes.values {
            _ = try await waitFor("every node to see every member alive") { () -> Bool? in
                try await self.http(node).get("/api/health/checks/node-is-quorum-critical").status == 200 ? true : nil
            }
        }
        let stopped = nodes.keys.sorted().first { $0 != leaderID }!
        try await nodes.removeValue(forKey: stopped)!.shutdown()
        for node in nodes.values {
            let check = try await waitFor("a survivor to be quorum-critical") { () -> HealthCheck? in
                let reply = try await self.http(node).get("/api/health/checks/node-is-quorum-critical")
                return reply.status == 503 ? try JSONDecoder().decode(HealthCheck.self, from: Data(reply.body)) : nil
            }
            XCTAssertEqual(check.queues?.map(\.name), ["kept"])
        }
        for node in nodes.values { try await node.shutdown() }
    }

    // MARK: Helpers

    private func expect(
        _ status: Int, _ node: BerthNode, _ method: NIOHTTP1.HTTPMethod, _ path: String, _ body: String? = nil, as credentials: HTTPCredentials? = .guest,
        message: String = "", file: StaticString = #filePath, line: UInt = #line
    ) async throws {
        let headers = body == nil ? [] : [("Content-Type", "application/json")]
        let reply = try await http(node, credentials).send(method, path, headers: headers, body: Array((body ?? "").utf8))
        XCTAssertEqual(reply.status, status, "\(method) \(path) \(message): \(String(decoding: reply.body, as: UTF8.self))", file: file, line: line)
    }

    private func decode<Value: Decodable>(_ type: Value.Type, _ reply: HTTPReply) throws -> Value {
        guard reply.status == 200 else { throw HTTPStatusError(status: reply.status, body: String(decoding: reply.body, as: UTF8.self)) }
        return try JSONDecoder().decode(type, from: Data(reply.body))
    }

    private struct HTTPStatusError: Error {
        var status: Int
        var body: String
    }

    private func http(_ node: BerthNode, _ credentials: HTTPCredentials? = .guest) -> StatusClient {
        StatusClient(host: "127.0.0.1", port: node.httpAddress!.port!, timeout: .seconds(10), credentials: credentials, on: cluster.clientLoop)
    }
}
