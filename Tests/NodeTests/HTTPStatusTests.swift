import AMQP
import FoundationEssentials
import Client
import Glibc
import NIOCore
import NIOPosix
import Node
import Raft
import StatusAPI
import XCTest

/// The HTTP status API of real nodes in one process: a three-node cluster over loopback, read
/// through the same client `berth nodes` and `berth queues` use.
final class HTTPStatusTests: XCTestCase {
    private var cluster: LocalCluster!

    override func setUp() {
        cluster = LocalCluster(name: "http") {
            $0.httpPort = 0
            $0.gossipProbeIntervalMs = 100
            $0.gossipSuspicionTimeoutMs = 500
        }
    }

    override func tearDown() async throws {
        try await cluster.tearDown()
    }

    // MARK: Tests

    func testTheNodesAgreeOnLeaderAndTermAndTheLeaderTracksEachFollower() async throws {
        let nodes = try await cluster.start(size: 3)
        let views = try await agreedViews(of: nodes)
        let leaderID = views[1]!.leader!
        let followers = Set(nodes.keys).subtracting([leaderID])

        for (id, view) in views {
            XCTAssertEqual(view.id, id)
            XCTAssertEqual(view.voters, [1, 2, 3])
            XCTAssertEqual(view.learners, [])
            XCTAssertEqual(view.role, id == leaderID ? .leader : .follower)
            if id != leaderID { XCTAssertNil(view.peers, "only the leader tracks the others") }
        }
        let leaderView = views[leaderID]!
        let peers = try XCTUnwrap(leaderView.peers)
        XCTAssertEqual(Set(peers.map(\.id)), followers)
        for peer in peers {
            XCTAssertEqual(peer.lag, leaderView.lastIndex - peer.matchIndex)
            XCTAssertTrue(["probe", "replicate", "snapshot"].contains(peer.mode), peer.mode)
        }

        // Publishing moves every node's applied index, and the followers catch up to lag 0.
        let appliedBefore = views.mapValues(\.appliedIndex)
        let connection = try await cluster.connect(Array(nodes.values))
        let channel = try await connection.openChannel()
        _ = try await channel.queueDeclare("indexed", durable: true)
        try await channel.confirmSelect()
        try await publishConfirmed(channel, queue: "indexed", count: 20)
        await connection.close()
        let target = try await client(nodes[leaderID]!).node().commitIndex
        XCTAssertGreaterThan(target, appliedBefore[leaderID]!)
        for (id, node) in nodes {
            let applied = try await waitFor("node \(id) to apply index \(target)") {
                let view = try await self.client(node).node()
                return view.appliedIndex >= target ? view.appliedIndex : nil
            }
            XCTAssertGreaterThan(applied, appliedBefore[id]!)
        }
        let caughtUp = try await waitFor("both followers at lag 0") {
            let view = try await self.client(nodes[leaderID]!).node()
            return view.peers?.count == 2 && view.peers!.allSatisfy({ $0.lag == 0 }) ? view : nil
        }
        XCTAssertTrue(caughtUp.peers!.allSatisfy { $0.matchIndex == caughtUp.lastIndex && $0.mode == "replicate" })
        for node in nodes.values { try await node.shutdown() }
    }

