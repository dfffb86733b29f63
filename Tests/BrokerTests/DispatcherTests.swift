import XCTest

@testable import Broker

final class DispatcherTests: XCTestCase {
    func testPrefetchPerConsumer() throws {
        var leader = Leader()
        leader.h.declareQueue("q")
        for n in 1...5 { leader.publish("m\(n)", to: "q") }
        try leader.dispatcher.qos(channel: channel(), prefetchCount: 2, global: false)
        let tag = leader.consume("q", channel: channel())
        XCTAssertTrue(tag.hasPrefix("amq.ctag-"))
        let first = leader.dispatch()
        XCTAssertEqual(first.map(bodyText), ["m1", "m2"])
        XCTAssertEqual(first.map(\.deliveryTag), [1, 2])
        XCTAssertEqual(first.map(\.consumerTag), [tag, tag])
        XCTAssertEqual(leader.dispatch(), [])
        let settle = try leader.dispatcher.ack(channel: channel(), deliveryTag: 1, multiple: false)
        XCTAssertEqual(settle, [.settle(MessageBatch(queue: q("q"), ids: [first[0].messageID]))])
        XCTAssertEqual(leader.dispatch().map(bodyText), ["m3"])
        leader.commit(settle)
        XCTAssertEqual(leader.h.bodies("q"), ["m2", "m3", "m4", "m5"])
    }

    func testGlobalPrefetchIsSharedByTheChannelsConsumers() throws {
        var leader = Leader()
        leader.h.declareQueue("a")
        leader.h.declareQueue("b")
        for n in 1...3 {
            leader.publish("a\(n)", to: "a")
            leader.publish("b\(n)", to: "b")
        }
        try leader.dispatcher.qos(channel: channel(), prefetchCount: 3, global: true)
        _ = leader.consume("a", channel: channel())
        _ = leader.consume("b", channel: channel())
        XCTAssertEqual(leader.dispatch().count, 3)
        XCTAssertEqual(leader.dispatcher.unackedCount(channel()), 3)
        _ = try leader.dispatcher.ack(channel: channel(), deliveryTag: 0, multiple: true)
        XCTAssertEqual(leader.dispatch().count, 3)
        XCTAssertThrowsError(try leader.dispatcher.qos(channel: channel(), prefetchCount: 1, prefetchSize: 10, global: false)) { error in
            XCTAssertEqual((error as? BrokerError)?.replyText, "NOT_IMPLEMENTED - prefetch_size!=0 (10)")
        }
    }

    func testRoundRobinAcrossConsumers() {
        var leader = Leader()
        leader.h.declareQueue("q")
        _ = leader.consume("q", channel: channel("c1"), tag: "one")
        _ = leader.consume("q", channel: channel("c2"), tag: "two")
        for n in 1...4 { leader.publish("m\(n)", to: "q") }
        let deliveries = leader.dispatch()
        XCTAssertEqual(deliveries.map(\.consumerTag), ["one", "two", "one", "two"])
        XCTAssertEqual(deliveries.map(bodyText), ["m1", "m2", "m3", "m4"])
        XCTAssertEqual(deliveries.map(\.deliveryTag), [1, 1, 2, 2], "delivery tags count per channel")
        XCTAssertFalse(deliveries.contains { $0.redelivered })
    }

