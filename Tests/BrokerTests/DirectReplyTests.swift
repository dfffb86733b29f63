import XCTest

@testable import Broker

/// Direct reply-to in the dispatcher: one no-ack reply consumer per channel, its address,
/// replies numbered in the channel's delivery-tag sequence, and the address gone with the
/// consumer, the channel or the connection.
final class DirectReplyTests: XCTestCase {
    private let randomBytes: [UInt8] = Array(0..<18)

    func testAReplyConsumerGetsAnAddressAndItsRepliesTheChannelsNextDeliveryTags() throws {
        var leader = Leader()
        leader.h.declareQueue("q")
        leader.publish("m1", to: "q")
        _ = leader.consume("q", channel: channel(), tag: "plain", noAck: true)
        XCTAssertEqual(leader.dispatch().map(\.deliveryTag), [1])
        let tag = try leader.dispatcher.consumeReplies(channel: channel(), consumerTag: "", noAck: true, randomBytes: randomBytes)
        XCTAssertTrue(tag.hasPrefix("amq.ctag-"))
        let address = try XCTUnwrap(leader.dispatcher.replyAddress(of: channel()))
        XCTAssertTrue(address.hasPrefix("amq.rabbitmq.reply-to."))
        XCTAssertTrue(Dispatcher.isReplyAddress(address))
        XCTAssertEqual(address.count, "amq.rabbitmq.reply-to.".count + 24, "18 random bytes in base64url")
        XCTAssertNil(leader.dispatcher.replyAddress(of: channel("conn-1", 2)), "another channel has none")

        let reply = leader.dispatcher.routeReply(to: address)
        XCTAssertEqual(reply, Dispatcher.ReplyDelivery(channel: channel(), consumerTag: tag, deliveryTag: 2))
        leader.publish("m2", to: "q")
        XCTAssertEqual(leader.dispatch().map(\.deliveryTag), [3], "queue deliveries go on from the reply's tag")
        XCTAssertEqual(leader.dispatcher.routeReply(to: address)?.deliveryTag, 4)
        XCTAssertEqual(leader.dispatcher.unackedCount(channel()), 0, "replies wait for no acknowledgement")
    }

    func testAReplyConsumerMustNotAcknowledgeAndIsOnePerChannel() throws {
        var dispatcher = Dispatcher(state: Harness().state, now: 0)
        XCTAssertThrowsError(try dispatcher.consumeReplies(channel: channel(), consumerTag: "r", noAck: false, randomBytes: randomBytes)) { error in
            XCTAssertEqual((error as? BrokerError)?.replyText, "PRECONDITION_FAILED - reply consumer cannot acknowledge")
        }
        XCTAssertNil(dispatcher.replyAddress(of: channel()))
        _ = try dispatcher.consumeReplies(channel: channel(), consumerTag: "r", noAck: true, randomBytes: randomBytes)
        XCTAssertThrowsError(try dispatcher.consumeReplies(channel: channel(), consumerTag: "r2", noAck: true, randomBytes: [9])) { error in
            XCTAssertEqual((error as? BrokerError)?.replyText, "PRECONDITION_FAILED - reply consumer already set")
        }
        XCTAssertNoThrow(try dispatcher.consumeReplies(channel: channel("conn-1", 2), consumerTag: "r", noAck: true, randomBytes: [7]))
    }

    func testAReplyConsumerTagMayNotReuseAConsumersTagNorTheOtherWayRound() throws {
        var leader = Leader()
        leader.h.declareQueue("q")
        _ = leader.consume("q", channel: channel(), tag: "taken")
        XCTAssertThrowsError(try leader.dispatcher.consumeReplies(channel: channel(), consumerTag: "taken", noAck: true, randomBytes: randomBytes)) { error in
            XCTAssertEqual((error as? BrokerError)?.replyText, "NOT_ALLOWED - attempt to reuse consumer tag 'taken'")
        }
        _ = try leader.dispatcher.consumeReplies(channel: channel(), consumerTag: "replies", noAck: true, randomBytes: randomBytes)
        XCTAssertThrowsError(try leader.dispatcher.consume(ConsumeRequest(channel: channel(), queue: q("q"), consumerTag: "replies"), state: leader.h.state, now: 0))
    }

    func testTheAddressGoesWithTheConsumerTheChannelAndTheConnection() throws {
        let state = Harness().state
        var dispatcher = Dispatcher(state: state, now: 0)
        _ = try dispatcher.consumeReplies(channel: channel(), consumerTag: "r", noAck: true, randomBytes: [1])
        let cancelled = try XCTUnwrap(dispatcher.replyAddress(of: channel()))
        XCTAssertTrue(dispatcher.replyQueueExists(cancelled))
        XCTAssertEqual(dispatcher.cancel(channel: channel(), consumerTag: "r", state: state, now: 0), [])
        XCTAssertFalse(dispatcher.replyQueueExists(cancelled))
        XCTAssertNil(dispatcher.routeReply(to: cancelled))
        XCTAssertTrue(dispatcher.replyQueueExists("amq.rabbitmq.reply-to"), "the pseudo-queue always exists")

        _ = try dispatcher.consumeReplies(channel: channel(), consumerTag: "r", noAck: true, randomBytes: [2])
        let closed = try XCTUnwrap(dispatcher.replyAddress(of: channel()))
        XCTAssertNotEqual(closed, cancelled, "a new consumer, a new address")
        _ = dispatcher.closeChannel(channel(), state: state, now: 0)
        XCTAssertNil(dispatcher.routeReply(to: closed))

        _ = try dispatcher.consumeReplies(channel: channel("conn-2", 5), consumerTag: "r", noAck: true, randomBytes: [3])
        let gone = try XCTUnwrap(dispatcher.replyAddress(of: channel("conn-2", 5)))
        _ = dispatcher.closeConnection("conn-2", state: state, now: 0)
        XCTAssertNil(dispatcher.routeReply(to: gone))
        XCTAssertFalse(dispatcher.replyQueueExists(gone))
        XCTAssertFalse(dispatcher.replyQueueExists("amq.rabbitmq.reply-to.unknown"))
        XCTAssertFalse(Dispatcher.isReplyAddress("amq.rabbitmq.reply-to"), "the pseudo-queue's own name is no address")
    }
}
