import AMQP
import Client
import Glibc
import NIOCore
import NIOPosix
import Node
import XCTest

/// A real node on loopback, driven by the project's client: what a client is promised.
final class NodeServingTests: XCTestCase {
    private var directory = ""
    private let nodeLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let clientLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    override func setUp() {
        directory = "/tmp/berth-node-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    }

    override func tearDown() async throws {
        removeTree(directory)
        try await nodeLoop.shutdownGracefully()
        try await clientLoop.shutdownGracefully()
    }

    private func startNode(_ adjust: (inout NodeConfiguration) -> Void = { _ in }) async throws -> BerthNode {
        var configuration = NodeConfiguration(dataDirectory: directory)
        configuration.amqpPort = 0
        adjust(&configuration)
        return try await BerthNode.start(configuration, on: nodeLoop.next())
    }

    private func connect(_ node: BerthNode) async throws -> AMQPConnection {
        try await AMQPConnection.connect(hosts: [("127.0.0.1", node.amqpAddress.port!)], on: clientLoop)
    }

    private func body(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    /// Publishes `count` messages with confirms and waits for every confirm.
    private func publishConfirmed(_ channel: AMQPChannel, queue: String, count: Int, prefix: String) async throws {
        var confirmations: [PublishConfirmation] = []
        for i in 0..<count {
            confirmations.append(try await channel.publish(routingKey: queue, body: body("\(prefix)\(i)"), properties: BasicProperties(deliveryMode: 2)))
        }
        for confirmation in confirmations { try await confirmation.confirmed() }
    }

    private func consume(_ channel: AMQPChannel, queue: String, count: Int) async throws -> [String] {
        try await channel.qos(prefetchCount: 50)
        var received: [String] = []
        for try await delivery in try await channel.consume(queue: queue) {
            received.append(String(buffer: delivery.body))
            try await channel.ack(deliveryTag: delivery.deliveryTag)
            if received.count == count { break }
        }
        return received
    }

    func testConfirmedPublishesAreDeliveredInPublishOrder() async throws {
        let node = try await startNode()
        let connection = try await connect(node)
        let channel = try await connection.openChannel()
        _ = try await channel.queueDeclare("orders", durable: true)
        try await channel.confirmSelect(window: 256)
        try await publishConfirmed(channel, queue: "orders", count: 1_000, prefix: "m")
        let received = try await consume(channel, queue: "orders", count: 1_000)
        XCTAssertEqual(received, (0..<1_000).map { "m\($0)" })
        await connection.close()
        try await node.shutdown()
    }

    func testConfirmedMessagesSurviveARestart() async throws {
        do {
            let node = try await startNode()
            let connection = try await connect(node)
            let channel = try await connection.openChannel()
            _ = try await channel.queueDeclare("kept", durable: true)
            try await channel.confirmSelect()
            try await publishConfirmed(channel, queue: "kept", count: 300, prefix: "k")
            await connection.close()
            try await node.shutdown()
        }
        let node = try await startNode()
        let connection = try await connect(node)
        let channel = try await connection.openChannel()
        let declared = try await channel.queueDeclare("kept", durable: true, passive: true)
        XCTAssertEqual(declared.messageCount, 300)
        let received = try await consume(channel, queue: "kept", count: 300)
        XCTAssertEqual(received, (0..<300).map { "k\($0)" })
        await connection.close()
        try await node.shutdown()
    }

    /// Shutting down while publishes are in flight: the connection is told why, the log
    /// takes nothing after it closed, and every confirmed message is there after a restart.
    func testShutdownUnderLoadClosesConnectionsWith320AndKeepsEveryConfirmedMessage() async throws {
        let node = try await startNode()
        let connection = try await connect(node)
        let channel = try await connection.openChannel()
        _ = try await channel.queueDeclare("interrupted", durable: true)
        try await channel.confirmSelect(window: 512)
        var confirmations: [PublishConfirmation] = []
        for i in 0..<400 {
            confirmations.append(try await channel.publish(routingKey: "interrupted", body: body("i\(i)"), properties: BasicProperties(deliveryMode: 2)))
        }
        try await node.shutdown()

        guard case .connectionClosedByServer(let reason) = await connection.closed() else { return XCTFail("the server did not close the connection") }
        XCTAssertEqual(reason.replyCode, .connectionForced)
        XCTAssertTrue(reason.replyText.contains("shutting down"), reason.replyText)
        var confirmed = 0
        for confirmation in confirmations {
            do {
                try await confirmation.confirmed()
                confirmed += 1
            } catch {}
        }

        let restarted = try await startNode()
        let again = try await connect(restarted)
        let check = try await again.openChannel()
        let declared = try await check.queueDeclare("interrupted", durable: true, passive: true)
        XCTAssertGreaterThanOrEqual(Int(declared.messageCount), confirmed)
        let received = try await consume(check, queue: "interrupted", count: Int(declared.messageCount))
        XCTAssertEqual(received, (0..<received.count).map { "i\($0)" })
        await again.close()
        try await restarted.shutdown()
    }

    func testUnackedDeliveriesReturnRedeliveredWhenTheirChannelCloses() async throws {
        let node = try await startNode()
        let connection = try await connect(node)
        let publisher = try await connection.openChannel()
        _ = try await publisher.queueDeclare("work", durable: true)
        try await publisher.confirmSelect()
        try await publishConfirmed(publisher, queue: "work", count: 3, prefix: "w")

        let first = try await connection.openChannel()
        var taken = 0
        for try await delivery in try await first.consume(queue: "work") {
            XCTAssertFalse(delivery.redelivered)
            taken += 1
            if taken == 3 { break }
        }
        await first.close()

        let second = try await connection.openChannel()
        var again: [Bool] = []
        for try await delivery in try await second.consume(queue: "work") {
            again.append(delivery.redelivered)
            try await second.ack(deliveryTag: delivery.deliveryTag)
            if again.count == 3 { break }
        }
        XCTAssertEqual(again, [true, true, true])
        await connection.close()
        try await node.shutdown()
    }

    func testAChannelErrorClosesOnlyThatChannel() async throws {
        let node = try await startNode()
        let connection = try await connect(node)
        let healthy = try await connection.openChannel()
        let failing = try await connection.openChannel()
        do {
            _ = try await failing.queueDeclare("missing", passive: true)
            XCTFail("a passive declare of a missing queue must fail")
        } catch {
            guard case .channelClosedByServer(_, let reason) = error else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(reason.replyCode, .notFound)
        }
        _ = try await healthy.queueDeclare("still-fine")
        await connection.close()
        try await node.shutdown()
    }

    /// Arguments nested as deep as the AMQP codec decodes are what the broker accepts too:
    /// declared, not committed and then found undecodable by the replicas.
    func testArgumentsNestedAsDeepAsTheCodecDecodesAreDeclared() async throws {
        let node = try await startNode()
        let connection = try await connect(node)
        let channel = try await connection.openChannel()
        var arguments: FieldTable = ["leaf": .int32(1)]
        for _ in 1..<FieldTable.nestingDepthMax { arguments = ["nested": .table(arguments)] }
        let declared = try await channel.queueDeclare("deep-arguments", arguments: arguments)
        XCTAssertEqual(declared.queue, "deep-arguments")
        let again = try await channel.queueDeclare("deep-arguments", arguments: arguments)
        XCTAssertEqual(again.queue, "deep-arguments", "the same arguments, as stored, match")
        await connection.close()
        try await node.shutdown()
    }

    func testAWrongProtocolHeaderGetsTheRightOneBackAndTheConnectionCloses() async throws {
        let node = try await startNode()
        let reply = try RawAMQPSession.exchange(port: node.amqpAddress.port!, send: Array("GET / HTTP/1.1\r\n\r\n".utf8))
        XCTAssertEqual(reply, [UInt8]("AMQP".utf8) + [0, 0, 9, 1], "the server's protocol header, then end of stream")
        try await node.shutdown()
    }

    /// A socket that says nothing, or stops after the protocol header, is closed once the
    /// handshake timeout passes; a connection that opened in time is not.
    func testAConnectionThatDoesNotOpenWithinTheHandshakeTimeoutIsClosed() async throws {
        let node = try await startNode { $0.amqpHandshakeTimeoutMs = 300 }
        let opened = try await connect(node)
        for sent in [[], [UInt8]("AMQP".utf8) + [0, 0, 9, 1]] {
            let started = ContinuousClock.now
            // Read until the node closes; the socket's own read timeout is 5 s.
            _ = try RawAMQPSession.exchange(port: node.amqpAddress.port!, send: sent)
            let waited = ContinuousClock.now - started
            XCTAssertGreaterThanOrEqual(waited, .milliseconds(300), "\(sent.count) bytes sent")
            XCTAssertLessThan(waited, .seconds(4), "closed by the node, not by the read timeout (\(sent.count) bytes sent)")
        }
        let channel = try await opened.openChannel()
        _ = try await channel.queueDeclare("still-open", durable: false)
        await opened.close()
        try await node.shutdown()
    }

    /// Past the node's connection limit, one more connection is refused at connection.open
    /// with 530; once one closes, a new one opens.
    func testPastTheConnectionLimitAConnectionIsRefusedAtOpen() async throws {
        let node = try await startNode { $0.connectionsMax = 2 }
        let first = try await connect(node)
        let second = try await connect(node)
        do {
            let third = try await connect(node)
            await third.close()
            XCTFail("a third connection opened past a limit of two")
        } catch {
            XCTAssertTrue("\(error)".contains("530") || "\(error)".contains("node connection limit (2) is reached"), "\(error)")
        }
        await second.close()
        let deadline = ContinuousClock.now + .seconds(5)
        var replacement: AMQPConnection?
        while replacement == nil, ContinuousClock.now < deadline {
            // The node counts the closed socket out once it sees it close.
            replacement = try? await connect(node)
            if replacement == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        XCTAssertNotNil(replacement, "a connection opens again once one closed")
        await replacement?.close()
        await first.close()
        try await node.shutdown()
    }

    func testAMalformedFrameClosesThatConnectionWithFrameErrorAndNoOther() async throws {
        let node = try await startNode()
        let bystander = try await connect(node)
        // A protocol header, then a method frame whose frame-end octet is wrong.
        let garbage = [UInt8]("AMQP".utf8) + [0, 0, 9, 1] + [1, 0, 0, 0, 0, 0, 4, 0, 10, 0, 11, 0x00]
        let reply = try RawAMQPSession.exchange(port: node.amqpAddress.port!, send: garbage)
        XCTAssertTrue(containsCloseWithCode(reply, code: 501), "connection.close 501 FRAME_ERROR in \(reply.count) bytes")
        let channel = try await bystander.openChannel()
        _ = try await channel.queueDeclare("after-the-garbage")
        await bystander.close()
        try await node.shutdown()
    }

    /// A node acknowledgements time out on after 200 ms, and a channel whose queue "slow"
    /// holds one confirmed message, "s0".
    private func nodeWithAShortAcknowledgementTimeout(closingChannels: Bool = false) async throws -> (BerthNode, AMQPConnection, AMQPChannel) {
        let node = try await startNode {
            $0.acknowledgementTimeoutMs = 200
            $0.consumerTimeoutClosesChannel = closingChannels
        }
        let connection = try await connect(node)
        let channel = try await connection.openChannel()
        _ = try await channel.queueDeclare("slow", durable: true)
        try await channel.confirmSelect()
        try await publishConfirmed(channel, queue: "slow", count: 1, prefix: "s")
        return (node, connection, channel)
    }

    /// A consumer that keeps a delivery past the timeout is cancelled (the client announces
    /// consumer_cancel_notify), and the delivery is back in the queue; the channel stays open.
    func testAConsumerLeavingADeliveryUnacknowledgedPastTheTimeoutIsCancelledAndTheDeliveryGoesBack() async throws {
        let (node, connection, channel) = try await nodeWithAShortAcknowledgementTimeout()
        let deliveries = try await channel.consume(queue: "slow")
        // The sweep runs every second: the cancel comes within a few.
        let ended = try await howItEnds(deliveries)
        XCTAssertEqual(ended, "\(ClientError.consumerCancelledByServer(consumerTag: deliveries.consumerTag))")
        let declared = try await channel.queueDeclare("slow", durable: true, passive: true)
        XCTAssertEqual(declared.messageCount, 1, "the delivery is back")
        try await channel.ack(deliveryTag: 1)
        let again = try await channel.get(queue: "slow", noAck: true)
        XCTAssertEqual(again.map { String(buffer: $0.body) }, "s0", "the late ack of the tag taken back settled nothing")
        await connection.close()
        try await node.shutdown()
    }

    /// How a consumer's deliveries end within 10 s: "finished", or the error that ended them.
    private func howItEnds(_ deliveries: AMQPConsumer) async throws -> String {
        try await withDeadline(seconds: 10) { () async -> String in
            do {
                for try await delivery in deliveries { _ = delivery }
                return "finished"
            } catch {
                return "\(error)"
            }
        }
    }

    /// A basic.get's delivery has no consumer to cancel: past the timeout its channel closes.
    func testAGetLeftUnacknowledgedPastTheTimeoutClosesItsChannelWith406() async throws {
        let (node, connection, channel) = try await nodeWithAShortAcknowledgementTimeout()
        let got = try await channel.get(queue: "slow")
        XCTAssertNotNil(got)
        let reason = try await withDeadline(seconds: 10) { await channel.closed() }
        guard case .channelClosedByServer(_, let close) = reason else { return XCTFail("unexpected \(reason)") }
        XCTAssertEqual(close.replyCode, .preconditionFailed)
        XCTAssertTrue(close.replyText.contains("delivery acknowledgement on channel"), close.replyText)
        await connection.close()
        try await node.shutdown()
    }

    /// Set to close channels (`consumer_timeout_response = close_channel`), the node closes
    /// an overdue consumer's channel even though its client takes basic.cancel.
    func testSetToCloseChannelsAnOverdueConsumerCostsItsChannel() async throws {
        let (node, connection, channel) = try await nodeWithAShortAcknowledgementTimeout(closingChannels: true)
        let deliveries = try await channel.consume(queue: "slow")
        let ended = try await howItEnds(deliveries)
        XCTAssertTrue(ended.contains("precondition") || ended.contains("406"), ended)
        let reason = try await withDeadline(seconds: 10) { await channel.closed() }
        guard case .channelClosedByServer(_, let close) = reason else { return XCTFail("unexpected \(reason)") }
        XCTAssertEqual(close.replyCode, .preconditionFailed)
        let other = try await connection.openChannel()
        let declared = try await other.queueDeclare("slow", durable: true, passive: true)
        XCTAssertEqual(declared.messageCount, 1, "the delivery is back")
        await connection.close()
        try await node.shutdown()
    }

    /// Past the in-flight bound the node stops reading the connection until confirms drain:
    /// flow control, as RabbitMQ's credit flow, without `connection.blocked` (that notice is
    /// for resource alarms). Everything is confirmed in the end.
    func testPastTheInFlightBoundTheNodeStopsReadingWithoutANotice() async throws {
        let node = try await startNode { $0.publishesInFlightMax = 2 }
        let connection = try await connect(node)
        let channel = try await connection.openChannel()
        _ = try await channel.queueDeclare("busy", durable: true)
        try await channel.confirmSelect()
        let outcomes = await channel.publish(batch: (0..<200).map { OutgoingMessage(routingKey: "busy", body: body("b\($0)")) })
        for outcome in outcomes { try await outcome.get().confirmed() }
        let declared = try await channel.queueDeclare("busy", durable: true, passive: true)
        XCTAssertEqual(declared.messageCount, 200)
        let events = connection.events
        let notice = try? await withDeadline(seconds: 1) { () async -> ConnectionEvent? in
            for await event in events { return event }
            return nil
        }
        XCTAssertNil(notice ?? nil, "no connection.blocked for flow control")
        await connection.close()
        try await node.shutdown()
    }

    /// The body's value, or ETIMEDOUT once `seconds` pass, even when the body does not end
    /// on cancellation (it is cancelled, and finishes on its own).
    private func withDeadline<T: Sendable>(seconds: Int64, _ body: @escaping @Sendable () async -> T) async throws -> T {
        let (first, arrived) = AsyncStream<T?>.makeStream()
        let work = Task { arrived.yield(await body()) }
        let timer = Task {
            try? await Task.sleep(for: .seconds(seconds))
            arrived.yield(nil)
        }
        defer {
            work.cancel()
            timer.cancel()
            arrived.finish()
        }
        for await value in first {
            guard let value else { break }
            return value
        }
        throw POSIXError(.ETIMEDOUT)
    }

    // MARK: Raw sockets, for what no well-behaved client sends

    /// Whether the bytes hold a connection.close (class 10, method 50) with `code`.
    private func containsCloseWithCode(_ bytes: [UInt8], code: UInt16) -> Bool {
        guard bytes.count >= 15 else { return false }
        for i in 0...(bytes.count - 15) where bytes[i] == 1 {
            let payload = i + 7
            if bytes[payload] == 0, bytes[payload + 1] == 10, bytes[payload + 2] == 0, bytes[payload + 3] == 50,
                UInt16(bytes[payload + 4]) << 8 | UInt16(bytes[payload + 5]) == code
            {
                return true
            }
        }
        return false
    }
}