    /// RabbitMQ's consumer priorities: the highest-priority consumers with room get every
    /// message, round-robin among themselves; a lower one gets messages only while they are
    /// all full, and again none once one of them has room.
    func testHigherPriorityConsumersWithRoomGetEveryMessage() throws {
        var leader = Leader()
        leader.h.declareQueue("q")
        try leader.dispatcher.qos(channel: channel("low"), prefetchCount: 0, global: false)
        _ = leader.consume("q", channel: channel("low"), tag: "low")
        try leader.dispatcher.qos(channel: channel("high"), prefetchCount: 2, global: false)
        _ = leader.consume("q", channel: channel("high"), tag: "high-a", arguments: ["x-priority": .int32(10)])
        _ = leader.consume("q", channel: channel("high"), tag: "high-b", arguments: ["x-priority": .int8(10)])
        try leader.dispatcher.qos(channel: channel("mid"), prefetchCount: 1, global: false)
        _ = leader.consume("q", channel: channel("mid"), tag: "mid", arguments: ["x-priority": .int64(5)])
        for n in 1...4 { leader.publish("m\(n)", to: "q") }
        XCTAssertEqual(leader.dispatch().map(\.consumerTag), ["high-a", "high-b", "high-a", "high-b"])
        for n in 5...7 { leader.publish("m\(n)", to: "q") }
        // Both high ones are full (prefetch 2): the mid one takes what it has room for, the
        // low one the rest.
        XCTAssertEqual(leader.dispatch().map(\.consumerTag), ["mid", "low", "low"])
        _ = try leader.dispatcher.ack(channel: channel("high"), deliveryTag: 1, multiple: false)
        for n in 8...9 { leader.publish("m\(n)", to: "q") }
        XCTAssertEqual(leader.dispatch().map(\.consumerTag), ["high-a", "low"])
    }

    func testAConsumerPriorityMustBeAnInteger() {
        var leader = Leader()
        leader.h.declareQueue("q")
        XCTAssertThrowsError(try leader.dispatcher.consume(
            ConsumeRequest(channel: channel(), queue: q("q"), arguments: ["x-priority": .string("high")]), state: leader.h.state, now: 0)
        ) { error in
            XCTAssertEqual((error as? BrokerError)?.replyText, "PRECONDITION_FAILED - invalid arg 'x-priority' for queue 'q' in vhost '/': {unacceptable_type,longstr}")
        }
    }

    func testMultipleAcksAndUnknownTags() throws {
        var leader = Leader()
        leader.h.declareQueue("q")
        for n in 1...4 { leader.publish("m\(n)", to: "q") }
        _ = leader.consume("q", channel: channel())
        let deliveries = leader.dispatch()
        let ids = deliveries.map(\.messageID)
        XCTAssertEqual(try leader.dispatcher.ack(channel: channel(), deliveryTag: 3, multiple: true), [.settle(MessageBatch(queue: q("q"), ids: Array(ids[0..<3])))])
        XCTAssertThrowsError(try leader.dispatcher.ack(channel: channel(), deliveryTag: 2, multiple: false)) { error in
            XCTAssertEqual((error as? BrokerError)?.replyText, "PRECONDITION_FAILED - unknown delivery tag 2")
        }
        XCTAssertThrowsError(try leader.dispatcher.ack(channel: channel(), deliveryTag: 9, multiple: true)) { error in
            XCTAssertEqual((error as? BrokerError)?.message, "unknown delivery tag 9")
        }
        XCTAssertThrowsError(try leader.dispatcher.ack(channel: channel("other"), deliveryTag: 1, multiple: false))
        XCTAssertEqual(try leader.dispatcher.ack(channel: channel(), deliveryTag: 0, multiple: true), [.settle(MessageBatch(queue: q("q"), ids: [ids[3]]))])
    }

    func testNackWithAndWithoutRequeue() throws {
        var leader = Leader()
        leader.h.declareQueue("q")
        leader.publish("keep", to: "q")
        leader.publish("drop", to: "q")
        _ = leader.consume("q", channel: channel())
        let deliveries = leader.dispatch()
        let requeue = try leader.dispatcher.nack(channel: channel(), deliveryTag: 1, multiple: false, requeue: true, now: leader.h.now)
        XCTAssertEqual(requeue, [.requeue(MessageBatch(queue: q("q"), ids: [deliveries[0].messageID]), timestamp: leader.h.now, deliveryFailed: false)])
        let reject = try leader.dispatcher.reject(channel: channel(), deliveryTag: 2, requeue: false, now: leader.h.now)
        XCTAssertEqual(reject, [.reject(MessageBatch(queue: q("q"), ids: [deliveries[1].messageID]), timestamp: leader.h.now)])
        XCTAssertEqual(leader.dispatch(), [], "nothing goes out again before the requeue is applied")
        leader.commit(requeue + reject)
        let again = leader.dispatch()
        XCTAssertEqual(again.map(bodyText), ["keep"])
        XCTAssertEqual(again.map(\.redelivered), [true])
        XCTAssertEqual(again.map(\.deliveryTag), [3])
        XCTAssertNil(again[0].message.properties.headers?["x-delivery-count"], "classic queues without a limit do not count")
        XCTAssertEqual(leader.h.bodies("q"), ["keep"])
    }

