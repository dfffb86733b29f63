import AMQP
import NIOCore
import XCTest

@testable import Client

final class ConsumeTests: XCTestCase {
    /// A peer that answers basic.consume with consume-ok and then `count` deliveries,
    /// bodies "m1", "m2", …
    private func deliveringPeer(count: Int) async throws -> ScriptedPeer {
        try await ScriptedPeer.start { session, channel, assembled in
            guard case .method(.basic(.consume(let consume))) = assembled else {
                return false
            }
            session.send(channel: channel, .basic(.consumeOk(.init(consumerTag: consume.consumerTag))))
            for tag in 1...count {
                session.deliver(
                    channel: channel,
                    consumerTag: consume.consumerTag,
                    deliveryTag: UInt64(tag),
                    body: "m\(tag)",
                    redelivered: tag == 2,
                    flush: false
                )
            }
            session.flush()
            return true
        }
    }

    func testDeliveriesArriveInOrderAndAreAckedNackedAndRejected() async throws {
        let peer = try await self.deliveringPeer(count: 3)
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()
        try await channel.qos(prefetchCount: 10)

        let consumer = try await channel.consume(queue: "q", arguments: ["x-priority": .int32(5)])
        var deliveries = consumer.makeAsyncIterator()

        let first = try await deliveries.next()
        let second = try await deliveries.next()
        let third = try await deliveries.next()
        XCTAssertEqual([first, second, third].map { $0?.body.string }, ["m1", "m2", "m3"])
        XCTAssertEqual([first, second, third].map { $0?.deliveryTag }, [1, 2, 3])
        XCTAssertEqual([first, second, third].map { $0?.redelivered }, [false, true, false])
        XCTAssertEqual(first?.consumerTag, consumer.consumerTag)
        XCTAssertEqual(first?.routingKey, "q")

        try await channel.ack(deliveryTag: 1)
        try await channel.nack(deliveryTag: 2, requeue: false)
        try await channel.reject(deliveryTag: 3, requeue: true)

        try await peer.waitUntil("ack, nack and reject") { $0.count("basic.reject") == 1 }
        let log = peer.log
        guard case .basic(.consume(let consume)) = log.methods(named: "basic.consume").first?.method else {
            return XCTFail("no basic.consume")
        }
        XCTAssertEqual(consume.queue, "q")
        XCTAssertEqual(consume.consumerTag, consumer.consumerTag)
        XCTAssertFalse(consume.noAck)
        XCTAssertEqual(consume.arguments["x-priority"], .int32(5))
        guard case .basic(.qos(let qos)) = log.methods(named: "basic.qos").first?.method else {
            return XCTFail("no basic.qos")
        }
        XCTAssertEqual(qos.prefetchCount, 10)
        XCTAssertEqual(log.methods(named: "basic.ack").map(\.method), [.basic(.ack(.init(deliveryTag: 1)))])
        XCTAssertEqual(
            log.methods(named: "basic.nack").map(\.method),
            [.basic(.nack(.init(deliveryTag: 2, multiple: false, requeue: false)))]
        )
        XCTAssertEqual(
            log.methods(named: "basic.reject").map(\.method),
            [.basic(.reject(.init(deliveryTag: 3, requeue: true)))]
        )

        // Cancelling ends the sequence normally.
        try await channel.cancel(consumerTag: consumer.consumerTag)
        let end = try await deliveries.next()
        XCTAssertNil(end)
        await connection.close()
    }

    func testTheServerCancellingAConsumerEndsItsSequenceWithAnError() async throws {
        let peer = try await self.deliveringPeer(count: 1)
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()
        let consumer = try await channel.consume(queue: "q", consumerTag: "c1")
        var deliveries = consumer.makeAsyncIterator()
        let first = try await deliveries.next()
        XCTAssertEqual(first?.body.string, "m1")

        try await peer.perform { session in
            session.send(channel: channel.number, .basic(.cancel(.init(consumerTag: "c1", noWait: false))))
        }

        do {
            _ = try await deliveries.next()
            XCTFail("expected the consumer to be cancelled")
        } catch {
            XCTAssertEqual(error, .consumerCancelledByServer(consumerTag: "c1"))
        }
        try await peer.waitUntil("basic.cancel-ok") { $0.count("basic.cancel-ok") == 1 }
        // The channel itself is still open.
        try await channel.queueDeclare("q")
        await connection.close()
    }

