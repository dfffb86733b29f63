import XCTest

@testable import Gossip

/// Suspicion, refutation and death (SWIM §4.2).
final class SuspicionTests: XCTestCase {
    /// Suspects member 2 at t = 2000: one probe of it that nobody answers.
    private func suspecting2() -> SWIMInstance {
        var swim = Fixture.instance(1, knowing: [2]) { $0.suspicionTimeoutMs = 5000 }
        let ping = swim.onPeriodicTick(now: 1000).pings.first!
        XCTAssertEqual(ping.toID, 2)
        XCTAssertEqual(swim.onPeriodicTick(now: 2000).events, [.suspected(Fixture.member(2, .suspect))])
        return swim
    }

    /// suspect → dead once the suspicion timeout passes, not a period earlier.
    func testDeadAfterSuspicionTimeout() {
        var swim = suspecting2()
        for now in stride(from: SWIM.Millis(3000), through: 6000, by: 1000) {
            XCTAssertEqual(swim.onPeriodicTick(now: now).events, [], "t=\(now)")
        }
        let death = swim.onPeriodicTick(now: 7000)
        XCTAssertEqual(death.events, [.confirmedDead(Fixture.member(2, .dead))])
        XCTAssertEqual(swim.member(2)?.status, .dead)
        XCTAssertTrue(swim.pendingUpdates.contains { $0.member == Fixture.member(2, .dead) })
        XCTAssertEqual(swim.onPeriodicTick(now: 8000).timeouts.count, 0, "the dead are not probed in the round")
    }

    /// A suspect that refutes (alive at a higher incarnation) is alive again and never
    /// declared dead.
    func testRefutedSuspicionStaysAlive() {
        var swim = suspecting2()
        let refuted = swim.receive(.ping(updates: [Fixture.member(2, incarnation: 1)]), from: 2, now: 2500)
        XCTAssertEqual(refuted.events, [.aliveAgain(Fixture.member(2, incarnation: 1))])
        _ = swim.ackProbe(now: 2600)
        for now in stride(from: SWIM.Millis(3000), through: 12_000, by: 1000) {
            let directives = swim.onPeriodicTick(now: now)
            XCTAssertEqual(directives.events, [], "t=\(now)")
            _ = swim.ackProbe(now: now + 10)
        }
        XCTAssertEqual(swim.member(2), Fixture.member(2, incarnation: 1))
    }

    /// An ack at the suspected incarnation is no refutation; one at a higher incarnation is.
    func testAckRefutesOnlyWithHigherIncarnation() throws {
        var swim = suspecting2()
        let sameIncarnation = try XCTUnwrap(swim.onPeriodicTick(now: 3000).pings.first)
        _ = swim.receive(.ack(target: 2, incarnation: 0, updates: []), from: 2, sequence: sameIncarnation.message.sequence, now: 3100)
        XCTAssertEqual(swim.member(2)?.status, .suspect)
        let higher = try XCTUnwrap(swim.onPeriodicTick(now: 4000).pings.first)
        let directives = swim.receive(.ack(target: 2, incarnation: 1, updates: []), from: 2, sequence: higher.message.sequence, now: 4100)
        XCTAssertEqual(directives.events, [.aliveAgain(Fixture.member(2, incarnation: 1))])
    }

    /// §4.2: a node that hears it is suspected raises its incarnation past the suspicion,
    /// acks with the new incarnation and disseminates alive.
    func testRefutationByIncarnation() throws {
        var swim = Fixture.instance(1, knowing: [2, 3])
        let directives = swim.receive(.ping(updates: [Fixture.member(1, .suspect)]), from: 2, sequence: 9, now: 100)
        XCTAssertEqual(directives.events, [])
        XCTAssertEqual(swim.myself, Fixture.member(1, incarnation: 1))
        XCTAssertEqual(swim.counters.refutations, 1)
        let ack = try XCTUnwrap(directives.sent.first)
        XCTAssertEqual(ack.message.body, .ack(target: 1, incarnation: 1, updates: [Fixture.member(1, incarnation: 1)]),
                       "the ack carries the new incarnation and the refutation")
        let next = swim.onPeriodicTick(now: 1000)
        XCTAssertEqual(next.pings.first?.updates.first, Fixture.member(1, incarnation: 1), "and it keeps spreading")
    }

    /// Death and records of an older life are refuted too; news no newer than what this node
    /// already said is not.
    func testRefutationOfDeathAndOfOlderLives() {
        var swim = Fixture.instance(1, knowing: [2])
        _ = swim.receive(.ping(updates: [Fixture.member(1, .dead, incarnation: 4)]), from: 2, now: 10)
        XCTAssertEqual(swim.myself.incarnation, 5)
        _ = swim.receive(.ping(updates: [Fixture.member(1, .alive, incarnation: 7)]), from: 2, now: 20)
        XCTAssertEqual(swim.myself.incarnation, 8)
        _ = swim.receive(.ping(updates: [Fixture.member(1, .alive, incarnation: 8), Fixture.member(1, .suspect, incarnation: 3)]),
                         from: 2, now: 30)
        XCTAssertEqual(swim.myself.incarnation, 8, "stale news raises nothing")
        XCTAssertEqual(swim.counters.refutations, 2)
        XCTAssertEqual(swim.myself.status, .alive)
    }