    func testChannelCloseRequeuesAndAnotherConsumerGetsThemRedeliveredInOrder() throws {
        var leader = Leader()
        leader.h.declareQueue("q")
        for n in 1...4 { leader.publish("m\(n)", to: "q") }
        try leader.dispatcher.qos(channel: channel("c1"), prefetchCount: 3, global: false)
        _ = leader.consume("q", channel: channel("c1"))
        XCTAssertEqual(leader.dispatch().map(bodyText), ["m1", "m2", "m3"])
        _ = try leader.dispatcher.ack(channel: channel("c1"), deliveryTag: 2, multiple: false)
        let proposals = leader.dispatcher.closeChannel(channel("c1"), state: leader.h.state, now: leader.h.now)
        let ids = leader.h.ids("q")
        XCTAssertEqual(proposals, [.requeue(MessageBatch(queue: q("q"), ids: [ids[0], ids[2]]), timestamp: leader.h.now, deliveryFailed: true)])
        XCTAssertEqual(leader.dispatcher.unackedCount(channel("c1")), 0)
        leader.commit(proposals)
        _ = leader.consume("q", channel: channel("c2"))
        let redelivered = leader.dispatch()
        XCTAssertEqual(redelivered.map(bodyText), ["m1", "m3", "m4"])
        XCTAssertEqual(redelivered.map(\.redelivered), [true, true, false])
        XCTAssertEqual(leader.h.messages("q").first { $0.id == ids[0] }?.deliveryCount, 1)
    }

    func testLeaderChangeRedeliversEverythingUnsettled() throws {
        var leader = Leader()
        leader.h.declareQueue("q")
        for n in 1...3 { leader.publish("m\(n)", to: "q") }
        _ = leader.consume("q", channel: channel())
        XCTAssertEqual(leader.dispatch().count, 3)
        _ = try leader.dispatcher.ack(channel: channel(), deliveryTag: 1, multiple: false)  // the settle never got committed

        // Another node becomes leader with the same replicated state.
        var next = Leader(leader.h)
        next.h.now += 5_000
        next.publish("m4", to: "q")
        _ = next.consume("q", channel: channel("c9"))
        let deliveries = next.dispatch()
        XCTAssertEqual(deliveries.map(bodyText), ["m1", "m2", "m3", "m4"])
        XCTAssertEqual(deliveries.map(\.redelivered), [true, true, true, false])
        XCTAssertEqual(next.dispatcher.redeliveredBelow, leader.h.state.nextMessageID)
    }

    func testBasicGet() throws {
        var leader = Leader()
        leader.h.declareQueue("q")
        leader.publish("a", to: "q")
        leader.publish("b", to: "q")
        let first = try leader.dispatcher.get(channel: channel(), queue: q("q"), noAck: false, state: leader.h.state, now: leader.h.now)
        XCTAssertEqual(first.delivery.map(leader.h.held).map(bodyText), "a")
        XCTAssertNil(first.delivery?.consumerTag)
        XCTAssertEqual(first.messageCount, 1)
        XCTAssertEqual(first.proposals, [])
        let second = try leader.dispatcher.get(channel: channel(), queue: q("q"), noAck: true, state: leader.h.state, now: leader.h.now)
        XCTAssertEqual(second.delivery.map(leader.h.held).map(bodyText), "b")
        XCTAssertEqual(second.delivery?.deliveryTag, 2)
        XCTAssertEqual(second.proposals, [.settle(MessageBatch(queue: q("q"), ids: [second.delivery!.messageID]))])
        let empty = try leader.dispatcher.get(channel: channel(), queue: q("q"), noAck: false, state: leader.h.state, now: leader.h.now)
        XCTAssertNil(empty.delivery)
        XCTAssertEqual(empty.messageCount, 0)
        XCTAssertThrowsError(try leader.dispatcher.get(channel: channel(), queue: q("none"), noAck: false, state: leader.h.state, now: 0)) {
            XCTAssertEqual(($0 as? BrokerError)?.replyText, "NOT_FOUND - no queue 'none' in vhost '/'")
        }
    }

