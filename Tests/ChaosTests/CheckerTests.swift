import XCTest

@testable import berth_chaos

final class CheckerTests: XCTestCase {
    func testConfirmedMessageNeverDeliveredIsLost() {
        var history = HandMadeHistory()
        history.publishConfirmed(1, 0...1)
        history.deliver(1, [1])
        XCTAssertEqual(history.verdict.lost, [message(1, 0)])
        XCTAssertFalse(history.verdict.passed)
    }

    func testEveryConfirmedMessageDeliveredPasses() {
        var history = HandMadeHistory()
        history.publishConfirmed(1, 0)
        history.publishConfirmed(2, 0, queue: 1)
        history.deliver(1, 0)
        history.deliver(2, 0, queue: 1, to: "c2")
        let verdict = history.verdict
        XCTAssertEqual(verdict.lost, [])
        XCTAssertEqual(verdict.confirmed, 2)
        XCTAssertTrue(verdict.passed, "\(verdict.violations)")
    }

    func testDeliveryNeverPublishedIsUnexpected() {
        var history = HandMadeHistory()
        history.publishConfirmed(1, 0)
        history.deliver(1, 0)
        history.deliver(2, 7)
        // A body the harness could not parse comes with no id, only what it was.
        history.record(.deliver, actor: "c1") { $0.queue = 0; $0.detail = "body \"garbage\"" }
        let verdict = history.verdict
        XCTAssertEqual(verdict.unexpected.count, 2)
        XCTAssertTrue(verdict.unexpected[0].contains("2/7 never published"), verdict.unexpected[0])
        XCTAssertTrue(verdict.unexpected[1].contains("garbage"), verdict.unexpected[1])
        XCTAssertFalse(verdict.passed)
    }

    func testDeliveryFromAnotherQueueThanItWasPublishedToIsUnexpected() {
        var history = HandMadeHistory()
        history.publishConfirmed(1, 0, queue: 0)
        history.deliver(1, 0, queue: 1)
        history.deliver(1, 0, queue: 0)
        let verdict = history.verdict
        XCTAssertEqual(verdict.unexpected.count, 1)
        XCTAssertEqual(verdict.lost, [])
        XCTAssertFalse(verdict.passed)
    }

    func testFirstDeliveryAfterAMessagePublishedOnlyOnceItWasConfirmedIsAnOrderViolation() {
        var history = HandMadeHistory()
        history.publish(1, 0)
        history.confirm(1, 0, watermark: 1)
        history.publishConfirmed(1, 1)
        history.deliver(1, 1)
        history.deliver(1, 0)
        let verdict = history.verdict
        XCTAssertEqual(verdict.orderViolations.count, 1)
        XCTAssertTrue(verdict.orderViolations[0].contains("got 1/0"), verdict.orderViolations[0])
        XCTAssertFalse(verdict.passed)
    }

    func testMessagesPublishedBeforeTheEarlierOnesConfirmMayArriveOutOfOrder() {
        var history = HandMadeHistory()
        history.publish(1, 0)
        history.publish(1, 1)
        history.confirm(1, 0, watermark: 2)
        history.confirm(1, 1, watermark: 2)
        history.deliver(1, 1)
        history.deliver(1, 0)
        let verdict = history.verdict
        XCTAssertEqual(verdict.orderViolations, [])
        XCTAssertTrue(verdict.passed, "\(verdict.violations)")
    }

    func testAHigherPriorityMessageMayOvertakeButOrderHoldsWithinAPriority() {
        var history = HandMadeHistory()
        for (sequence, priority) in [(0, 0), (1, 3), (2, 0), (3, 3)] {
            history.publish(1, sequence, priority: priority)
            history.confirm(1, sequence, watermark: sequence + 1)
        }
        history.deliver(1, 1)
        history.deliver(1, 0)
        history.deliver(1, 3)
        history.deliver(1, 2)
        XCTAssertEqual(history.verdict.orderViolations, [], "priority 3 goes first, each priority in order")

        var reordered = HandMadeHistory()
        for (sequence, priority) in [(0, 3), (1, 3)] {
            reordered.publish(1, sequence, priority: priority)
            reordered.confirm(1, sequence, watermark: sequence + 1)
        }
        reordered.deliver(1, 1)
        reordered.deliver(1, 0)
        XCTAssertEqual(reordered.verdict.orderViolations.count, 1, "within one priority FIFO holds")
    }

