import XCTest

@testable import Gossip

/// A member's resource alarms travel in its record: set or cleared by the member itself at
/// a higher incarnation, applied by the others with an `alarmsChanged` event, and outranked
/// by nothing older.
final class AlarmTests: XCTestCase {
    func testSettingAlarmsRaisesTheIncarnationAndDisseminatesTheRecord() throws {
        var swim = Fixture.instance(1, knowing: [2, 3])
        XCTAssertEqual(swim.setAlarms(.memory, now: 100), [])
        XCTAssertEqual(swim.myself.incarnation, 1)
        XCTAssertEqual(swim.myself.alarms, .memory)
        let ping = try XCTUnwrap(swim.onPeriodicTick(now: 1000).pings.first)
        guard case .ping(let updates) = ping.message.body else { return XCTFail("\(ping)") }
        XCTAssertTrue(updates.contains(swim.myself), "\(updates)")

        XCTAssertEqual(swim.setAlarms(.memory, now: 1100), [], "the same alarms change nothing")
        XCTAssertEqual(swim.myself.incarnation, 1)
        _ = swim.setAlarms([], now: 1200)
        XCTAssertEqual(swim.myself.incarnation, 2)
        XCTAssertEqual(swim.myself.alarms, [])
    }

    func testAnotherMembersAlarmsAreAppliedWithAnEvent() {
        var swim = Fixture.instance(1, knowing: [2, 3])
        var alarmed = Fixture.member(2, incarnation: 1)
        alarmed.alarms = .disk
        let raised = swim.receive(.ping(updates: [alarmed]), from: 2, now: 100)
        XCTAssertEqual(raised.events, [.alarmsChanged(alarmed)])
        XCTAssertEqual(swim.member(2)?.alarms, .disk)

        // Older news (the record before the alarm) does not clear it.
        let stale = swim.receive(.ping(updates: [Fixture.member(2)]), from: 3, now: 200)
        XCTAssertEqual(stale.events, [])
        XCTAssertEqual(swim.member(2)?.alarms, .disk)

        let cleared = swim.receive(.ping(updates: [Fixture.member(2, incarnation: 2)]), from: 2, now: 300)
        XCTAssertEqual(cleared.events, [.alarmsChanged(Fixture.member(2, incarnation: 2))])
        XCTAssertEqual(swim.member(2)?.alarms, [])
    }

    /// A record that refutes a suspicion keeps the refuting node's alarms.
    func testARefutationCarriesTheAlarms() {
        var swim = Fixture.instance(1, knowing: [2])
        _ = swim.setAlarms(.memory, now: 100)
        _ = swim.receive(.ping(updates: [Fixture.member(1, .suspect, incarnation: 5)]), from: 2, now: 200)
        XCTAssertEqual(swim.myself.incarnation, 6)
        XCTAssertEqual(swim.myself.alarms, .memory)
        XCTAssertTrue(swim.pendingUpdates.contains { $0.member == swim.myself })
    }

    /// Seeded, with loss: every member learns of an alarm within a few periods, and of its
    /// clearing as fast.
    func testAnAlarmReachesEveryMemberAndSoDoesItsClearing() {
        let sim = SimulatedCluster(nodes: 7, seed: 2026, loss: 0.1, delayMs: 1...20)
        sim.run(for: 3 * sim.interval)
        sim.setAlarms(4, .memory)
        let everyoneKnows = sim.run(until: { sim in
            sim.runningIDs.filter { $0 != 4 }.allSatisfy { sim.instances[$0]?.member(4)?.alarms == .memory }
        }, limit: 15 * sim.interval)
        XCTAssertTrue(everyoneKnows, "the alarm did not reach every member within 15 periods")
        sim.setAlarms(4, [])
        let everyoneCleared = sim.run(until: { sim in
            sim.runningIDs.filter { $0 != 4 }.allSatisfy { sim.instances[$0]?.member(4)?.alarms == [] }
        }, limit: 15 * sim.interval)
        XCTAssertTrue(everyoneCleared, "the clearing did not reach every member within 15 periods")
        XCTAssertTrue(sim.runningIDs.allSatisfy { sim.status(of: 4, at: $0) ?? .alive == .alive })
    }
}
