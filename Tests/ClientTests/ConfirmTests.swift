import AMQP
import NIOCore
import XCTest

@testable import Client

/// basic.ack of `tag`, as the broker sends it.
private func ack(_ tag: Int, multiple: Bool = false) -> Method {
    .basic(.ack(.init(deliveryTag: UInt64(tag), multiple: multiple)))
}

final class ConfirmTests: XCTestCase {
    func testEachPublishIsConfirmedByItsOwnAck() async throws {
        let peer = try await ScriptedPeer.start { session, channel, assembled in
            guard case .content(.publish, _, _) = assembled else {
                return false
            }
            session.send(channel: channel, ack(session.publishes[channel]!))
            return true
        }
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()
        try await channel.confirmSelect()

        var confirmations: [PublishConfirmation] = []
        for index in 1...3 {
            confirmations.append(try await channel.publish(routingKey: "q", body: ByteBuffer(string: "m\(index)")))
        }
        for confirmation in confirmations {
            try await confirmation.confirmed()
        }

        XCTAssertEqual(confirmations.map(\.deliveryTag), [1, 2, 3])
        XCTAssertEqual(peer.log.count("confirm.select"), 1)
        let counts = try await channel.publishCounts()
        XCTAssertEqual(counts.unconfirmed, 0)
        await connection.close()
    }

    func testAnAckWithMultipleConfirmsEverythingUpToItsTag() async throws {
        let peer = try await ScriptedPeer.start { session, channel, assembled in
            guard case .content(.publish, _, _) = assembled else {
                return false
            }
            if session.publishes[channel] == 5 {
                session.send(channel: channel, ack(4, multiple: true))
                session.send(channel: channel, ack(5))
            }
            return true
        }
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()
        try await channel.confirmSelect()

        var confirmations: [PublishConfirmation] = []
        for _ in 1...5 {
            confirmations.append(try await channel.publish(routingKey: "q", body: ByteBuffer(string: "m")))
        }
        for confirmation in confirmations {
            try await confirmation.confirmed()
        }
        XCTAssertEqual(confirmations.map(\.deliveryTag), [1, 2, 3, 4, 5])
        await connection.close()
    }

    func testANackFailsOnlyItsPublish() async throws {
        let peer = try await ScriptedPeer.start { session, channel, assembled in
            guard case .content(.publish, _, _) = assembled else {
                return false
            }
            let tag = session.publishes[channel]!
            if tag == 2 {
                session.send(channel: channel, .basic(.nack(.init(deliveryTag: 2, multiple: false, requeue: false))))
            } else {
                session.send(channel: channel, ack(tag))
            }
            return true
        }
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()
        try await channel.confirmSelect()

        let first = try await channel.publish(routingKey: "q", body: ByteBuffer(string: "1"))
        let second = try await channel.publish(routingKey: "q", body: ByteBuffer(string: "2"))
        let third = try await channel.publish(routingKey: "q", body: ByteBuffer(string: "3"))

        try await first.confirmed()
        let error = await clientError { try await second.confirmed() }
        XCTAssertEqual(error, .confirmNacked(deliveryTag: 2))
        try await third.confirmed()
        await connection.close()
    }