    func testOrderHoldsPerConsumerPublisherAndQueue() {
        var history = HandMadeHistory()
        history.publishConfirmed(1, 0...1)
        history.publishConfirmed(1, 2, queue: 1)
        history.publishConfirmed(1, 3)
        history.publishConfirmed(2, 0...1)
        // Another consumer, another queue, another publisher: none of these is behind the other.
        history.deliver(1, 1, to: "c2")
        history.deliver(1, 2, queue: 1)
        history.deliver(2, 1)
        history.deliver(1, 0)
        history.deliver(2, 0, to: "c2")
        history.deliver(1, 3)
        XCTAssertEqual(history.verdict.orderViolations, [])
    }

    func testOnlyFirstFreshDeliveriesAreHeldToTheOrder() {
        var history = HandMadeHistory()
        history.publishConfirmed(1, 0...2)
        history.deliver(1, [0, 2])
        // A redelivery, and a second fresh delivery of 1/0, both behind 1/2.
        history.deliver(1, 1, redelivered: true)
        history.deliver(1, 0)
        XCTAssertEqual(history.verdict.orderViolations, [])
    }

    /// A publish whose confirm never came (its node was paused) reaches the queue when the node
    /// resumes, after the publisher's second attempt was confirmed and later messages were
    /// delivered: that copy is a duplicate, not a reorder.
    func testLateEarlierAttemptIsADuplicateNotAReorder() {
        var history = HandMadeHistory()
        history.publishConfirmedOnSecondAttempt(1, 0)
        history.publishConfirmed(1, 1)
        history.deliver(1, 1, to: "c2")
        history.deliver(1, 0, attempt: 1, to: "c2")
        // The second attempt went to a consumer that left; the queue gives it out again.
        history.deliver(1, 0, attempt: 2, to: "c2", redelivered: true)
        let verdict = history.verdict
        XCTAssertEqual(verdict.orderViolations, [])
        XCTAssertEqual(verdict.duplicated, 0, "one fresh delivery, one redelivery")
        XCTAssertEqual(verdict.lost, [])
        XCTAssertEqual(verdict.confirmed, 2)
        XCTAssertEqual(verdict.publishAttempts, 3)
        XCTAssertTrue(verdict.passed, "\(verdict.violations)")
    }

    /// The confirmed attempt is held to the order even when an earlier attempt of the same
    /// message was delivered first.
    func testConfirmedAttemptFirstDeliveredAfterALaterMessageIsAReorder() {
        var history = HandMadeHistory()
        history.publishConfirmedOnSecondAttempt(1, 0)
        history.publishConfirmed(1, 1)
        history.deliver(1, 0, attempt: 1, to: "c1")
        history.deliver(1, 1, to: "c2")
        history.deliver(1, 0, attempt: 2, to: "c2")
        let verdict = history.verdict
        XCTAssertEqual(verdict.orderViolations.count, 1)
        XCTAssertTrue(verdict.orderViolations.first?.contains("got 1/0 (attempt 2)") ?? false, "\(verdict.orderViolations)")
        XCTAssertEqual(verdict.duplicated, 1, "two attempts of 1/0 delivered fresh")
        XCTAssertFalse(verdict.passed)
    }

    func testBodyCarriesPublisherQueueSequenceAndAttempt() {
        let body = message(3, 41).body(queue: 1, attempt: 2)
        XCTAssertEqual(body, "3/1/41/2")
        let parsed = MessageID.parse(body)
        XCTAssertEqual(parsed?.id, message(3, 41))
        XCTAssertEqual(parsed?.queue, 1)
        XCTAssertEqual(parsed?.attempt, 2)
        XCTAssertNil(MessageID.parse("3/1/41"), "a body without an attempt is not the workload's")
        XCTAssertNil(MessageID.parse("3/1/41/0"))
    }

