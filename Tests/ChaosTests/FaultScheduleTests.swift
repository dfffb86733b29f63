import XCTest

@testable import berth_chaos

/// The schedule is the seed's alone, a quarter of it fault-free, and it goes through every
/// kind asked for before any repeats.
final class FaultScheduleTests: XCTestCase {
    private func describe(_ schedule: FaultSchedule) -> [String] {
        schedule.windows.map { "\($0.number) \($0.kind.rawValue) \($0.offset) \($0.hold) \($0.recovery) \($0.drawnNodes) \($0.parameter)" }
    }

    func testTheSameSeedDrawsTheSameScheduleAndAnotherSeedAnother() {
        let first = FaultSchedule.draw(seed: 42, duration: .seconds(600), nodeCount: 3)
        XCTAssertEqual(describe(first), describe(FaultSchedule.draw(seed: 42, duration: .seconds(600), nodeCount: 3)))
        XCTAssertNotEqual(describe(first), describe(FaultSchedule.draw(seed: 43, duration: .seconds(600), nodeCount: 3)))
    }

    func testAQuarterOfTheWindowsAreFaultFreeAndEveryKindComesBeforeAnyRepeats() {
        for seed in UInt64(1)...20 {
            let schedule = FaultSchedule.draw(seed: seed, duration: .seconds(1800), nodeCount: 3)
            let count = schedule.windows.count
            XCTAssertEqual(schedule.windows.filter { $0.kind == .none }.count, (count + 2) / 4, "seed \(seed)")
            let faults = schedule.windows.map(\.kind).filter { $0 != .none }
            // Over half an hour there is room for every kind at least once.
            XCTAssertEqual(Set(faults), Set(FaultKind.faults), "seed \(seed)")
            let counts = Dictionary(grouping: faults, by: { $0 }).mapValues(\.count)
            XCTAssertLessThanOrEqual(counts.values.max()! - counts.values.min()!, 1, "seed \(seed): \(counts)")
        }
    }

    func testOnlyTheKindsAskedForAreDrawnWithTheirSettingsInRange() {
        let schedule = FaultSchedule.draw(seed: 9, duration: .seconds(600), nodeCount: 3, kinds: [.loss, .latency, .split])
        XCTAssertEqual(Set(schedule.windows.map(\.kind)), [.none, .loss, .latency, .split])
        for window in schedule.windows {
            switch window.kind {
            case .loss: XCTAssertTrue(FaultSchedule.lossPercent.contains(window.parameter))
            case .latency: XCTAssertTrue(FaultSchedule.latencyMillis.contains(window.parameter))
            case .split: XCTAssertEqual(window.drawnNodes.count, 1, "a minority of three is one node")
            default: break
            }
            XCTAssertTrue(window.drawnNodes.allSatisfy { (1...3).contains($0) })
        }
    }

    func testWindowsFollowEachOtherWithoutOverlap() {
        let schedule = FaultSchedule.draw(seed: 5, duration: .seconds(300), nodeCount: 3)
        XCTAssertEqual(schedule.windows.first?.offset, FaultSchedule.warmUp)
        for (earlier, later) in zip(schedule.windows, schedule.windows.dropFirst()) {
            XCTAssertEqual(later.offset, earlier.end)
        }
    }

    func testEveryScheduleIsolatesTheLeaderAtLeastOnceHoweverShort() {
        for seed in UInt64(1)...50 {
            let schedule = FaultSchedule.draw(seed: seed, duration: .seconds(60), nodeCount: 3)
            XCTAssertTrue(schedule.windows.contains { $0.kind == .isolateLeader }, "seed \(seed): \(schedule.windows.map(\.kind))")
        }
    }
}