    /// A dead member stays a voter until removed; only the leader removes, and a follower
    /// says who does. Gossip's view of the dead member shows in every node's status.
    func testAnOperatorRemovesADeadMemberThroughTheLeaderOnly() async throws {
        var nodes = try await cluster.start(size: 3)
        let leaderID = try await agreedViews(of: nodes)[1]!.leader!
        let deadID = nodes.keys.sorted().first { $0 != leaderID }!
        let followerID = nodes.keys.sorted().first { $0 != leaderID && $0 != deadID }!
        try await nodes.removeValue(forKey: deadID)!.shutdown()
        let leader = client(nodes[leaderID]!)
        let gone = try await waitFor("gossip on the leader to report node \(deadID) dead") {
            try await leader.node().members?.first { $0.id == deadID && $0.status == "dead" }
        }
        XCTAssertEqual(gone.id, deadID)
        let stillVoting = try await leader.node().voters
        XCTAssertEqual(Set(stillVoting), Set(cluster.peers.keys), "the quorum does not shrink on its own")

        let refused = try await client(nodes[followerID]!).remove(deadID)
        XCTAssertEqual(refused.status, 409)
        XCTAssertTrue(refused.result.message.contains("node \(leaderID)"), refused.result.message)
        let unknown = try await leader.remove(99)
        XCTAssertEqual(unknown.status, 404)
        let removed = try await leader.remove(deadID)
        XCTAssertEqual(removed.status, 200)
        let voters = try await waitFor("node \(deadID) to leave the voters") {
            let voters = try await leader.node().voters
            return voters.contains(deadID) ? nil : voters
        }
        XCTAssertEqual(Set(voters), [leaderID, followerID])
        for node in nodes.values { try await node.shutdown() }
    }

    func testTheLeaderCountsWhatAConsumerHoldsAndAFollowerAnswersWithTheLeadersCounts() async throws {
        let nodes = try await cluster.start(size: 3)
        let leaderID = try await agreedViews(of: nodes)[1]!.leader!
        let leader = client(nodes[leaderID]!)
        let follower = client(nodes.first { $0.key != leaderID }!.value)

        let connection = try await cluster.connect(Array(nodes.values))
        let publisher = try await connection.openChannel()
        _ = try await publisher.queueDeclare("held", durable: true, arguments: ["x-max-length": .int64(100)])
        try await publisher.confirmSelect()
        try await publishConfirmed(publisher, queue: "held", count: 10)
        try await expectQueue("held", on: leader, QueueCounts(messages: 10, ready: 10, unacked: 0, consumers: 0))

        // A consumer with prefetch 4 holds four deliveries unacknowledged.
        let consuming = try await connection.openChannel()
        try await consuming.qos(prefetchCount: 4)
        var deliveries = try await consuming.consume(queue: "held").makeAsyncIterator()
        var held: [UInt64] = []
        for _ in 0..<4 {
            let delivery = try await deliveries.next()
            held.append(try XCTUnwrap(delivery).deliveryTag)
        }
        try await expectQueue("held", on: leader, QueueCounts(messages: 10, ready: 6, unacked: 4, consumers: 1))

        // Two acknowledged: they leave the queue, and two more go out in their place.
        try await consuming.ack(deliveryTag: held[1], multiple: true)
        for _ in 0..<2 {
            let delivery = try await deliveries.next()
            held.append(try XCTUnwrap(delivery).deliveryTag)
        }
        try await expectQueue("held", on: leader, QueueCounts(messages: 8, ready: 4, unacked: 4, consumers: 1))

        let fromLeader = try await leader.queues()
        XCTAssertEqual(fromLeader.node, leaderID)
        XCTAssertEqual(fromLeader.leader, leaderID)
        let queue = try XCTUnwrap(fromLeader.queues.first { $0.name == "held" })
        XCTAssertEqual(queue.vhost, "/")
        XCTAssertTrue(queue.durable)
        XCTAssertFalse(queue.exclusive)
        XCTAssertFalse(queue.autoDelete)
        XCTAssertEqual(queue.arguments, ["x-max-length": "100"])

        // A follower answers with the leader's counts, asked over their peer link.
        try await expectQueue("held", on: follower, QueueCounts(messages: 8, ready: 4, unacked: 4, consumers: 1))
        let fromFollower = try await follower.queues()
        XCTAssertEqual(fromFollower.leader, leaderID)
        XCTAssertNotEqual(fromFollower.node, leaderID)

        // So does RabbitMQ's queue route, on either node.
        for node in [leader, follower] {
            let reply = try await node.get("/api/queues/%2F/held")
            XCTAssertEqual(reply.status, 200)
            let info = try JSONDecoder().decode(QueueInfo.self, from: Data(reply.body))
            XCTAssertEqual([info.messages, info.messages_ready, info.messages_unacknowledged, info.consumers], [8, 4, 4, 1])
            XCTAssertEqual(info.arguments, ["x-max-length": .int(100)])
            XCTAssertEqual(info.leader, "berth@\(leaderID)")
            XCTAssertEqual(Set(info.members), ["berth@1", "berth@2", "berth@3"])
        }

        await connection.close()
        for node in nodes.values { try await node.shutdown() }
    }

