import AMQP
import Client
import FoundationEssentials
import NIOCore
import Node
import Raft
import StatusAPI
import XCTest

/// The Prometheus endpoint of real nodes: RabbitMQ's metric names with the values a client's
/// work gives them, counted where RabbitMQ counts them (messages and queues on the leader,
/// connections on the node the client reached), in Prometheus' text format.
final class PrometheusMetricsTests: XCTestCase {
    private var cluster: LocalCluster!

    override func setUp() {
        cluster = LocalCluster(name: "metrics") {
            $0.prometheusPort = 0
            $0.httpPort = 0
        }
    }

    override func tearDown() async throws {
        try await cluster.tearDown()
    }

    func testAClientsWorkThroughAFollowerShowsInTheLeadersMessageCountsAndTheFollowersConnections() async throws {
        let nodes = try await cluster.start(size: 3)
        let leaderID = try await cluster.leader(of: nodes)
        let (followerID, follower) = nodes.first { $0.key != leaderID }!
        let leader = nodes[leaderID]!

        let connection = try await cluster.connect([follower])
        let channel = try await connection.openChannel()
        _ = try await channel.queueDeclare("measured", durable: true)
        try await channel.confirmSelect()
        for number in 0..<10 {
            try await channel.publish(routingKey: "measured", body: ByteBuffer(string: "message \(number)")).confirmed()
        }
        // Unroutable, once returned and once dropped.
        try await channel.publish(routingKey: "nowhere", body: ByteBuffer(bytes: [1]), mandatory: true).confirmed()
        try await channel.publish(routingKey: "nowhere", body: ByteBuffer(bytes: [2])).confirmed()

        // Three by basic.get (two to acknowledge, one without), seven to a consumer.
        let first = try await channel.get(queue: "measured")
        let second = try await channel.get(queue: "measured")
        XCTAssertNotNil(second)
        try await channel.ack(deliveryTag: try XCTUnwrap(first).deliveryTag, multiple: true)
        let unacknowledged = try await channel.get(queue: "measured", noAck: true)
        XCTAssertNotNil(unacknowledged)
        var deliveries = try await channel.consume(queue: "measured").makeAsyncIterator()
        var last: UInt64 = 0
        for _ in 0..<7 {
            let delivery = try await deliveries.next()
            last = try XCTUnwrap(delivery).deliveryTag
        }
        try await channel.ack(deliveryTag: last, multiple: true)
        let empty = try await channel.get(queue: "measured")
        XCTAssertNil(empty)

        let counted = try await waitFor("the leader to count the acknowledgements") { () async throws -> [String: Double]? in
            let samples = try await self.scrape(leader)
            return samples[#"rabbitmq_global_messages_acknowledged_total{protocol="amqp091"}"#] == 9 ? samples : nil
        }
        let global = { (name: String) in counted[#"rabbitmq_global_\#(name){protocol="amqp091"}"#] }
        XCTAssertEqual(global("messages_received_total"), 12)
        XCTAssertEqual(global("messages_confirmed_total"), 12)
        XCTAssertEqual(global("messages_routed_total"), 10)
        XCTAssertEqual(global("messages_unroutable_returned_total"), 1)
        XCTAssertEqual(global("messages_unroutable_dropped_total"), 1)
        XCTAssertEqual(global("messages_delivered_total"), 10)
        XCTAssertEqual(global("messages_delivered_get_manual_ack_total"), 2)
        XCTAssertEqual(global("messages_delivered_get_auto_ack_total"), 1)
        XCTAssertEqual(global("messages_delivered_consume_manual_ack_total"), 7)
        XCTAssertEqual(global("messages_delivered_consume_auto_ack_total"), 0)
        XCTAssertEqual(global("messages_get_empty_total"), 1)
        XCTAssertEqual(counted["rabbitmq_queues"], 1)
        XCTAssertEqual(counted["rabbitmq_queue_messages_ready"], 0)
        XCTAssertEqual(counted["rabbitmq_queue_consumers"], 1)
        XCTAssertEqual(counted[#"berth_raft_role{role="leader"}"#], 1)
        XCTAssertGreaterThan(counted["berth_log_sync_seconds_count"] ?? 0, 0, "the leader synced its log")
        XCTAssertEqual(counted["rabbitmq_connections_opened_total"], 0, "the client reached the follower, not the leader")

        // The follower counts the client's connection, and no messages nor queues: those are
        // the leader's, and a sum over the nodes counts each once.
        let fromFollower = try await scrape(follower)
        XCTAssertEqual(fromFollower["rabbitmq_connections_opened_total"], 1)
        XCTAssertEqual(fromFollower["rabbitmq_connections"], 1)
        XCTAssertEqual(fromFollower[#"rabbitmq_global_messages_received_total{protocol="amqp091"}"#], 0)
        XCTAssertNil(fromFollower["rabbitmq_queue_messages_ready"])
        XCTAssertEqual(fromFollower[#"berth_raft_role{role="follower"}"#], 1)
        XCTAssertEqual(fromFollower[#"rabbitmq_identity_info{rabbitmq_node="berth@\#(followerID)",rabbitmq_cluster="berth"}"#], 1)
        XCTAssertEqual(fromFollower["rabbitmq_raft_term_total"], counted["rabbitmq_raft_term_total"])

        // The management API's overview gives the leader's totals, through a follower too.
        let overview = try await StatusClient(host: "127.0.0.1", port: follower.httpAddress!.port!, on: cluster.clientLoop).get("/api/overview")
        XCTAssertEqual(overview.status, 200)
        let stats = try JSONDecoder().decode(OverviewInfo.self, from: Data(overview.body)).message_stats.counts
        XCTAssertEqual(stats["publish"]?.total, 12)
        XCTAssertEqual(stats["confirm"]?.total, 12)
        XCTAssertEqual(stats["deliver_get"]?.total, 10)
        XCTAssertEqual(stats["ack"]?.total, 9)
        XCTAssertEqual(stats["redeliver"]?.total, 0)
        XCTAssertTrue(String(decoding: overview.body, as: UTF8.self).contains(#""publish_details":{"rate":"#), "RabbitMQ's shape")
        // And each queue's, without confirms (a channel confirms, not a queue).
        let queue = try await StatusClient(host: "127.0.0.1", port: follower.httpAddress!.port!, on: cluster.clientLoop).get("/api/queues/%2F/measured")
        let queueStats = try XCTUnwrap(try JSONDecoder().decode(QueueInfo.self, from: Data(queue.body)).message_stats).counts
        XCTAssertEqual(queueStats["publish"]?.total, 10)
        XCTAssertEqual(queueStats["deliver_get"]?.total, 10)
        XCTAssertEqual(queueStats["ack"]?.total, 9, "the get without ack is not acknowledged")
        XCTAssertNil(queueStats["confirm"])

        // Messages ready show per queue on the per-object endpoint, summed on /metrics.
        _ = try await channel.queueDeclare("waiting", durable: true)
        for number in 0..<3 {
            try await channel.publish(routingKey: "waiting", body: ByteBuffer(bytes: [UInt8(number)])).confirmed()
        }
        let perObject = try await scrape(leader, path: "/metrics/per-object")
        XCTAssertEqual(perObject[#"rabbitmq_queue_messages_ready{vhost="/",queue="waiting"}"#], 3)
        XCTAssertEqual(perObject[#"rabbitmq_queue_messages_ready{vhost="/",queue="measured"}"#], 0)
        XCTAssertEqual(perObject[#"rabbitmq_queue_consumers{vhost="/",queue="measured"}"#], 1)
        let summed = try await scrape(leader)
        XCTAssertEqual(summed["rabbitmq_queue_messages_ready"], 3)

        await connection.close()
        _ = try await waitFor("the follower to count the connection's close") {
            try await self.scrape(follower)["rabbitmq_connections_closed_total"] == 1 ? true : nil
        }
        for node in nodes.values { try await node.shutdown() }
    }

    /// Messages that die are counted by why, their queue's type and its dead-letter strategy,
    /// and an at-least-once queue's forwarded ones as confirmed, under RabbitMQ's names.
    func testDeadLettersAreCountedByReasonQueueTypeAndStrategy() async throws {
        let nodes = try await cluster.start(size: 1)
        let node = try XCTUnwrap(nodes.values.first)
        let connection = try await cluster.connect([node])
        let channel = try await connection.openChannel()
        try await channel.confirmSelect()
        let quorum: FieldTable = ["x-queue-type": .longString(Array("quorum".utf8))]
        _ = try await channel.queueDeclare("dead", durable: true, arguments: quorum)
        var safe = quorum
        safe["x-dead-letter-exchange"] = .longString([])
        safe["x-dead-letter-routing-key"] = .longString(Array("dead".utf8))
        safe["x-dead-letter-strategy"] = .longString(Array("at-least-once".utf8))
        safe["x-overflow"] = .longString(Array("reject-publish".utf8))
        _ = try await channel.queueDeclare("safe", durable: true, arguments: safe)
        _ = try await channel.queueDeclare("plain", durable: true)
        for queue in ["safe", "safe", "plain"] {
            try await channel.publish(routingKey: queue, body: ByteBuffer(string: queue)).confirmed()
        }
        for queue in ["safe", "safe", "plain"] {
            let got = try await channel.get(queue: queue)
            try await channel.reject(deliveryTag: try XCTUnwrap(got).deliveryTag, requeue: false)
        }
        let counted = try await waitFor("the rejects counted") { () async throws -> [String: Double]? in
            let samples = try await self.scrape(node)
            let plain = #"rabbitmq_global_messages_dead_lettered_rejected_total{queue_type="rabbit_classic_queue",dead_letter_strategy="disabled"}"#
            return samples[plain] == 1 ? samples : nil
        }
        XCTAssertEqual(
            counted[#"rabbitmq_global_messages_dead_lettered_rejected_total{queue_type="rabbit_quorum_queue",dead_letter_strategy="at_least_once"}"#], 2)
        XCTAssertEqual(
            counted[#"rabbitmq_global_messages_dead_lettered_confirmed_total{queue_type="rabbit_quorum_queue",dead_letter_strategy="at_least_once"}"#], 2)
        await connection.close()
        for node in nodes.values { try await node.shutdown() }
    }

    // MARK: Helpers

    /// The samples of one scrape, by series (name and labels as written), checked to be in
    /// Prometheus' text format: every sample's family has a TYPE line before it.
    private func scrape(_ node: BerthNode, path: String = "/metrics") async throws -> [String: Double] {
        let client = StatusClient(host: "127.0.0.1", port: node.metricsAddress!.port!, credentials: nil, on: cluster.clientLoop)
        let reply = try await client.get(path)
        XCTAssertEqual(reply.status, 200)
        var samples: [String: Double] = [:]
        var typed: Set<String> = []
        for line in String(decoding: reply.body, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                typed.insert(String(line.split(separator: " ")[2]))
                continue
            }
            guard !line.hasPrefix("#") else { continue }
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                XCTFail("not a sample: \(line)")
                continue
            }
            let series = String(line[..<space])
            let family = String(series.prefix { $0 != "{" })
            let histogramPart = ["_bucket", "_sum", "_count"].first { family.hasSuffix($0) }
            let base = histogramPart.map { String(family.dropLast($0.count)) } ?? family
            XCTAssertTrue(typed.contains(family) || typed.contains(base), "\(family) has no TYPE line before its samples")
            XCTAssertNil(samples[series], "\(series) appears twice")
            samples[series] = value
        }
        return samples
    }
}
