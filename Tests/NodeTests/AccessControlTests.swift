import AMQP
import Auth
import Broker
import Client
import FoundationEssentials
import NIOCore
import NIOHTTP1
@testable import Node
import Raft
import StatusAPI
import XCTest

/// Users, vhosts and permissions through real nodes: managed with RabbitMQ's management
/// routes on any node, replicated, and checked on every AMQP method and HTTP route.
final class AccessControlTests: XCTestCase {
    private var cluster: LocalCluster!

    /// Every node of these tests seeds a new cluster with this user.
    private static let seeded = User(name: "carol", passwordHash: PasswordHashing.hash("seed"), tags: ["administrator"])

    override func setUp() {
        cluster = LocalCluster(name: "access") {
            $0.httpPort = 0
            $0.initialUsers = [Self.seeded]
        }
    }

    override func tearDown() async throws {
        try await cluster.tearDown()
    }

    func testAUserAddedThroughAFollowerLogsInThroughEveryNodeUntilDeleted() async throws {
        let nodes = try await cluster.start(size: 3)
        let leader = try await waitFor("a serving leader") { () -> NodeID? in
            for (id, node) in nodes where try await self.http(node).node().serving { return id }
            return nil
        }
        let follower = nodes[nodes.keys.sorted().first { $0 != leader }!]!

        let put = try await http(follower).send(.PUT, "/api/users/alice", headers: json, body: Array(#"{"password":"wonder","tags":"monitoring"}"#.utf8))
        XCTAssertEqual(put.status, 201, "created, through the leader")
        let grant = try await http(follower).send(
            .PUT, "/api/permissions/%2F/alice", headers: json, body: Array(#"{"configure":".*","write":".*","read":".*"}"#.utf8))
        XCTAssertEqual(grant.status, 201)
        let again = try await http(follower).send(.PUT, "/api/users/alice", headers: json, body: Array(#"{"password":"wonder","tags":["monitoring"]}"#.utf8))
        XCTAssertEqual(again.status, 204, "an update")

        for node in nodes.values {
            let connection = try await waitFor("alice to log in through a node") { () -> AMQPConnection? in
                try? await self.connect(node, as: "alice", "wonder")
            }
            await connection.close()
            let users = try await waitFor("the node to list alice") { () -> [UserInfo]? in
                let users = try JSONDecoder().decode([UserInfo].self, from: Data(try await self.http(node).get("/api/users").body))
                return users.contains { $0.name == "alice" } ? users : nil
            }
            XCTAssertEqual(users.first { $0.name == "alice" }?.tags, ["monitoring"])
            XCTAssertEqual(users.first { $0.name == "alice" }?.hashing_algorithm, "rabbit_password_hashing_sha256")
        }
        let alice = HTTPCredentials(user: "alice", password: "wonder")
        let whoami = try await http(follower, alice).get("/api/whoami")
        XCTAssertEqual(try JSONDecoder().decode(WhoAmI.self, from: Data(whoami.body)), WhoAmI(name: "alice", tags: ["monitoring"]))
        try await expect(200, follower, .GET, "/api/berth/node", as: alice, message: "monitoring reads")
        try await expect(401, follower, .GET, "/api/users", as: alice, message: "only an administrator lists users")
        try await expect(401, follower, .DELETE, "/api/users/guest", as: alice, message: "nor deletes them")
        try await expect(401, follower, .GET, "/api/berth/node", as: nil, message: "no credentials, no status")
        try await expect(401, follower, .GET, "/api/berth/node", as: HTTPCredentials(user: "alice", password: "wrong"))

        try await expect(204, follower, .DELETE, "/api/users/alice")
        try await expect(404, follower, .DELETE, "/api/users/alice")
        for node in nodes.values {
            _ = try await waitFor("alice to be refused through a node") { () -> Bool? in
                do {
                    let connection = try await self.connect(node, as: "alice", "wonder")
                    await connection.close()
                    return nil
                } catch {
                    return true
                }
            }
        }
        for node in nodes.values { try await node.shutdown() }
    }

    func testAChangeThroughAFollowerReachesTheLeaderOverTheirPeerLinkNotTheLeadersHTTPPort() async throws {
        let nodes = try await cluster.start(size: 3)
        let leader = try await waitFor("a serving leader") { () -> NodeID? in
            for (id, node) in nodes where try await self.http(node).node().serving { return id }
            return nil
        }
        let follower = nodes[nodes.keys.sorted().first { $0 != leader }!]!
        // With the leader's HTTP port closed, only the peer link can carry the change there
        // (so the user's credentials and what the change carries never cross in clear).
        try await nodes[leader]!.httpServer?.stop()

        try await expect(201, follower, .PUT, "/api/vhosts/orders", message: "created on the leader")
        try await expect(204, follower, .PUT, "/api/vhosts/orders", message: "it exists")
        try await expect(400, follower, .PUT, "/api/permissions/nowhere/guest", #"{"configure":".*","write":".*","read":".*"}"#,
                         message: "the leader's refusal, as RabbitMQ words it")
        try await expect(404, follower, .DELETE, "/api/users/nobody", message: "the leader's not-found")
        for node in nodes.values {
            _ = try await waitFor("every node to have the vhost") { () -> Bool? in
                try await NodeAccess(loop: node.loop, core: node.core).read { $0.state.vhostNames.contains("orders") } ? true : nil
            }
        }
        for node in nodes.values { try await node.shutdown() }
    }

    func testTheInitialUsersSeedANewClusterOnlyOnce() async throws {
        var node = try await cluster.startLone()
        let connection = try await waitFor("the seeded user to log in") { try? await self.connect(node, as: "carol", "seed") }
        await connection.close()
        try await expect(200, node, .GET, "/api/users", as: HTTPCredentials(user: "carol", password: "seed"), message: "an administrator")
        try await expect(204, node, .DELETE, "/api/users/carol")
        try await node.shutdown()

        // Restarted with the same users: the cluster was seeded, the deletion stands.
        node = try await cluster.startLone()
        _ = try await waitFor("the node to serve") { try await self.http(node).node().serving ? true : nil }
        try await expect(404, node, .GET, "/api/users/carol")
        do {
            let again = try await connect(node, as: "carol", "seed")
            await again.close()
            XCTFail("a deleted seeded user logged in after a restart")
        } catch {}
        try await node.shutdown()
    }

    func testVHostsAndPermissionsGovernWhichVHostAUserMayOpen() async throws {
        let node = try await cluster.startLone()
        _ = try await waitFor("the node to serve") { try await self.http(node).node().serving ? true : nil }
        try await expect(201, node, .PUT, "/api/users/bob", #"{"password":"builder","tags":""}"#)
        try await expect(201, node, .PUT, "/api/vhosts/prod")
        try await expect(204, node, .PUT, "/api/vhosts/prod")

        await assertConnectionRefused(node, as: "bob", vhost: "prod", code: .notAllowed, text: "NOT_ALLOWED - access to vhost 'prod' refused for user 'bob'")
        try await expect(201, node, .PUT, "/api/permissions/prod/bob", #"{"configure":"","write":"","read":"^logs$"}"#)
        let connection = try await connect(node, as: "bob", "builder", vhost: "prod")
        await connection.close()
        await assertConnectionRefused(node, as: "bob", vhost: "/", code: .notAllowed, text: "NOT_ALLOWED - access to vhost '/' refused for user 'bob'")
        await assertConnectionRefused(node, as: "bob", vhost: "nowhere", code: .notAllowed, text: "NOT_ALLOWED - vhost nowhere not found")
        try await expect(400, node, .PUT, "/api/permissions/prod/nobody", #"{"configure":"","write":"","read":""}"#, message: "a permission for a user that does not exist")
        try await expect(400, node, .PUT, "/api/permissions/prod/bob", #"{"configure":"(","write":"","read":""}"#, message: "a pattern that does not compile")

        let permissions = try JSONDecoder().decode([PermissionInfo].self, from: Data(try await http(node).get("/api/vhosts/prod/permissions").body))
        XCTAssertEqual(permissions, [
            PermissionInfo(user: "bob", vhost: "prod", configure: "", write: "", read: "^logs$"),
            PermissionInfo(user: "guest", vhost: "prod", configure: ".*", write: ".*", read: ".*"),
        ], "whoever made the vhost through the API was given every permission in it, as RabbitMQ gives them")
        try await expect(204, node, .DELETE, "/api/vhosts/prod")
        try await expect(404, node, .GET, "/api/vhosts/prod")
        let remaining = try JSONDecoder().decode([PermissionInfo].self, from: Data(try await http(node).get("/api/permissions").body))
        XCTAssertEqual(remaining.filter { $0.vhost == "prod" }, [], "the vhost's permissions went with it")
        try await node.shutdown()
    }

    /// Each method needs its access kind, as RabbitMQ's channel checks them: with that kind's
    /// pattern empty it is refused with 403 and the channel closed; with every kind it is done.
    func testEveryMethodNeedsItsPermission() async throws {
        let node = try await cluster.startLone()
        _ = try await waitFor("the node to serve") { try await self.http(node).node().serving ? true : nil }
        try await expect(201, node, .PUT, "/api/users/bob", #"{"password":"builder","tags":""}"#)
        let setup = try await cluster.connect([node])
        let admin = try await setup.openChannel()
        _ = try await admin.queueDeclare("q", durable: true)
        try await admin.exchangeDeclare("x", type: "fanout", durable: true)

        typealias Operation = (name: String, needs: Set<String>, run: (AMQPChannel) async throws -> Void)
        let operations: [Operation] = [
            ("queue.declare", ["configure"], { _ = try await $0.queueDeclare("q", durable: true) }),
            ("exchange.declare", ["configure"], { try await $0.exchangeDeclare("x", type: "fanout", durable: true) }),
            ("queue.bind", ["write", "read"], { try await $0.queueBind(queue: "q", exchange: "x") }),
            ("basic.publish", ["write"], { channel in
                try await channel.confirmSelect()
                try await channel.publish(exchange: "x", routingKey: "", body: ByteBuffer(string: "m")).confirmed()
            }),
            ("basic.get", ["read"], { _ = try await $0.get(queue: "q", noAck: true) }),
            ("basic.consume", ["read"], { _ = try await $0.consume(queue: "q", noAck: true) }),
            ("queue.purge", ["read"], { _ = try await $0.queuePurge("q") }),
            ("queue.unbind", ["write", "read"], { try await $0.queueUnbind(queue: "q", exchange: "x") }),
            ("queue.delete", ["configure"], { try await $0.queueDelete("q") }),
            ("exchange.delete", ["configure"], { try await $0.exchangeDelete("x") }),
        ]
        for withheld in ["configure", "write", "read"] {
            let patterns = ["configure", "write", "read"].map { $0 == withheld ? "" : ".*" }
            let body = #"{"configure":"\#(patterns[0])","write":"\#(patterns[1])","read":"\#(patterns[2])"}"#
            try await expect(201, node, .PUT, "/api/permissions/%2F/bob", body)
            let bob = try await connect(node, as: "bob", "builder")
            for operation in operations where operation.needs.contains(withheld) {
                let channel = try await bob.openChannel()
                do {
                    try await operation.run(channel)
                    XCTFail("\(operation.name) without \(withheld) permission was done")
                } catch let error as ClientError {
                    guard case .channelClosedByServer(_, let reason) = Self.cause(error) else {
                        XCTFail("\(operation.name) without \(withheld): \(error)")
                        continue
                    }
                    XCTAssertEqual(reason.replyCode, .accessRefused, operation.name)
                    XCTAssertTrue(reason.replyText.hasPrefix("ACCESS_REFUSED - access to "), reason.replyText)
                    XCTAssertTrue(reason.replyText.hasSuffix(" in vhost '/' refused for user 'bob'"), reason.replyText)
                }
            }
            await bob.close()
            try await expect(204, node, .DELETE, "/api/permissions/%2F/bob")
        }
        // With every permission, each is done, in order.
        try await expect(201, node, .PUT, "/api/permissions/%2F/bob", #"{"configure":".*","write":".*","read":".*"}"#)
        let bob = try await connect(node, as: "bob", "builder")
        for operation in operations {
            let channel = try await bob.openChannel()
            do {
                try await operation.run(channel)
            } catch {
                XCTFail("\(operation.name) with every permission: \(error)")
            }
            await channel.close()
        }
        await bob.close()
        await setup.close()
        try await node.shutdown()
    }

    /// RabbitMQ's vhost and user limits, set through its management routes: a vhost's
    /// max-queues refuses one more queue (406), a user's max-connections one more connection
    /// and its max-channels one more channel (530), with RabbitMQ's texts; cleared, they
    /// refuse nothing.
    func testVHostAndUserLimitsRefuseWhatIsPastThem() async throws {
        let node = try await cluster.startLone()
        _ = try await waitFor("the node to serve") { try await self.http(node).node().serving ? true : nil }
        try await expect(201, node, .PUT, "/api/users/bob", #"{"password":"builder","tags":""}"#)
        try await expect(201, node, .PUT, "/api/permissions/%2F/bob", #"{"configure":".*","write":".*","read":".*"}"#)
        try await expect(204, node, .PUT, "/api/vhost-limits/%2F/max-queues", #"{"value":1}"#)
        try await expect(204, node, .PUT, "/api/user-limits/bob/max-connections", #"{"value":1}"#)
        try await expect(204, node, .PUT, "/api/user-limits/bob/max-channels", #"{"value":2}"#)
        try await expect(400, node, .PUT, "/api/vhost-limits/%2F/max-channels", #"{"value":1}"#, message: "a vhost takes no max-channels")
        try await expect(400, node, .PUT, "/api/user-limits/bob/max-bananas", #"{"value":1}"#, message: "no such limit")
        try await expect(404, node, .PUT, "/api/vhost-limits/nowhere/max-queues", #"{"value":1}"#, message: "no such vhost")
        let vhostLimits = try JSONDecoder().decode([LimitsInfo].self, from: Data(try await http(node).get("/api/vhost-limits").body))
        XCTAssertEqual(vhostLimits, [LimitsInfo(vhost: "/", value: ["max-queues": 1])])
        let userLimits = try JSONDecoder().decode([LimitsInfo].self, from: Data(try await http(node).get("/api/user-limits/bob").body))
        XCTAssertEqual(userLimits, [LimitsInfo(user: "bob", value: ["max-connections": 1, "max-channels": 2])])

        let bob = try await connect(node, as: "bob", "builder")
        let first = try await bob.openChannel()
        _ = try await first.queueDeclare("one", durable: true)
        do {
            _ = try await first.queueDeclare("two", durable: true)
            XCTFail("a second queue past max-queues 1")
        } catch {
            guard case .channelClosedByServer(_, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(reason.replyCode, .preconditionFailed)
            XCTAssertEqual(reason.replyText, "PRECONDITION_FAILED - cannot declare queue 'two': queue limit in vhost '/' (1) is reached")
        }
        await assertConnectionRefused(node, as: "bob", vhost: "/", code: .notAllowed,
                                      text: "NOT_ALLOWED - Connection refused for user 'bob'. User connection limit (1) is reached")
        _ = try await bob.openChannel()
        _ = try await bob.openChannel()
        do {
            _ = try await bob.openChannel()
            XCTFail("a third channel past max-channels 2")
        } catch {
            guard case .connectionClosedByServer(let reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(reason.replyCode, .notAllowed)
            XCTAssertEqual(reason.replyText, "NOT_ALLOWED - number of channels opened for user 'bob' has reached the maximum allowed user limit of (2)")
        }
        await bob.close()

        try await expect(204, node, .DELETE, "/api/vhost-limits/%2F/max-queues")
        try await expect(204, node, .DELETE, "/api/user-limits/bob/max-channels")
        try await expect(404, node, .DELETE, "/api/user-limits/bob/max-channels", message: "cleared already")
        let again = try await connect(node, as: "bob", "builder")
        let channel = try await again.openChannel()
        _ = try await channel.queueDeclare("two", durable: true)
        for _ in 0..<3 { _ = try await again.openChannel() }
        await again.close()
        try await node.shutdown()
    }

    // MARK: Helpers

    private let json = [("Content-Type", "application/json")]

    /// Sends a request as `credentials` and checks the status it gets.
    private func expect(
        _ status: Int, _ node: BerthNode, _ method: NIOHTTP1.HTTPMethod, _ path: String, _ body: String? = nil, as credentials: HTTPCredentials? = .guest,
        message: String = "", file: StaticString = #filePath, line: UInt = #line
    ) async throws {
        let reply = try await http(node, credentials).send(method, path, headers: body == nil ? [] : json, body: Array((body ?? "").utf8))
        XCTAssertEqual(reply.status, status, "\(method) \(path) \(message)", file: file, line: line)
    }

    private func http(_ node: BerthNode, _ credentials: HTTPCredentials? = .guest) -> StatusClient {
        StatusClient(host: "127.0.0.1", port: node.httpAddress!.port!, timeout: .seconds(10), credentials: credentials, on: cluster.clientLoop)
    }

    private func connect(_ node: BerthNode, as user: String, _ password: String, vhost: String = "/") async throws -> AMQPConnection {
        try await AMQPConnection.connect(
            hosts: [("127.0.0.1", node.amqpAddress.port!)], credentials: Credentials(username: user, password: password), virtualHost: vhost,
            on: cluster.clientLoop)
    }

    private func assertConnectionRefused(
        _ node: BerthNode, as user: String, vhost: String, code: AMQP.ReplyCode, text: String, file: StaticString = #filePath, line: UInt = #line
    ) async {
        do {
            let connection = try await connect(node, as: user, "builder", vhost: vhost)
            await connection.close()
            XCTFail("\(user) opened \(vhost)", file: file, line: line)
        } catch {
            guard let error = error as? ClientError, case .connectFailed(let failures) = error, case .connectionClosedByServer(let reason)? = failures.first?.error else {
                return XCTFail("\(error)", file: file, line: line)
            }
            XCTAssertEqual(reason.replyCode, code, file: file, line: line)
            XCTAssertEqual(reason.replyText, text, file: file, line: line)
        }
    }

    /// The close behind an error: a publish's confirm fails with the channel's close as its cause.
    private static func cause(_ error: ClientError) -> ClientError {
        if case .confirmIndeterminate(_, let cause) = error { return cause }
        return error
    }
}
