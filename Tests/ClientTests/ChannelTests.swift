import AMQP
import NIOCore
import XCTest

@testable import Client

final class ChannelTests: XCTestCase {
    func testDeclaresBindsPurgesAndDeletesSendTheirFields() async throws {
        let peer = try await ScriptedPeer.start()
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()

        try await channel.exchangeDeclare("orders", type: "topic", durable: true, arguments: ["alternate-exchange": "ae"])
        let declared = try await channel.queueDeclare(durable: true, arguments: ["x-queue-type": "quorum"])
        try await channel.queueBind(queue: declared.queue, exchange: "orders", routingKey: "eu.#")
        try await channel.exchangeBind(destination: "audit", source: "orders", routingKey: "#")
        try await channel.exchangeUnbind(destination: "audit", source: "orders", routingKey: "#")
        try await channel.queueUnbind(queue: declared.queue, exchange: "orders", routingKey: "eu.#")
        let purged = try await channel.queuePurge(declared.queue)
        let deleted = try await channel.queueDelete(declared.queue, ifEmpty: true)
        try await channel.exchangeDelete("orders", ifUnused: true)
        try await channel.qos(prefetchCount: 50, global: true)

        XCTAssertEqual(declared, QueueDeclareOk(queue: "amq.gen-1", messageCount: 0, consumerCount: 0))
        XCTAssertEqual(purged, 0)
        XCTAssertEqual(deleted, 0)
        let methods = peer.log.methods.filter { $0.channel == channel.number }.map(\.method)
        XCTAssertEqual(
            methods,
            [
                .channel(.open(.init())),
                .exchange(
                    .declare(.init(exchange: "orders", type: "topic", durable: true, arguments: ["alternate-exchange": "ae"]))
                ),
                .queue(.declare(.init(queue: "", durable: true, arguments: ["x-queue-type": "quorum"]))),
                .queue(.bind(.init(queue: "amq.gen-1", exchange: "orders", routingKey: "eu.#"))),
                .exchange(.bind(.init(destination: "audit", source: "orders", routingKey: "#"))),
                .exchange(.unbind(.init(destination: "audit", source: "orders", routingKey: "#"))),
                .queue(.unbind(.init(queue: "amq.gen-1", exchange: "orders", routingKey: "eu.#"))),
                .queue(.purge(.init(queue: "amq.gen-1"))),
                .queue(.delete(.init(queue: "amq.gen-1", ifEmpty: true))),
                .exchange(.delete(.init(exchange: "orders", ifUnused: true))),
                .basic(.qos(.init(prefetchCount: 50, global: true))),
            ]
        )
        await connection.close()
    }

    func testTransactionsSelectCommitAndRollback() async throws {
        let peer = try await ScriptedPeer.start()
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()

        try await channel.txSelect()
        try await channel.publish(routingKey: "q", body: ByteBuffer(string: "1"))
        try await channel.txCommit()
        try await channel.publish(routingKey: "q", body: ByteBuffer(string: "2"))
        try await channel.txRollback()

        let names = peer.log.methods.filter { $0.channel == channel.number }.map(\.method.name)
        XCTAssertEqual(
            names,
            ["channel.open", "tx.select", "basic.publish", "tx.commit", "basic.publish", "tx.rollback"]
        )
        await connection.close()
    }

    func testServerChannelCloseFailsTheCallWithItsReplyCodeAndLeavesTheConnectionOpen() async throws {
        let close = Method.Channel.Close(
            replyCode: .preconditionFailed,
            replyText: "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q'",
            classID: 50,
            methodID: 10
        )
        let peer = try await ScriptedPeer.start { session, channel, assembled in
            guard case .method(.queue(.declare)) = assembled, channel == 1 else {
                return false
            }
            session.send(channel: channel, .channel(.close(close)))
            return true
        }
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()
        let expected = ClientError.channelClosedByServer(
            channel: 1,
            CloseReason(replyCode: .preconditionFailed, replyText: close.replyText, classID: 50, methodID: 10)
        )

        let error = await clientError { try await channel.queueDeclare("q", durable: true) }

        XCTAssertEqual(error, expected)
        let closed = await channel.closed()
        XCTAssertEqual(closed, expected)
        try await peer.waitUntil("channel.close-ok") { log in
            log.methods(named: "channel.close-ok").contains { $0.channel == 1 }
        }
        let later = await clientError { try await channel.queueBind(queue: "q", exchange: "x") }
        XCTAssertEqual(later, expected)
        // Only the channel is gone.
        let other = try await connection.openChannel()
        XCTAssertNotEqual(other.number, 1)
        try await other.queueDeclare("q")
        await connection.close()
    }