    /// A suspicion heard from others starts this node's own suspicion timer.
    func testSuspicionHeardByGossipStartsOwnTimer() {
        var swim = Fixture.instance(1, knowing: [2, 3]) { $0.suspicionTimeoutMs = 5000 }
        let heard = swim.receive(.ping(updates: [Fixture.member(3, .suspect)]), from: 2, now: 500)
        XCTAssertEqual(heard.events, [.suspected(Fixture.member(3, .suspect))])
        var deaths: [SWIM.Millis] = []
        for now in stride(from: SWIM.Millis(1000), through: 7000, by: 1000) {
            if !swim.onPeriodicTick(now: now).events.filter({ $0 == .confirmedDead(Fixture.member(3, .dead)) }).isEmpty {
                deaths.append(now)
            }
            _ = swim.ackProbe(now: now + 10)
        }
        XCTAssertEqual(deaths, [6000], "the first period at or after 500 + 5000")
    }

    /// A death at an older incarnation than the one held is stale: the node refuted since.
    func testStaleDeathDoesNotKillARefutedMember() {
        var swim = Fixture.instance(1, knowing: [2, 3])
        _ = swim.receive(.ping(updates: [Fixture.member(3, incarnation: 2)]), from: 2, now: 10)
        let stale = swim.receive(.ping(updates: [Fixture.member(3, .dead, incarnation: 1)]), from: 2, now: 20)
        XCTAssertEqual(stale.events, [])
        XCTAssertEqual(swim.member(3), Fixture.member(3, incarnation: 2))
        let current = swim.receive(.ping(updates: [Fixture.member(3, .dead, incarnation: 2)]), from: 2, now: 30)
        XCTAssertEqual(current.events, [.confirmedDead(Fixture.member(3, .dead, incarnation: 2))])
    }

    /// Lifeguard's buddy system: a message to a member held as suspect carries that record
    /// first, so it can refute at once.
    func testMessagesToASuspectCarryItsSuspicionFirst() throws {
        var swim = suspecting2()
        let ping = try XCTUnwrap(swim.onPeriodicTick(now: 3000).pings.first)
        XCTAssertEqual(ping.updates.first, Fixture.member(2, .suspect))
        let ack = swim.receive(.ping(updates: []), from: 2, sequence: 3, now: 3100).sent
        XCTAssertEqual(ack.first?.updates.first, Fixture.member(2, .suspect), "acks too")
    }

    /// Besides the round's probe, one suspect a period (round-robin, never the probe's
    /// target) gets an untracked ping carrying its suspicion; its ack, refuting, clears it
    /// here even if the refutation's dissemination missed this node.
    func testSuspectsArePingedEachPeriodRoundRobin() throws {
        var swim = Fixture.instance(1, knowing: [2, 3, 4, 5, 6])
        _ = swim.receive(.ping(updates: [Fixture.member(3, .suspect), Fixture.member(5, .suspect)]), from: 2, now: 10)
        var pinged: [SWIM.NodeID] = []
        var last: Sent?
        for tick in 1...4 {
            let now = SWIM.Millis(tick) * 1000
            let directives = swim.onPeriodicTick(now: now)
            let probe = try XCTUnwrap(directives.pings.first)
            let side = directives.pings.dropFirst()
            XCTAssertEqual(directives.timeouts.count, 1, "only the probe is tracked")
            XCTAssertEqual(side.count, 1)
            XCTAssertNotEqual(side.first?.toID, probe.toID)
            XCTAssertEqual(side.first?.updates.first, side.first.map { Fixture.member($0.toID, .suspect) })
            pinged += side.map(\.toID)
            last = side.first
            _ = swim.ackProbe(now: now + 10)
        }
        XCTAssertEqual(Set(pinged), [3, 5], "both suspects, in turn")
        XCTAssertEqual(swim.counters.suspectProbes, 4)
        let side = try XCTUnwrap(last)
        let ack = swim.receive(.ack(target: side.toID, incarnation: 1, updates: []), from: side.toID,
                               sequence: side.message.sequence, now: 4100)
        XCTAssertEqual(ack.events, [.aliveAgain(Fixture.member(side.toID, incarnation: 1))])
    }

    /// A node that has been suspected, hears it, and refutes, is cleared everywhere the
    /// refutation reaches: two instances talking to each other.
    func testSuspectedNodeRefutesThroughItsAck() throws {
        var a = Fixture.instance(1, knowing: [2]) { $0.suspicionTimeoutMs = 5000 }
        var b = Fixture.instance(2, knowing: [1])
        _ = a.onPeriodicTick(now: 1000)
        _ = a.onPeriodicTick(now: 2000)  // 2 missed its probe: suspect.
        let ping = try XCTUnwrap(a.onPeriodicTick(now: 3000).pings.first)
        let answer = b.onMessage(ping.message, from: Fixture.peer(1), now: 3010)
        XCTAssertEqual(b.myself.incarnation, 1)
        let ack = try XCTUnwrap(answer.sent.first)
        let cleared = a.onMessage(ack.message, from: Fixture.peer(2), now: 3020)
        XCTAssertEqual(cleared.events, [.aliveAgain(Fixture.member(2, incarnation: 1))])
    }
}
