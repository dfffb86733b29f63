import XCTest

@testable import berth_chaos

final class WindowTableTests: XCTestCase {
    func testLongestGapRunsFromTheWindowStartToItsEnd() {
        XCTAssertEqual(Checker.longestGap([1_000, 1_500, 4_200], from: 0, to: 5_000), 2_700)
        XCTAssertEqual(Checker.longestGap([1_000], from: 0, to: 9_000), 8_000, "the stretch up to the end counts")
        XCTAssertEqual(Checker.longestGap([7_000], from: 0, to: 9_000), 7_000, "the stretch from the start counts")
        XCTAssertEqual(Checker.longestGap([-500, 9_000, 12_000], from: 0, to: 9_000), 9_000, "confirms outside are not in the window")
        XCTAssertEqual(Checker.longestGap([], from: 2_000, to: 2_000), 0)
    }

    func testRecoveryRunsFromTheHealToTheFirstConfirmAfterIt() {
        XCTAssertEqual(Checker.recovery([500, 2_600, 2_300], heal: 2_000, end: 5_000), 300)
        XCTAssertEqual(Checker.recovery([1_999, 2_000], heal: 2_000, end: 5_000), 0, "a confirm at the heal counts")
        XCTAssertNil(Checker.recovery([500, 5_000], heal: 2_000, end: 5_000), "a confirm at the end is the next window's")
    }

    func testTableShowsEachWindowsGapAndRecovery() throws {
        var history = HandMadeHistory()
        // Window 1, kill-leader, 0-4 s, healed, until 8 s: silent from 1.0 s to 5.3 s.
        history.record(.fault, actor: "nemesis", at: 0) { $0.window = 1 }
        for (sequence, millis) in [500, 1_000, 5_300, 6_000].enumerated() { history.confirm(1, sequence, watermark: sequence + 1, at: Int64(millis)) }
        history.record(.heal, actor: "nemesis", at: 4_000) { $0.window = 1 }
        // Window 2, fault-free, 8-10 s then until 12 s: one confirm at 8.1 s and none after the heal.
        history.confirm(1, 4, watermark: 5, at: 8_100)
        let windows = [
            record(1, .killLeader, start: 0, heal: 4_000, end: 8_000),
            record(2, .none, start: 8_000, heal: 10_000, end: 12_000),
        ]
        let rows = try table(Checker.table(history.events, windows: windows))
        XCTAssertEqual(rows.count, 2)
        XCTAssertEqual(rows[0]["fault"], "kill-leader")
        XCTAssertEqual(rows[0]["gap s"], "4.3")
        XCTAssertEqual(rows[0]["recover s"], "1.3")
        XCTAssertEqual(rows[0]["confirmed"], "4")
        XCTAssertEqual(rows[1]["gap s"], "3.9")
        XCTAssertEqual(rows[1]["recover s"], "-")
    }

    func record(_ number: Int, _ kind: FaultKind, start: Int64, heal: Int64, end: Int64) -> WindowRecord {
        let window = FaultWindow(
            number: number, kind: kind, offset: .milliseconds(start), hold: .milliseconds(heal - start),
            recovery: .milliseconds(end - heal), drawnNodes: [1])
        return WindowRecord(window: window, target: "node-1", startMillis: start, healMillis: heal, endMillis: end)
    }

    /// The per-window rows of `Checker.table`'s text, each by its column's header. Columns
    /// are two or more spaces apart; the tests' cells hold no such run.
    func table(_ text: String) throws -> [[String: String]] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let cells = lines.prefix { !$0.isEmpty }.map { line in
            line.split(separator: #/  +/#).map { String($0) }
        }
        let header = try XCTUnwrap(cells.first)
        XCTAssertEqual(header.suffix(2), ["gap s", "recover s"])
        return cells.dropFirst().map { row in
            XCTAssertEqual(row.count, header.count, "\(row)")
            return Dictionary(uniqueKeysWithValues: zip(header, row))
        }
    }
}
