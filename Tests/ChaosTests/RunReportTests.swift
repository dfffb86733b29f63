import XCTest

@testable import berth_chaos

final class RunReportTests: XCTestCase {
    func report(_ history: HandMadeHistory) -> RunReport {
        RunReport(
            seed: 99, windowCount: 0, workloadEndMillis: 12_345, replay: "Chaos/run --preset ci --seed 99",
            events: history.events, windows: [], verdict: history.verdict, snapshotsInstalled: 3)
    }

    func testReportOfALostMessageFailsAndSaysHowToReplay() {
        var history = HandMadeHistory()
        history.publishConfirmed(1, 0...2)
        history.deliver(1, [0, 2])
        let text = report(history).text
        XCTAssertTrue(text.hasPrefix("seed 99, 0 windows over 12.3 s\n"), text)
        XCTAssertTrue(text.contains("lost 1 (in the middle 1: 1/1)"), text)
        XCTAssertTrue(text.contains("VIOLATION: lost 1: 1/1\n"), text)
        XCTAssertTrue(text.contains("chaos: FAIL (seed 99; lost 1, unexpected 0, order 0, violations 1)\n"), text)
        XCTAssertTrue(text.hasSuffix("replay: Chaos/run --preset ci --seed 99\n"), text)
    }

    func testReportOfACleanRunPasses() {
        var history = HandMadeHistory()
        history.publishConfirmed(1, 0)
        history.deliver(1, 0)
        let text = report(history).text
        XCTAssertFalse(text.contains("VIOLATION"), text)
        XCTAssertTrue(text.contains("snapshots installed from a leader: 3\n"), text)
        XCTAssertTrue(text.contains("chaos: PASS (seed 99; lost 0, unexpected 0, order 0, violations 0)\n"), text)
    }
}