    func testNoAckConsumersSettleAtOnce() {
        var leader = Leader()
        leader.h.declareQueue("q")
        for n in 1...3 { leader.publish("m\(n)", to: "q") }
        _ = leader.consume("q", channel: channel(), noAck: true)
        let output = leader.dispatcher.dispatch(state: leader.h.state, now: leader.h.now)
        XCTAssertEqual(output.deliveries.map(\.noAck), [true, true, true])
        XCTAssertEqual(output.proposals, [.settle(MessageBatch(queue: q("q"), ids: leader.h.ids("q")))])
        XCTAssertEqual(leader.dispatcher.unackedCount(channel()), 0)
        leader.commit(output.proposals)
        XCTAssertEqual(leader.h.bodies("q"), [])
    }

    func testDeletedQueueCancelsItsConsumers() {
        var leader = Leader()
        leader.h.declareQueue("q")
        let tag = leader.consume("q", channel: channel())
        leader.commit([.deleteQueue(QueueDeletion(name: "q"))])
        XCTAssertEqual(leader.cancellations, [ConsumerCancellation(channel: channel(), consumerTag: tag, queue: q("q"))])
        XCTAssertEqual(leader.dispatcher.consumerTags(channel()), [])
        XCTAssertEqual(leader.dispatcher.consumerCount(q("q")), 0)
    }

    func testConsumeErrors() {
        var leader = Leader()
        leader.h.declareQueue("q")
        leader.h.declareQueue("locked", exclusive: true, owner: "conn-A")
        _ = leader.consume("q", channel: channel(), tag: "t")
        func consume(_ request: ConsumeRequest) -> BrokerError? {
            do {
                _ = try leader.dispatcher.consume(request, state: leader.h.state, now: 0)
                return nil
            } catch { return error }
        }
        XCTAssertEqual(consume(ConsumeRequest(channel: channel(), queue: q("q"), consumerTag: "t"))?.replyText, "NOT_ALLOWED - attempt to reuse consumer tag 't'")
        XCTAssertEqual(
            consume(ConsumeRequest(channel: channel(), queue: q("q"), consumerTag: "x", exclusive: true))?.replyText,
            "ACCESS_REFUSED - queue 'q' in vhost '/' in exclusive use")
        XCTAssertEqual(consume(ConsumeRequest(channel: channel(), queue: q("nope")))?.code, .notFound)
        XCTAssertEqual(consume(ConsumeRequest(channel: channel("conn-B"), queue: q("locked")))?.code, .resourceLocked)
        XCTAssertNil(consume(ConsumeRequest(channel: channel("conn-A"), queue: q("locked"), exclusive: true)))
        XCTAssertEqual(consume(ConsumeRequest(channel: channel("conn-A", 2), queue: q("locked")))?.message, "queue 'locked' in vhost '/' in exclusive use")
    }

    func testAutoDeleteAfterTheLastConsumerLeaves() {
        var leader = Leader()
        leader.h.declareQueue("temp", autoDelete: true)
        _ = leader.consume("temp", channel: channel("c1"), tag: "a")
        _ = leader.consume("temp", channel: channel("c2"), tag: "b")
        XCTAssertEqual(leader.dispatcher.cancel(channel: channel("c1"), consumerTag: "a", state: leader.h.state, now: 0), [])
        let proposals = leader.dispatcher.closeChannel(channel("c2"), state: leader.h.state, now: 0)
        XCTAssertEqual(proposals, [.deleteQueue(QueueDeletion(name: "temp", inUse: false, autoDeleteOnly: true))])
        leader.commit(proposals)
        XCTAssertNil(leader.h.state.queue(q("temp")))
    }