    func testUnconfirmedPublishesBecomeIndeterminateWhenTheServerClosesTheChannel() async throws {
        let close = Method.Channel.Close(
            replyCode: .preconditionFailed,
            replyText: "PRECONDITION_FAILED - unknown delivery tag",
            classID: 60,
            methodID: 40
        )
        let peer = try await ScriptedPeer.start { session, channel, assembled in
            guard case .content(.publish, _, _) = assembled else {
                return false
            }
            if session.publishes[channel] == 2 {
                session.send(channel: channel, .channel(.close(close)))
            }
            return true
        }
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()
        try await channel.confirmSelect()

        let first = try await channel.publish(routingKey: "q", body: ByteBuffer(string: "1"))
        let second = try await channel.publish(routingKey: "q", body: ByteBuffer(string: "2"))

        let cause = ClientError.channelClosedByServer(
            channel: channel.number,
            CloseReason(replyCode: .preconditionFailed, replyText: close.replyText, classID: 60, methodID: 40)
        )
        let firstError = await clientError { try await first.confirmed() }
        XCTAssertEqual(firstError, .confirmIndeterminate(deliveryTag: 1, cause: cause))
        let secondError = await clientError { try await second.confirmed() }
        XCTAssertEqual(secondError, .confirmIndeterminate(deliveryTag: 2, cause: cause))
        // A publish after the close was never sent: it fails with the close itself.
        let late = await clientError { try await channel.publish(routingKey: "q", body: ByteBuffer(string: "3")) }
        XCTAssertEqual(late, cause)
        try await peer.waitUntil("channel.close-ok") { $0.count("channel.close-ok") == 1 }
        await connection.close()
    }

    func testUnconfirmedPublishesBecomeIndeterminateWhenTheConnectionIsLost() async throws {
        let peer = try await ScriptedPeer.start { session, _, assembled in
            guard case .content(.publish, _, _) = assembled else {
                return false
            }
            session.closeSocket()
            return true
        }
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()
        try await channel.confirmSelect()

        let confirmation = try await channel.publish(routingKey: "q", body: ByteBuffer(string: "1"))

        let error = await clientError { try await confirmation.confirmed() }
        XCTAssertEqual(error, .confirmIndeterminate(deliveryTag: 1, cause: .connectionLost))
    }

    func testAConfirmThatDoesNotComeInTimeIsIndeterminate() async throws {
        let peer = try await ScriptedPeer.start { _, _, assembled in
            guard case .content(.publish, _, _) = assembled else {
                return false
            }
            return true
        }
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()
        try await channel.confirmSelect(window: 1, timeout: .milliseconds(200))

        let first = try await channel.publish(routingKey: "q", body: ByteBuffer(string: "1"))
        let error = await clientError { try await first.confirmed() }

        guard case .confirmIndeterminate(deliveryTag: 1, cause: .timedOut) = error else {
            return XCTFail("expected an indeterminate confirm, got \(String(describing: error))")
        }
        // The window slot is free again: the next publish goes out, and a late ack for the
        // first is ignored.
        let second = try await channel.publish(routingKey: "q", body: ByteBuffer(string: "2"))
        XCTAssertEqual(second.deliveryTag, 2)
        try await peer.perform { session in
            session.send(channel: channel.number, .basic(.ack(.init(deliveryTag: 2, multiple: true))))
        }
        try await second.confirmed()
        await connection.close()
    }

    func testPublishWaitsWhileTheWindowIsFull() async throws {
        // The peer acks only when told to.
        let peer = try await ScriptedPeer.start { _, _, assembled in
            guard case .content(.publish, _, _) = assembled else {
                return false
            }
            return true
        }
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()
        try await channel.confirmSelect(window: 2)

        let first = try await channel.publish(routingKey: "q", body: ByteBuffer(string: "1"))
        let second = try await channel.publish(routingKey: "q", body: ByteBuffer(string: "2"))
        let third = Task { try await channel.publish(routingKey: "q", body: ByteBuffer(string: "3")) }

        try await eventually("the third publish to wait") {
            let counts = try await channel.publishCounts()
            return counts.unconfirmed == 2 && counts.waiting == 1
        }
        try await peer.waitUntil("two publishes") { $0.count("basic.publish") == 2 }

        try await peer.perform { $0.send(channel: channel.number, ack(1)) }
        let thirdConfirmation = try await withTimeout("the third publish") { try await third.value }
        XCTAssertEqual(thirdConfirmation.deliveryTag, 3)
        try await first.confirmed()
        try await peer.waitUntil("three publishes") { $0.count("basic.publish") == 3 }
        XCTAssertEqual(peer.log.count("basic.publish"), 3)

        try await peer.perform { $0.send(channel: channel.number, ack(3, multiple: true)) }
        try await second.confirmed()
        try await thirdConfirmation.confirmed()
        await connection.close()
    }