    func testMessageDeliveredFreshTwiceIsDuplicatedNotRedelivered() {
        var history = HandMadeHistory()
        history.publishConfirmed(1, 0)
        history.deliver(1, 0)
        history.deliver(1, 0, to: "c2")
        let verdict = history.verdict
        XCTAssertEqual(verdict.duplicated, 1)
        XCTAssertEqual(verdict.redelivered, 0)
        XCTAssertEqual(verdict.deliveries, 2)
        XCTAssertTrue(verdict.passed, "a duplicate is counted, not a violation: \(verdict.violations)")
    }

    func testFlaggedRedeliveryIsRedeliveredNotDuplicated() {
        var history = HandMadeHistory()
        history.publishConfirmed(1, 0)
        history.deliver(1, 0)
        history.record(.requeue, actor: "c1") { $0.publisher = 1; $0.sequence = 0; $0.queue = 0 }
        history.deliver(1, 0, to: "c2", redelivered: true)
        let verdict = history.verdict
        XCTAssertEqual(verdict.duplicated, 0)
        XCTAssertEqual(verdict.redelivered, 1)
        XCTAssertEqual(verdict.requeues, 1)
    }

    func testUnconfirmedMessageDeliveredIsRecoveredAndOneNeverDeliveredIsNotLost() {
        var history = HandMadeHistory()
        history.publish(1, 0)
        history.indeterminate(1, 0)
        history.publish(1, 1)
        history.indeterminate(1, 1)
        history.deliver(1, 0)
        let verdict = history.verdict
        XCTAssertEqual(verdict.recovered, 1)
        XCTAssertEqual(verdict.unconfirmedNotDelivered, 1)
        XCTAssertEqual(verdict.indeterminate, 2)
        XCTAssertEqual(verdict.lost, [])
        XCTAssertTrue(verdict.passed, "\(verdict.violations)")
    }

    func testAvailabilityCountsWholeSecondsWithAConfirm() {
        // Seconds from 10 s: [10, 11) has two confirms, [11, 12) none, [12, 13) one; the
        // confirm at 13.0 s falls in the part second the range ends with, which is not counted.
        let confirms: [Int64] = [9_999, 10_000, 10_999, 12_500, 13_000]
        let share = Checker.availability(confirms, from: 10_000, to: 13_400)
        XCTAssertEqual(share.available, 2)
        XCTAssertEqual(share.seconds, 3)
        XCTAssertEqual(Checker.percent(share), "66%")
        XCTAssertEqual(Checker.percent(Checker.availability(confirms, from: 5_000, to: 5_900)), "-")
    }

    func testLostBetweenTwoDeliveriesOfTheSamePublisherAndQueueIsInTheMiddle() {
        var history = HandMadeHistory()
        history.publishConfirmed(1, 0...5)
        history.deliver(1, [0, 3])
        // 1/1 and 1/2 are holes; 1/4 and 1/5 come after the last delivery, a tail.
        let verdict = history.verdict
        XCTAssertEqual(verdict.lost, [message(1, 1), message(1, 2), message(1, 4), message(1, 5)])
        XCTAssertEqual(verdict.lostInTheMiddle, [message(1, 1), message(1, 2)])
    }

    func testLostIsInTheMiddleOnlyBetweenDeliveriesOfItsOwnQueueAndPublisher() {
        var history = HandMadeHistory()
        history.publishConfirmed(1, 0, queue: 0)
        history.publishConfirmed(1, 1, queue: 1)
        history.publishConfirmed(1, 2, queue: 0)
        history.publishConfirmed(2, 0, queue: 1)
        history.publishConfirmed(2, 1, queue: 1)
        history.deliver(1, 0, queue: 0)
        history.deliver(1, 2, queue: 0)
        history.deliver(2, 1, queue: 1)
        // 1/1 lies between 1/0 and 1/2 but went to the other queue; 2/0 has nothing below it.
        let verdict = history.verdict
        XCTAssertEqual(verdict.lost, [message(1, 1), message(2, 0)])
        XCTAssertEqual(verdict.lostInTheMiddle, [])
    }