    func testConnectionCloseDeletesItsExclusiveQueues() {
        var leader = Leader()
        leader.h.declareQueue("reply", exclusive: true, owner: "conn-7")
        leader.publish("m", to: "reply")
        _ = leader.consume("reply", channel: channel("conn-7"))
        XCTAssertEqual(leader.dispatch().count, 1)
        let proposals = leader.dispatcher.closeConnection("conn-7", state: leader.h.state, now: 0)
        XCTAssertEqual(proposals.last, .deleteQueuesOwned(by: "conn-7"))
        leader.commit(proposals)
        XCTAssertNil(leader.h.state.queue(q("reply")))
    }

    func testRecover() throws {
        var leader = Leader()
        leader.h.declareQueue("q")
        leader.publish("m", to: "q")
        _ = leader.consume("q", channel: channel())
        XCTAssertEqual(leader.dispatch().count, 1)
        XCTAssertThrowsError(try leader.dispatcher.recover(channel: channel(), requeue: false, now: 0)) {
            XCTAssertEqual(($0 as? BrokerError)?.replyText, "NOT_IMPLEMENTED - requeue=false")
        }
        leader.commit(try leader.dispatcher.recover(channel: channel(), requeue: true, now: 0))
        let again = leader.dispatch()
        XCTAssertEqual(again.map(\.redelivered), [true])
        XCTAssertEqual(again.map(\.deliveryTag), [2])
    }

    func testOverdueDeliveries() {
        var leader = Leader()
        leader.h.declareQueue("q")
        leader.h.declareQueue("strict", arguments: ["x-consumer-timeout": .int32(100)])
        leader.publish("m", to: "q")
        leader.publish("s", to: "strict")
        _ = leader.consume("q", channel: channel("c1"))
        _ = leader.consume("strict", channel: channel("c2"))
        XCTAssertEqual(leader.dispatch().count, 2)
        let now = leader.h.now
        XCTAssertEqual(leader.dispatcher.overdueChannels(state: leader.h.state, now: now + 100, defaultTimeoutMs: 1_000), [])
        XCTAssertEqual(
            leader.dispatcher.overdueChannels(state: leader.h.state, now: now + 101, defaultTimeoutMs: 1_000),
            [Dispatcher.OverdueChannel(channel: channel("c2"), timeoutMs: 100, holdsOverdueGet: false)])
        XCTAssertEqual(leader.dispatcher.overdueChannels(state: leader.h.state, now: now + 1_001, defaultTimeoutMs: 1_000).count, 2)
        XCTAssertEqual(
            BrokerError.deliveryAcknowledgementTimedOut(channel: 1, timeoutMs: 100).replyText,
            "PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value used: 100 ms. "
                + "This timeout value can be configured, see consumers doc guide to learn more")
    }

    func testAConsumersTimeoutComesBeforeItsQueues() {
        var leader = Leader()
        leader.h.declareQueue("q", arguments: ["x-consumer-timeout": .int32(1_000)])
        leader.publish("m", to: "q")
        _ = leader.consume("q", channel: channel(), arguments: ["x-consumer-timeout": .int32(50)])
        XCTAssertEqual(leader.dispatch().count, 1)
        let now = leader.h.now
        XCTAssertEqual(leader.dispatcher.overdueChannels(state: leader.h.state, now: now + 50, defaultTimeoutMs: nil), [])
        XCTAssertEqual(
            leader.dispatcher.overdueChannels(state: leader.h.state, now: now + 51, defaultTimeoutMs: nil),
            [Dispatcher.OverdueChannel(channel: channel(), timeoutMs: 50, holdsOverdueGet: false)])
        XCTAssertThrowsError(try leader.dispatcher.consume(
            ConsumeRequest(channel: channel("c2"), queue: q("q"), arguments: ["x-consumer-timeout": "soon"]), state: leader.h.state, now: now)) {
            XCTAssertEqual(($0 as? BrokerError)?.code, .preconditionFailed)
        }
    }