    func testAConsumerThatStopsIteratingIsCancelledAndLaterDeliveriesRequeued() async throws {
        // The peer answers basic.cancel only when told to, so a delivery can arrive between
        // the client's cancel and the cancel-ok.
        let peer = try await ScriptedPeer.start { session, channel, assembled in
            switch assembled {
            case .method(.basic(.consume(let consume))):
                session.send(channel: channel, .basic(.consumeOk(.init(consumerTag: consume.consumerTag))))
                session.deliver(channel: channel, consumerTag: consume.consumerTag, deliveryTag: 1, body: "m1")
                return true
            case .method(.basic(.cancel)):
                return true
            default:
                return false
            }
        }
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()

        var seen: [String] = []
        for try await delivery in try await channel.consume(queue: "q", consumerTag: "c1") {
            seen.append(delivery.body.string)
            break
        }

        XCTAssertEqual(seen, ["m1"])
        try await peer.waitUntil("basic.cancel") { $0.count("basic.cancel") == 1 }
        try await peer.perform { session in
            session.deliver(channel: channel.number, consumerTag: "c1", deliveryTag: 2, body: "m2")
            session.send(channel: channel.number, .basic(.cancelOk(.init(consumerTag: "c1"))))
        }
        try await peer.waitUntil("the late delivery to be requeued") { $0.count("basic.reject") == 1 }
        XCTAssertEqual(
            peer.log.methods(named: "basic.reject").map(\.method),
            [.basic(.reject(.init(deliveryTag: 2, requeue: true)))]
        )
        await connection.close()
    }

    func testAFullDeliveryBufferStopsReadingUntilTheConsumerCatchesUp() async throws {
        let count = 64
        let peer = try await self.deliveringPeer(count: count)
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()

        let consumer = try await channel.consume(queue: "q", noAck: true, deliveryBufferMax: 4)

        try await eventually("reading to pause") { await connection.isReadingPaused() }
        var bodies: [String] = []
        for try await delivery in consumer {
            bodies.append(delivery.body.string)
            if bodies.count == count {
                break
            }
        }
        XCTAssertEqual(bodies, (1...count).map { "m\($0)" })
        try await eventually("reading to resume") { await !connection.isReadingPaused() }
        // The connection still works.
        try await channel.queueDeclare("q")
        await connection.close()
    }

    func testGetReturnsAMessageOrNilWhenEmpty() async throws {
        let peer = try await ScriptedPeer.start { session, channel, assembled in
            // The first basic.get gets a message, later ones the default get-empty.
            guard case .method(.basic(.get)) = assembled, session.counters["get", default: 0] == 0 else {
                return false
            }
            session.counters["get"] = 1
            let getOk = Method.Basic.GetOk(
                deliveryTag: 7,
                redelivered: true,
                exchange: "x",
                routingKey: "k",
                messageCount: 4
            )
            session.sendContent(
                channel: channel,
                .getOk(getOk),
                properties: BasicProperties(contentType: "text/plain"),
                body: ByteBuffer(string: "hello")
            )
            return true
        }
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()

        let message = try await channel.get(queue: "q")
        let empty = try await channel.get(queue: "q")

        XCTAssertEqual(message?.deliveryTag, 7)
        XCTAssertEqual(message?.redelivered, true)
        XCTAssertEqual(message?.exchange, "x")
        XCTAssertEqual(message?.routingKey, "k")
        XCTAssertEqual(message?.messageCount, 4)
        XCTAssertEqual(message?.properties.contentType, "text/plain")
        XCTAssertEqual(message?.body.string, "hello")
        XCTAssertNil(empty)
        await connection.close()
    }

    func testConsumersEndNormallyWhenTheClientClosesTheChannel() async throws {
        let peer = try await self.deliveringPeer(count: 1)
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()
        let consumer = try await channel.consume(queue: "q")
        var deliveries = consumer.makeAsyncIterator()
        _ = try await deliveries.next()

        await channel.close()

        let end = try await deliveries.next()
        XCTAssertNil(end)
        let closed = await channel.closed()
        XCTAssertEqual(closed, .channelClosed(channel: channel.number))
        await connection.close()
    }
}
