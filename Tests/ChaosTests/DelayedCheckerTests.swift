import XCTest

@testable import berth_chaos

extension HandMadeHistory {
    /// Published through the delayed exchange with `x-delay` `delay` ms, and confirmed.
    mutating func publishDelayedConfirmed(_ publisher: Int, _ sequence: Int, delay: Int, queue: Int = 0, at millis: Int64? = nil) {
        record(.publish, actor: "p\(publisher)", at: millis) {
            $0.publisher = publisher; $0.sequence = sequence; $0.attempt = 1; $0.queue = queue; $0.delayMillis = delay
        }
        confirm(publisher, sequence, queue: queue, watermark: sequence + 1)
    }
}

final class DelayedCheckerTests: XCTestCase {
    func testADelayedMessageDeliveredBeforeItsDelayIsOverIsEarly() {
        var history = HandMadeHistory()
        history.publishDelayedConfirmed(1, 0, delay: 1_000, at: 100)
        history.deliver(1, 0, at: 600)
        let verdict = history.verdict
        XCTAssertEqual(verdict.early.count, 1)
        XCTAssertTrue(verdict.early[0].contains("1/0"), verdict.early[0])
        XCTAssertEqual(verdict.delayedPublishes, 1)
        XCTAssertFalse(verdict.passed)
    }

    func testADelayedMessageDeliveredAfterItsDelayPassesOutsideTheOrder() {
        var history = HandMadeHistory()
        history.publishDelayedConfirmed(1, 0, delay: 1_000, at: 100)
        // Published after 1/0 was confirmed, and delivered before it: the delay allows it.
        history.publishConfirmed(1, 1)
        history.deliver(1, 1, at: 200)
        history.deliver(1, 0, at: 1_100)
        let verdict = history.verdict
        XCTAssertEqual(verdict.early, [])
        XCTAssertEqual(verdict.orderViolations, [])
        XCTAssertTrue(verdict.passed, "\(verdict.violations)")
    }

    func testAConfirmedDelayedMessageNeverDeliveredIsLost() {
        var history = HandMadeHistory()
        history.publishDelayedConfirmed(1, 0, delay: 300)
        XCTAssertEqual(history.verdict.lost, [message(1, 0)])
    }
}