    func testABatchPublishesInOrderAndReportsEachMessage() async throws {
        let peer = try await ScriptedPeer.start { session, channel, assembled in
            guard case .content(.publish, _, _) = assembled else {
                return false
            }
            if session.publishes[channel] == 4 {
                session.send(channel: channel, ack(4, multiple: true))
            }
            return true
        }
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()
        try await channel.confirmSelect(window: 3)
        let tooLong = String(repeating: "k", count: 256)
        let batch = ["1", "2", tooLong, "3", "4"].map { key in
            OutgoingMessage(routingKey: key, body: ByteBuffer(string: "m"))
        }

        // The window (3) holds three of the four valid messages: the last one waits until
        // the first is acked by hand; the peer then acks everything on receiving it.
        let results = Task { await channel.publish(batch: batch) }
        try await peer.waitUntil("three publishes") { $0.count("basic.publish") == 3 }
        try await peer.perform { $0.send(channel: channel.number, ack(1)) }
        let outcomes = await results.value

        XCTAssertEqual(outcomes.count, 5)
        let tags = outcomes.map { try? $0.get().deliveryTag }
        XCTAssertEqual(tags, [1, 2, nil, 3, 4])
        guard case .failure(.invalidArgument) = outcomes[2] else {
            return XCTFail("expected the long routing key to be refused, got \(outcomes[2])")
        }
        for case .success(let confirmation) in outcomes {
            try await confirmation.confirmed()
        }
        let keys = peer.log.methods(named: "basic.publish").compactMap { received -> String? in
            guard case .basic(.publish(let publish)) = received.method else {
                return nil
            }
            return publish.routingKey
        }
        XCTAssertEqual(keys, ["1", "2", "3", "4"])
        await connection.close()
    }

    func testConfirmedOutsideConfirmModeIsAnError() async throws {
        let peer = try await ScriptedPeer.start()
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()

        let confirmation = try await channel.publish(routingKey: "q", body: ByteBuffer(string: "1"))

        XCTAssertNil(confirmation.deliveryTag)
        let error = await clientError { try await confirmation.confirmed() }
        XCTAssertEqual(error, .confirmsNotSelected)
        await connection.close()
    }

    func testMandatoryPublishThatCannotBeRoutedComesBack() async throws {
        let peer = try await ScriptedPeer.start { session, channel, assembled in
            guard case .content(.publish(let publish), let header, let body) = assembled else {
                return false
            }
            let returned = Method.Basic.Return(
                replyCode: .noRoute,
                replyText: "NO_ROUTE",
                exchange: publish.exchange,
                routingKey: publish.routingKey
            )
            session.sendContent(channel: channel, .return(returned), properties: header.properties, body: body.collected())
            session.send(channel: channel, ack(session.publishes[channel]!))
            return true
        }
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()
        try await channel.confirmSelect()
        var returns = channel.returns.makeAsyncIterator()

        let confirmation = try await channel.publish(
            exchange: "amq.direct",
            routingKey: "nowhere",
            body: ByteBuffer(string: "lost?"),
            properties: BasicProperties(messageID: "m-1"),
            mandatory: true
        )
        try await confirmation.confirmed()

        let returned = await returns.next()
        XCTAssertEqual(returned?.replyCode, .noRoute)
        XCTAssertEqual(returned?.exchange, "amq.direct")
        XCTAssertEqual(returned?.routingKey, "nowhere")
        XCTAssertEqual(returned?.properties.messageID, "m-1")
        XCTAssertEqual(returned?.body.string, "lost?")
        guard case .content(.publish(let publish), _, _) = peer.log.methods(named: "basic.publish")[0].assembled else {
            return XCTFail("no publish")
        }
        XCTAssertTrue(publish.mandatory)
        await connection.close()
    }
}