    func testHealthIs503WithoutALeaderAnd200OnceOneIsElected() async throws {
        try cluster.addPeers(3)
        // One voter of three can never win an election alone.
        var nodes: [NodeID: BerthNode] = [1: try await cluster.startNode(1)]
        let alone = try await client(nodes[1]!).health()
        XCTAssertEqual(alone.status, 503)
        XCTAssertEqual(alone.health.status, "no leader")
        XCTAssertNil(alone.health.leader)
        XCTAssertEqual(alone.health.node, 1)

        nodes[2] = try await cluster.startNode(2)
        nodes[3] = try await cluster.startNode(3)
        for (id, node) in nodes {
            let health = try await waitFor("node \(id) to know a leader") {
                let answer = try await self.client(node).health()
                return answer.status == 200 ? answer.health : nil
            }
            XCTAssertEqual(health.status, "ok")
            XCTAssertNotNil(health.leader)
        }
        let unknownPath = try await client(nodes[1]!).get("/api/nothing-here")
        XCTAssertEqual(unknownPath.status, 404)

        // Shutting down closes the HTTP port too.
        let stopped = client(nodes[1]!)
        try await nodes.removeValue(forKey: 1)!.shutdown()
        do {
            _ = try await stopped.health()
            XCTFail("a stopped node still answers HTTP")
        } catch StatusClientError.cannotConnect {}
        for node in nodes.values { try await node.shutdown() }
    }

    /// The routes that change the cluster answer only a user's credentials, sent to an
    /// address of the node, from no page of another site; every refusal changes nothing.
    func testAChangeNeedsCredentialsThisNodesAddressAndNoOtherSite() async throws {
        let nodes = try await cluster.start(size: 3)
        let leaderID = try await agreedViews(of: nodes)[1]!.leader!
        let leader = nodes[leaderID]!
        let follower = nodes.keys.sorted().first { $0 != leaderID }!
        let port = leader.httpAddress!.port!
        let guest = "Authorization: Basic \(Data("guest:guest".utf8).base64EncodedString())\r\n"
        let wrong = "Authorization: Basic \(Data("guest:nope".utf8).base64EncodedString())\r\n"
        let remove = "DELETE /api/berth/members/\(follower) HTTP/1.1\r\n"
        let local = "Host: 127.0.0.1:\(port)\r\n"

        let anonymous = try rawRequest(leader, remove + local)
        XCTAssertEqual(anonymous.status, 401)
        XCTAssertEqual(anonymous.header, "Basic realm=\"berth\"")
        XCTAssertEqual(try rawRequest(leader, remove + local + wrong).status, 401)
        XCTAssertEqual(try rawRequest(leader, "POST /api/berth/leave HTTP/1.1\r\n" + local).status, 401, "leaving too")
        XCTAssertEqual(try rawRequest(leader, remove + "Host: berth.attacker.example:\(port)\r\n" + guest).status, 403, "a rebound name")
        XCTAssertEqual(try rawRequest(leader, remove + local + guest + "Origin: http://attacker.example\r\n").status, 403, "another origin")
        XCTAssertEqual(try rawRequest(leader, remove + local + guest + "Sec-Fetch-Site: cross-site\r\n").status, 403, "another site")
        let voters = try await client(leader).node().voters
        XCTAssertTrue(voters.contains(follower), "no refused request removed node \(follower)")

        // The same with what it needs gets through: an unknown member, so nothing changes.
        XCTAssertEqual(try rawRequest(leader, "DELETE /api/berth/members/99 HTTP/1.1\r\n" + local + guest).status, 404)
        XCTAssertEqual(try rawRequest(leader, "DELETE /api/berth/members/99 HTTP/1.1\r\nHost: localhost:\(port)\r\n" + guest
            + "Origin: http://localhost:\(port)\r\nSec-Fetch-Site: same-origin\r\n").status, 404)
        let unauthenticated = try await client(leader, credentials: nil).remove(99)
        XCTAssertEqual(unauthenticated.status, 401, "the client sends nothing unless given credentials")
        for node in nodes.values { try await node.shutdown() }
    }

