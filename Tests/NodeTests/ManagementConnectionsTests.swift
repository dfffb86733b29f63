import Client
import FoundationEssentials
import NIOCore
import Node
import Raft
import StatusAPI
import XCTest

/// The management API's connections, channels and consumers: the leader lists every client
/// connection of the cluster as its client sees it (a follower relays its clients' channels
/// to the leader), and a follower answers with the leader's list.
final class ManagementConnectionsTests: XCTestCase {
    private var cluster: LocalCluster!

    override func setUp() {
        cluster = LocalCluster(name: "connections") { $0.httpPort = 0 }
    }

    override func tearDown() async throws {
        try await cluster.tearDown()
    }

    func testEveryNodeListsTheClustersConnectionsWithTheNodeEachClientReached() async throws {
        let nodes = try await cluster.start(size: 3)
        let leaderID = try await cluster.leader(of: nodes)
        let (followerID, follower) = nodes.first { $0.key != leaderID }!
        let leader = nodes[leaderID]!

        let throughFollower = try await cluster.connect([follower])
        let publishing = try await throughFollower.openChannel()
        try await publishing.confirmSelect()
        _ = try await publishing.queueDeclare("listed", durable: true)
        let consuming = try await throughFollower.openChannel()
        try await consuming.qos(prefetchCount: 5)
        // Held to the end: a consumer whose deliveries nobody holds is cancelled.
        let deliveries = try await consuming.consume(queue: "listed")
        let direct = try await cluster.connect([leader])
        _ = try await direct.openChannel()

        for (id, node) in [(leaderID, leader), (followerID, follower)] {
            let connections = try await waitFor("node \(id) to list both connections with their channels") { () async throws -> [ConnectionInfo]? in
                let listed: [ConnectionInfo] = try await self.get("/api/connections", from: node)
                return listed.count == 2 && listed.map(\.channels).sorted() == [1, 2] ? listed : nil
            }
            let relayed = try XCTUnwrap(connections.first { $0.channels == 2 })
            XCTAssertEqual(relayed.node, "berth@\(followerID)", "the node the client reached, not the leader that serves its channels")
            XCTAssertEqual(relayed.port, follower.amqpAddress.port, "the follower's AMQP port")
            XCTAssertEqual(relayed.peer_host, "127.0.0.1")
            XCTAssertNotEqual(relayed.peer_port, 0)
            XCTAssertEqual(relayed.name, "127.0.0.1:\(relayed.peer_port) -> 127.0.0.1:\(follower.amqpAddress.port!)")
            XCTAssertEqual(relayed.user, "guest")
            XCTAssertEqual(relayed.vhost, "/")
            XCTAssertEqual(relayed.auth_mechanism, "PLAIN")
            XCTAssertFalse(relayed.client_properties.keys.contains { $0.hasPrefix("x-forwarded") }, "what the follower added is not the client's")
            let served = try XCTUnwrap(connections.first { $0.channels == 1 })
            XCTAssertEqual(served.node, "berth@\(leaderID)")
            XCTAssertEqual(served.port, leader.amqpAddress.port)

            let one: ConnectionInfo = try await get("/api/connections/\(pathSegment(relayed.name))", from: node)
            XCTAssertEqual(one, relayed)
            let unknown = try await status("/api/connections/nobody", from: node)
            XCTAssertEqual(unknown, 404)

            let channels: [ChannelInfo] = try await get("/api/connections/\(pathSegment(relayed.name))/channels", from: node)
            XCTAssertEqual(channels.map(\.number), [1, 2])
            XCTAssertEqual(channels.map(\.confirm), [true, false])
            XCTAssertEqual(channels.map(\.consumer_count), [0, 1])
            XCTAssertEqual(channels[1].prefetch_count, 5)
            XCTAssertEqual(channels[0].name, "\(relayed.name) (1)")
            let all: [ChannelInfo] = try await get("/api/channels", from: node)
            XCTAssertEqual(all.count, 3)

            let consumers: [ConsumerInfo] = try await get("/api/consumers/%2F", from: node)
            XCTAssertEqual(consumers.count, 1)
            XCTAssertEqual(consumers.first?.queue.name, "listed")
            XCTAssertEqual(consumers.first?.ack_required, true)
            XCTAssertEqual(consumers.first?.prefetch_count, 5)
            XCTAssertEqual(consumers.first?.channel_details.connection_name, relayed.name)
            let unknownVHost = try await status("/api/consumers/nowhere", from: node)
            XCTAssertEqual(unknownVHost, 404)
        }

        // A closed connection leaves the list.
        await direct.close()
        let remaining = try await waitFor("the closed connection to leave the follower's list") { () async throws -> [ConnectionInfo]? in
            let listed: [ConnectionInfo] = try await self.get("/api/connections", from: follower)
            return listed.count == 1 ? listed : nil
        }

        // An operator closes the relayed connection through the leader: the follower, which
        // holds the client's socket, closes it with 320 and the operator's reason.
        let name = try pathSegment(XCTUnwrap(remaining.first).name)
        let closing = try await client(leader).send(.DELETE, "/api/connections/\(name)", headers: [("X-Reason", "maintenance window")])
        XCTAssertEqual(closing.status, 204)
        let error = await throughFollower.closed()
        guard case .connectionClosedByServer(let reason) = error else { return XCTFail("\(error)") }
        XCTAssertEqual(reason.replyCode, .connectionForced)
        XCTAssertEqual(reason.replyText, "CONNECTION_FORCED - maintenance window")
        let gone = try await client(leader).send(.DELETE, "/api/connections/\(name)")
        XCTAssertEqual(gone.status, 404)
        withExtendedLifetime(deliveries) {}
        for node in nodes.values { try await node.shutdown() }
    }

    // MARK: Helpers

    private func client(_ node: BerthNode) -> StatusClient {
        StatusClient(host: "127.0.0.1", port: node.httpAddress!.port!, on: cluster.clientLoop)
    }

    private func get<Body: Decodable>(_ path: String, from node: BerthNode) async throws -> Body {
        let reply = try await client(node).get(path)
        XCTAssertEqual(reply.status, 200, path)
        return try JSONDecoder().decode(Body.self, from: Data(reply.body))
    }

    private func status(_ path: String, from node: BerthNode) async throws -> Int {
        try await client(node).get(path).status
    }
}