    func testAnOverdueGetCannotBeReclaimedByCancelling() throws {
        var leader = Leader()
        leader.h.declareQueue("q")
        leader.publish("m", to: "q")
        let got = try leader.dispatcher.get(channel: channel(), queue: q("q"), noAck: false, state: leader.h.state, now: leader.h.now)
        XCTAssertNotNil(got.delivery)
        XCTAssertEqual(
            leader.dispatcher.overdueChannels(state: leader.h.state, now: leader.h.now + 11, defaultTimeoutMs: 10),
            [Dispatcher.OverdueChannel(channel: channel(), timeoutMs: 10, holdsOverdueGet: true)])
    }

    func testReclaimingOverdueDeliveriesCancelsTheirConsumerAndGivesThemBack() throws {
        var leader = Leader()
        leader.h.declareQueue("q", arguments: ["x-consumer-timeout": .int32(100)])
        leader.publish("old", to: "q")
        _ = leader.consume("q", channel: channel(), tag: "slow")
        XCTAssertEqual(leader.dispatch().map(\.deliveryTag), [1])
        leader.h.now += 60
        leader.publish("new", to: "q")
        XCTAssertEqual(leader.dispatch().map(\.deliveryTag), [2])
        leader.h.now += 60  // "old" is 120 ms out, "new" 60 ms

        let reclaimed = leader.dispatcher.reclaimOverdue(on: channel(), state: leader.h.state, now: leader.h.now, defaultTimeoutMs: nil)
        XCTAssertEqual(reclaimed.cancelled, [ConsumerCancellation(channel: channel(), consumerTag: "slow", queue: q("q"))])
        XCTAssertEqual(leader.dispatcher.consumerTags(channel()), [])
        leader.commit(reclaimed.proposals)
        XCTAssertEqual(leader.dispatcher.unackedCount(channel()), 1, "what was not overdue stays with the channel")

        // Another consumer gets the message back; the late ack of its old tag settles nothing
        // and closes nothing, and the tag is not taken twice.
        _ = leader.consume("q", channel: channel("c2"), tag: "next")
        let again = leader.dispatch()
        XCTAssertEqual(again.map(bodyText), ["old"])
        XCTAssertEqual(again.map(\.redelivered), [true])
        XCTAssertEqual(try leader.dispatcher.ack(channel: channel(), deliveryTag: 1, multiple: false).count, 0)
        XCTAssertThrowsError(try leader.dispatcher.ack(channel: channel(), deliveryTag: 1, multiple: false))
        XCTAssertEqual(try leader.dispatcher.ack(channel: channel(), deliveryTag: 2, multiple: false).count, 1)
        XCTAssertThrowsError(try leader.dispatcher.ack(channel: channel(), deliveryTag: 3, multiple: false))
    }

    func testDispatchIsBoundedPerCall() {
        var limits = BrokerLimits()
        limits.deliveriesPerDispatchMax = 3
        var leader = Leader(Harness(limits: limits))
        leader.h.declareQueue("q")
        for n in 1...7 { leader.publish("m\(n)", to: "q") }
        _ = leader.consume("q", channel: channel())
        let first = leader.dispatcher.dispatch(state: leader.h.state, now: leader.h.now)
        XCTAssertEqual(first.deliveries.count, 3)
        XCTAssertTrue(first.more)
        XCTAssertEqual(leader.dispatch().map(bodyText), ["m4", "m5", "m6", "m7"])
    }

    func testPurgeLeavesWhatIsOutAndReadyCount() throws {
        var leader = Leader()
        leader.h.declareQueue("q")
        for n in 1...3 { leader.publish("m\(n)", to: "q") }
        _ = try leader.dispatcher.get(channel: channel(), queue: q("q"), noAck: false, state: leader.h.state, now: 0)
        XCTAssertEqual(leader.dispatcher.readyCount(q("q"), state: leader.h.state, now: leader.h.now), 2)
        let keep = leader.dispatcher.outMessageIDs(q("q"))
        let effects = leader.commit([.purge(QueuePurge(queue: q("q"), keeping: keep))])
        XCTAssertEqual(reply(effects), .purged(messageCount: 2))
        XCTAssertEqual(leader.h.bodies("q"), ["m1"])
        XCTAssertEqual(try leader.dispatcher.ack(channel: channel(), deliveryTag: 1, multiple: false).count, 1)
    }
}