    // MARK: Cluster

    private func client(_ node: BerthNode, credentials: HTTPCredentials? = .guest) -> StatusClient {
        StatusClient(host: "127.0.0.1", port: node.httpAddress!.port!, credentials: credentials, on: cluster.clientLoop)
    }

    /// One request written by hand: its status code, and the header `wanted` if it came.
    private func rawRequest(_ node: BerthNode, _ head: String, wanted: String = "WWW-Authenticate") throws -> (status: Int, header: String?) {
        let received = try RawAMQPSession.exchange(port: node.httpAddress!.port!, send: Array((head + "Connection: close\r\n\r\n").utf8))
        let lines = String(decoding: received, as: UTF8.self).split(separator: "\r\n")
        let status = lines.first.flatMap { $0.split(separator: " ").dropFirst().first.flatMap { Int($0) } } ?? 0
        let header = lines.first { $0.lowercased().hasPrefix(wanted.lowercased() + ":") }.map { String($0.dropFirst(wanted.count + 1)).trimmingPrefix(" ") }
        return (status, header.map(String.init))
    }

    /// Every node's `/api/berth/node`, once all of them name the same leader in the same term and
    /// that leader serves clients.
    private func agreedViews(of nodes: [NodeID: BerthNode]) async throws -> [NodeID: NodeStatus] {
        try await waitFor("the nodes to agree on a serving leader") {
            var views: [NodeID: NodeStatus] = [:]
            for (id, node) in nodes { views[id] = try await self.client(node).node() }
            guard let leader = views.values.first?.leader, let term = views.values.first?.term,
                views.values.allSatisfy({ $0.leader == leader && $0.term == term }), views[leader]?.serving == true
            else { return nil }
            return views
        }
    }

    private func publishConfirmed(_ channel: AMQPChannel, queue: String, count: Int) async throws {
        var confirmations: [PublishConfirmation] = []
        for i in 0..<count {
            confirmations.append(try await channel.publish(routingKey: queue, body: ByteBuffer(string: "m\(i)"), properties: BasicProperties(deliveryMode: 2)))
        }
        for confirmation in confirmations { try await confirmation.confirmed() }
    }

    private struct QueueCounts: Equatable, CustomStringConvertible {
        var messages: Int
        var ready: Int?
        var unacked: Int?
        var consumers: Int?

        var description: String {
            "messages \(messages), ready \(ready.map(String.init) ?? "null"), unacked \(unacked.map(String.init) ?? "null"), consumers \(consumers.map(String.init) ?? "null")"
        }
    }

    /// Waits until `/api/berth/queues` shows `queue` with exactly these counts (acks and dispatch
    /// take a turn of the node's loop, and a follower applies after the leader).
    private func expectQueue(_ queue: String, on client: StatusClient, _ expected: QueueCounts, file: StaticString = #filePath, line: UInt = #line) async throws {
        var last: QueueCounts?
        do {
            _ = try await waitFor("\(queue) to show \(expected)", file: file, line: line) { () -> Bool? in
                guard let status = try await client.queues().queues.first(where: { $0.name == queue }) else { return nil }
                last = QueueCounts(messages: status.messages, ready: status.ready, unacked: status.unacked, consumers: status.consumers)
                return last == expected ? true : nil
            }
        } catch {
            XCTFail("last seen: \(last.map(String.init(describing:)) ?? "no such queue")", file: file, line: line)
            throw error
        }
    }
}