    func testCountsNameTheLostInTheMiddleWithExamples() {
        var history = HandMadeHistory()
        history.publishConfirmed(1, 16...20)
        history.deliver(1, [16, 19])
        XCTAssertTrue(Checker.counts(history.verdict).contains("lost 3 (in the middle 2: 1/17 1/18), unexpected 0"), Checker.counts(history.verdict))
        history.deliver(1, 20)
        XCTAssertTrue(Checker.counts(history.verdict).contains("lost 2 (in the middle 2: 1/17 1/18), unexpected 0"))
        history.deliver(1, [17, 18])
        XCTAssertTrue(Checker.counts(history.verdict).contains("lost 0, unexpected 0"), Checker.counts(history.verdict))
    }

    func testCountsSayWhenNoLostMessageIsInTheMiddle() {
        var history = HandMadeHistory()
        history.publishConfirmed(1, 0...1)
        history.deliver(1, [0])
        XCTAssertTrue(Checker.counts(history.verdict).contains("lost 1 (in the middle 0), unexpected 0"), Checker.counts(history.verdict))
    }

    // MARK: Dead-lettering

    func testRejectedMessageDeliveredFromTheDeadLetterQueuePasses() {
        var history = HandMadeHistory()
        history.publishConfirmed(1, 0)
        history.deliver(1, 0)
        history.reject(1, 0)
        history.deliver(1, 0, queue: HandMadeHistory.deadLetterQueue, to: "d1")
        let verdict = history.verdict
        XCTAssertEqual(verdict.deadLettered, 1)
        XCTAssertEqual(verdict.rejects, 1)
        XCTAssertEqual(verdict.duplicated, 0, "the dead-lettered copy is not a second fresh delivery")
        XCTAssertTrue(verdict.passed, "\(verdict.violations)")
    }

    func testDeadLetteredMessageThatNoConsumerRejectedIsUnexpected() {
        var history = HandMadeHistory()
        history.publishConfirmed(1, 0)
        history.deliver(1, 0)
        history.deliver(1, 0, queue: HandMadeHistory.deadLetterQueue, to: "d1")
        let verdict = history.verdict
        XCTAssertEqual(verdict.unexpected.count, 1)
        XCTAssertTrue(verdict.unexpected[0].contains("never rejected"), verdict.unexpected[0])
        XCTAssertFalse(verdict.passed)
    }

    func testDeadLetteredMessageWithAWrongDeathHeaderIsUnexpected() {
        var history = HandMadeHistory()
        history.publishConfirmed(1, 0)
        history.deliver(1, 0)
        history.reject(1, 0)
        history.record(.deliver, actor: "d1") {
            $0.publisher = 1; $0.sequence = 0; $0.queue = HandMadeHistory.deadLetterQueue; $0.detail = "dead-lettered without an x-death header"
        }
        let verdict = history.verdict
        XCTAssertEqual(verdict.unexpected.count, 1)
        XCTAssertTrue(verdict.unexpected[0].contains("x-death"), verdict.unexpected[0])
    }

    func testRejectedMessageThatNeverComesAgainIsLost() {
        var history = HandMadeHistory()
        // Not confirmed (its confirm was indeterminate), but a consumer had it: it was stored.
        history.publish(1, 0)
        history.indeterminate(1, 0)
        history.deliver(1, 0)
        history.reject(1, 0)
        XCTAssertEqual(history.verdict.lost, [message(1, 0)])
        // Coming again on its own queue (the reject was lost with the connection) will do.
        history.deliver(1, 0, redelivered: true)
        XCTAssertEqual(history.verdict.lost, [])
    }
}