    func testClientChannelCloseSendsReplySuccess() async throws {
        let peer = try await ScriptedPeer.start()
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()

        await channel.close()

        let closed = await channel.closed()
        XCTAssertEqual(closed, .channelClosed(channel: 1))
        guard case .channel(.close(let close)) = peer.log.methods(named: "channel.close").first?.method else {
            return XCTFail("no channel.close")
        }
        XCTAssertEqual(close.replyCode, .replySuccess)
        let error = await clientError { try await channel.publish(routingKey: "q", body: ByteBuffer()) }
        XCTAssertEqual(error, .channelClosed(channel: 1))
        await connection.close()
    }

    func testAReplyThatDoesNotComeInTimeFailsTheCallAndClosesTheChannel() async throws {
        let peer = try await ScriptedPeer.start { _, _, assembled in
            guard case .method(.queue(.declare)) = assembled else {
                return false
            }
            return true
        }
        defer { Task { await peer.stop() } }
        var configuration = ConnectionConfiguration(heartbeat: .zero, rpcTimeout: .milliseconds(200))
        configuration.connectTimeout = .seconds(2)
        let connection = try await AMQPConnection.connect(
            to: [Endpoint(host: "127.0.0.1", port: peer.port)],
            configuration: configuration,
            on: testGroup
        )
        let channel = try await connection.openChannel()

        let error = await clientError { try await channel.queueDeclare("q") }

        guard case .timedOut = error else {
            return XCTFail("expected a timeout, got \(String(describing: error))")
        }
        try await peer.waitUntil("channel.close") { $0.count("channel.close") == 1 }
        let closed = await channel.closed()
        XCTAssertEqual(closed, error)
        await connection.close()
    }

    func testNamesLongerThanAShortStringAreRejectedBeforeSending() async throws {
        let peer = try await ScriptedPeer.start()
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()
        let long = String(repeating: "q", count: 256)

        let declare = await clientError { try await channel.queueDeclare(long) }
        let publish = await clientError { try await channel.publish(routingKey: long, body: ByteBuffer()) }

        guard case .invalidArgument = declare, case .invalidArgument = publish else {
            return XCTFail("expected invalidArgument, got \(String(describing: declare)), \(String(describing: publish))")
        }
        // Nothing was sent, and the channel is fine.
        try await channel.queueDeclare("q")
        XCTAssertEqual(peer.log.count("queue.declare"), 1)
        XCTAssertEqual(peer.log.count("basic.publish"), 0)
        await connection.close()
    }

    func testChannelFlowPausesPublishing() async throws {
        let peer = try await ScriptedPeer.start()
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()
        try await peer.perform { $0.send(channel: channel.number, .channel(.flow(.init(active: false)))) }
        try await peer.waitUntil("channel.flow-ok") { $0.count("channel.flow-ok") == 1 }

        let publish = Task { try await channel.publish(routingKey: "q", body: ByteBuffer(string: "held")) }
        try await eventually("the publish to wait") { try await channel.publishCounts().waiting == 1 }
        XCTAssertEqual(peer.log.count("basic.publish"), 0)

        try await peer.perform { $0.send(channel: channel.number, .channel(.flow(.init(active: true)))) }
        _ = try await withTimeout("the publish") { try await publish.value }
        try await peer.waitUntil("the publish") { $0.count("basic.publish") == 1 }
        await connection.close()
    }
}
