import AMQP
import NIOCore
import XCTest

@testable import Client

final class ConfirmTrackerTests: XCTestCase {
    private func tracker(_ count: Int, windowSize: Int = 16) -> ConfirmTracker<Int> {
        var tracker = ConfirmTracker<Int>(windowSize: windowSize)
        for token in 1...count {
            _ = tracker.register(token, deadline: nil)
        }
        return tracker
    }

    func testTagsStartAtOneAndIncreaseUpToTheWindow() {
        var tracker = ConfirmTracker<Int>(windowSize: 3)
        XCTAssertEqual(tracker.register(10, deadline: nil), 1)
        XCTAssertEqual(tracker.register(20, deadline: nil), 2)
        XCTAssertFalse(tracker.isFull)
        XCTAssertEqual(tracker.register(30, deadline: nil), 3)
        XCTAssertTrue(tracker.isFull)
        XCTAssertEqual(tracker.settle(deliveryTag: 1, multiple: false).map(\.token), [10])
        XCTAssertFalse(tracker.isFull)
        XCTAssertEqual(tracker.register(40, deadline: nil), 4)
    }

    func testASingleAckSettlesOnlyItsTagEvenInTheMiddle() {
        var tracker = self.tracker(5)
        XCTAssertEqual(tracker.settle(deliveryTag: 3, multiple: false).map(\.deliveryTag), [3])
        XCTAssertEqual(tracker.settle(deliveryTag: 3, multiple: false).map(\.deliveryTag), [])
        XCTAssertEqual(tracker.count, 4)
        XCTAssertEqual(tracker.removeAll().map(\.deliveryTag), [1, 2, 4, 5])
    }

    func testMultipleSettlesEverythingUpToAndIncludingItsTag() {
        var tracker = self.tracker(5)
        _ = tracker.settle(deliveryTag: 2, multiple: false)
        XCTAssertEqual(tracker.settle(deliveryTag: 4, multiple: true).map(\.deliveryTag), [1, 3, 4])
        XCTAssertEqual(tracker.removeAll().map(\.deliveryTag), [5])
    }

    func testMultipleWithTagZeroSettlesAll() {
        var tracker = self.tracker(3)
        XCTAssertEqual(tracker.settle(deliveryTag: 0, multiple: true).map(\.deliveryTag), [1, 2, 3])
        XCTAssertEqual(tracker.count, 0)
    }

    func testUnknownTagsAreIgnored() {
        var tracker = self.tracker(2)
        XCTAssertTrue(tracker.settle(deliveryTag: 9, multiple: false).isEmpty)
        XCTAssertTrue(tracker.settle(deliveryTag: 0, multiple: false).isEmpty)
        XCTAssertEqual(tracker.count, 2)
    }

    func testExpiryRemovesTheOldestUpToNow() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000)
        var tracker = ConfirmTracker<Int>(windowSize: 8)
        for offset in 0..<4 {
            _ = tracker.register(offset, deadline: start + .milliseconds(Int64(offset) * 10))
        }
        XCTAssertEqual(tracker.earliestDeadline, start)
        XCTAssertEqual(tracker.expire(now: start + .milliseconds(15)).map(\.deliveryTag), [1, 2])
        XCTAssertEqual(tracker.earliestDeadline, start + .milliseconds(20))
        XCTAssertEqual(tracker.expire(now: start + .milliseconds(15)).map(\.deliveryTag), [])
        XCTAssertEqual(tracker.count, 2)
    }
}

final class TuningTests: XCTestCase {
    private let requested = Tuning(channelMax: 2047, frameMax: 131_072, heartbeatSeconds: 60)

    func testTheSmallerLimitWinsAndZeroMeansNoLimit() throws {
        let offered = Method.Connection.Tune(channelMax: 100, frameMax: 0, heartbeat: 10)
        let tuning = try Tuning.negotiate(requested: self.requested, offered: offered).get()
        XCTAssertEqual(tuning, Tuning(channelMax: 100, frameMax: 131_072, heartbeatSeconds: 10))

        let unlimited = Tuning(channelMax: 0, frameMax: 0, heartbeatSeconds: 5)
        let server = Method.Connection.Tune(channelMax: 0, frameMax: 8192, heartbeat: 0)
        XCTAssertEqual(
            try Tuning.negotiate(requested: unlimited, offered: server).get(),
            Tuning(channelMax: UInt16.max, frameMax: 8192, heartbeatSeconds: 5)
        )
    }

    func testAClientAskingForNoHeartbeatGetsNone() throws {
        let noHeartbeat = Tuning(channelMax: 0, frameMax: 0, heartbeatSeconds: 0)
        let offered = Method.Connection.Tune(channelMax: 0, frameMax: 0, heartbeat: 60)
        XCTAssertEqual(try Tuning.negotiate(requested: noHeartbeat, offered: offered).get().heartbeatSeconds, 0)
    }

    func testAFrameMaxBelowTheMinimumIsRejected() {
        let offered = Method.Connection.Tune(channelMax: 0, frameMax: 1024, heartbeat: 0)
        XCTAssertEqual(
            Tuning.negotiate(requested: self.requested, offered: offered),
            .failure(.frameMaxBelowMinimum(1024))
        )
    }

    func testHeartbeatRoundsUpToWholeSeconds() {
        XCTAssertEqual(ConnectionConfiguration(heartbeat: .milliseconds(1500)).requestedTuning.heartbeatSeconds, 2)
        XCTAssertEqual(ConnectionConfiguration(heartbeat: .zero).requestedTuning.heartbeatSeconds, 0)
        XCTAssertEqual(ConnectionConfiguration(heartbeat: .seconds(30)).requestedTuning.heartbeatSeconds, 30)
    }
}

final class ChannelNumberPoolTests: XCTestCase {
    func testNumbersAreHandedOutInTurnAndReusedLast() {
        var pool = ChannelNumberPool(channelMax: 3)
        XCTAssertEqual(pool.allocate(), 1)
        XCTAssertEqual(pool.allocate(), 2)
        pool.release(1)
        XCTAssertEqual(pool.allocate(), 3)
        XCTAssertEqual(pool.allocate(), 1)
        XCTAssertNil(pool.allocate())
        pool.release(2)
        XCTAssertEqual(pool.allocate(), 2)
        XCTAssertEqual(pool.countInUse, 3)
    }
}
