import XCTest

@testable import Gossip

/// Failure detection, handler by handler (SWIM §3.1 and §4.3): build an instance, feed one
/// event, assert the directives.
final class ProbeTests: XCTestCase {
    let others: [SWIM.NodeID] = Array(2...9)

    /// §4.3: each period pings one member, round-robin over a shuffled list, so every
    /// member is probed exactly once per round, and rounds differ in order.
    func testProbeRoundRobinCoversEveryMemberOncePerRound() {
        var swim = Fixture.instance(1, knowing: others)
        var rounds: [[SWIM.NodeID]] = []
        var now: SWIM.Millis = 0
        for _ in 0..<4 {
            var round: [SWIM.NodeID] = []
            for _ in others {
                now += 1000
                let directives = swim.onPeriodicTick(now: now)
                XCTAssertEqual(directives.pings.count, 1)
                round += directives.pings.map(\.toID)
                _ = swim.ackProbe(now: now + 10)
            }
            XCTAssertEqual(round.sorted(), others, "one round pings every member once")
            rounds.append(round)
        }
        XCTAssertGreaterThan(Set(rounds).count, 1, "the order is reshuffled each round")
        XCTAssertTrue(swim.members.allSatisfy { $0.status == .alive })
        XCTAssertEqual(swim.counters.probesStarted, 4 * others.count)
        XCTAssertEqual(swim.counters.probesFailed, 0)
    }

    func testProbeSendsPingAndSchedulesItsTimeout() throws {
        var swim = Fixture.instance(1, knowing: others)
        let directives = swim.onPeriodicTick(now: 1000)
        let ping = try XCTUnwrap(directives.pings.first)
        XCTAssertEqual(directives.count, 2)
        XCTAssertEqual(ping.message.from, 1)
        XCTAssertEqual(ping.to, Fixture.peer(ping.toID))
        XCTAssertEqual(directives.timeouts.map(\.sequence), [ping.message.sequence])
        XCTAssertEqual(directives.timeouts.map(\.delayMs), [swim.settings.probeTimeoutMs])
    }

    /// A member added mid-round is probed before the round ends.
    func testNewMemberIsProbedWithinTheRound() {
        var swim = Fixture.instance(1, knowing: [2, 3, 4])
        var probed: [SWIM.NodeID] = swim.onPeriodicTick(now: 1000).pings.map(\.toID)
        _ = swim.ackProbe(now: 1010)
        _ = swim.receive(.ping(updates: [Fixture.member(5)]), from: 2, now: 1100)
        for tick in 2...4 {
            probed += swim.onPeriodicTick(now: SWIM.Millis(tick) * 1000).pings.map(\.toID)
            _ = swim.ackProbe(now: SWIM.Millis(tick) * 1000 + 10)
        }
        XCTAssertEqual(probed.sorted(), [2, 3, 4, 5])
    }

    /// §3.1: no ack within the probe timeout → ping-requests to k other members, for the
    /// same target and sequence.
    func testIndirectProbeAfterTimeout() throws {
        var swim = Fixture.instance(1, knowing: others) { $0.indirectProbeCount = 3 }
        let ping = try XCTUnwrap(swim.onPeriodicTick(now: 1000).pings.first)
        let requests = swim.onTimeout(sequence: ping.message.sequence, now: 1300).sent
        XCTAssertEqual(requests.count, 3)
        XCTAssertEqual(Set(requests.map(\.toID)).count, 3, "distinct intermediaries")
        for request in requests {
            XCTAssertNotEqual(request.toID, ping.toID)
            XCTAssertEqual(request.message.sequence, ping.message.sequence)
            guard case .pingRequest(let target, let address, _) = request.message.body else {
                return XCTFail("\(request.message)")
            }
            XCTAssertEqual(target, ping.toID)
            XCTAssertEqual(address, Fixture.peer(ping.toID))
        }
        XCTAssertEqual(swim.onTimeout(sequence: ping.message.sequence, now: 1400), [], "a second timeout does nothing")
        XCTAssertEqual(swim.counters.indirectProbes, 1)
    }

    /// Only alive members relay: suspects are not asked.
    func testIntermediariesAreAliveMembersOnly() throws {
        var swim = Fixture.instance(1, knowing: [2, 3, 4, 5])
        _ = swim.receive(.ping(updates: [Fixture.member(3, .suspect), Fixture.member(4, .dead)]), from: 2, now: 10)
        for tick in 1...8 {
            let now = SWIM.Millis(tick) * 1000
            guard let ping = swim.onPeriodicTick(now: now).pings.first else { continue }
            let requests = swim.onTimeout(sequence: ping.message.sequence, now: now + 300).sent
            XCTAssertTrue(requests.allSatisfy { [2, 5].contains($0.toID) && $0.toID != ping.toID }, "\(requests)")
            _ = swim.ackProbe(now: now + 400)
        }
    }

    /// §3.1: no ack, direct or relayed, by the end of the period → the target is suspect,
    /// and the suspicion is queued for dissemination.
    func testSuspectAfterNoAck() throws {
        var swim = Fixture.instance(1, knowing: others)
        let ping = try XCTUnwrap(swim.onPeriodicTick(now: 1000).pings.first)
        let target = ping.toID
        _ = swim.onTimeout(sequence: ping.message.sequence, now: 1300)
        let next = swim.onPeriodicTick(now: 2000)
        XCTAssertEqual(next.events, [.suspected(Fixture.member(target, .suspect))])
        XCTAssertEqual(swim.member(target)?.status, .suspect)
        XCTAssertTrue(swim.pendingUpdates.contains { $0.member == Fixture.member(target, .suspect) })
        XCTAssertEqual(swim.counters.probesFailed, 1)
        XCTAssertEqual(next.timeouts.count, 1, "the next period probes another member")
        XCTAssertTrue(next.pings.contains { $0.toID == target && $0.updates.first == Fixture.member(target, .suspect) },
                      "and pings the suspect besides, its suspicion first")
    }

    func testDirectAckEndsTheProbe() throws {
        var swim = Fixture.instance(1, knowing: others)
        let ping = try XCTUnwrap(swim.onPeriodicTick(now: 1000).pings.first)
        let ack = swim.receive(.ack(target: ping.toID, incarnation: 0, updates: []), from: ping.toID,
                               sequence: ping.message.sequence, now: 1100)
        XCTAssertEqual(ack, [])
        XCTAssertEqual(swim.onTimeout(sequence: ping.message.sequence, now: 1300), [], "no ping-requests after an ack")
        XCTAssertEqual(swim.onPeriodicTick(now: 2000).events, [])
    }

    /// An ack relayed by an intermediary counts like a direct one.
    func testRelayedAckEndsTheProbe() throws {
        var swim = Fixture.instance(1, knowing: others)
        let ping = try XCTUnwrap(swim.onPeriodicTick(now: 1000).pings.first)
        let request = try XCTUnwrap(swim.onTimeout(sequence: ping.message.sequence, now: 1300).sent.first)
        _ = swim.receive(.ack(target: ping.toID, incarnation: 0, updates: []), from: request.toID,
                         sequence: ping.message.sequence, now: 1500)
        XCTAssertEqual(swim.onPeriodicTick(now: 2000).events, [])
        XCTAssertEqual(swim.member(ping.toID)?.status, .alive)
    }

    /// An ack that arrives after its period ended changes nothing.
    func testLateAckIsIgnored() throws {
        var swim = Fixture.instance(1, knowing: others)
        let ping = try XCTUnwrap(swim.onPeriodicTick(now: 1000).pings.first)
        _ = swim.onPeriodicTick(now: 2000)
        _ = swim.receive(.ack(target: ping.toID, incarnation: 0, updates: []), from: ping.toID,
                         sequence: ping.message.sequence, now: 2100)
        XCTAssertEqual(swim.member(ping.toID)?.status, .suspect)
    }

    /// An ack for another target or sequence does not end the probe.
    func testMismatchedAckIsIgnored() throws {
        var swim = Fixture.instance(1, knowing: others)
        let ping = try XCTUnwrap(swim.onPeriodicTick(now: 1000).pings.first)
        let other = others.first { $0 != ping.toID }!
        _ = swim.receive(.ack(target: other, incarnation: 0, updates: []), from: other, sequence: ping.message.sequence, now: 1100)
        _ = swim.receive(.ack(target: ping.toID, incarnation: 0, updates: []), from: ping.toID,
                         sequence: ping.message.sequence + 99, now: 1100)
        XCTAssertEqual(swim.onPeriodicTick(now: 2000).events, [.suspected(Fixture.member(ping.toID, .suspect))])
    }

    /// The intermediary's side: ping the target on the origin's behalf, relay its ack with
    /// the origin's sequence, or answer with a nack when it stays silent.
    func testIntermediaryRelaysAckOrNacks() throws {
        var swim = Fixture.instance(2, knowing: [1, 3, 4])
        let request = SWIM.Message.Body.pingRequest(target: 3, targetAddress: Fixture.peer(3), updates: [])
        let first = swim.receive(request, from: 1, sequence: 77, now: 1000)
        let ping = try XCTUnwrap(first.pings.first)
        XCTAssertEqual(ping.toID, 3)
        XCTAssertEqual(first.timeouts.map(\.sequence), [ping.message.sequence])
        XCTAssertEqual(first.timeouts.map(\.delayMs), [swim.settings.probeTimeoutMs])

        let relayed = swim.receive(.ack(target: 3, incarnation: 4, updates: []), from: 3, sequence: ping.message.sequence, now: 1100)
        XCTAssertEqual(relayed.sent.map(\.to), [Fixture.peer(1)])
        XCTAssertEqual(relayed.sent.first?.message.sequence, 77)
        guard case .ack(let target, let incarnation, _) = relayed.sent.first?.message.body else {
            return XCTFail("\(relayed)")
        }
        XCTAssertEqual(target, 3)
        XCTAssertEqual(incarnation, 4)
        XCTAssertEqual(swim.onTimeout(sequence: ping.message.sequence, now: 1300), [], "answered: no nack")

        let second = swim.receive(request, from: 1, sequence: 78, now: 2000)
        let silent = try XCTUnwrap(second.pings.first)
        let nack = swim.onTimeout(sequence: silent.message.sequence, now: 2300).sent
        XCTAssertEqual(nack.map(\.to), [Fixture.peer(1)])
        XCTAssertEqual(nack.first?.message.sequence, 78)
        guard case .nack(let nackTarget, _) = nack.first?.message.body else { return XCTFail("\(nack)") }
        XCTAssertEqual(nackTarget, 3)
        XCTAssertEqual(swim.receive(.ack(target: 3, incarnation: 4, updates: []), from: 3,
                                    sequence: silent.message.sequence, now: 2400).sent, [], "too late to relay")
    }

    /// Ping-requests in flight are bounded by `membersMax`; beyond it, a nack at once.
    func testRelaysAreBounded() {
        var swim = Fixture.instance(2, knowing: [1, 3]) { $0.membersMax = 4; $0.piggybackUpdatesMax = 4; $0.indirectProbeCount = 1 }
        for sequence in 1...4 {
            let directives = swim.receive(.pingRequest(target: 3, targetAddress: Fixture.peer(3), updates: []),
                                          from: 1, sequence: SWIM.SequenceNumber(sequence), now: 1000)
            XCTAssertEqual(directives.pings.count, 1)
        }
        let refused = swim.receive(.pingRequest(target: 3, targetAddress: Fixture.peer(3), updates: []),
                                   from: 1, sequence: 5, now: 1000)
        XCTAssertEqual(refused.sent.map(\.message.name), ["nack"])
        XCTAssertEqual(swim.counters.relaysRefused, 1)
        _ = swim.onPeriodicTick(now: 2000)
        XCTAssertEqual(swim.relays.count, 0, "relays whose timeouts never came are dropped after a period")
    }

    /// Lifeguard: a nack tells the intermediary is reachable; it changes no status.
    func testNackIsCountedAndChangesNothing() throws {
        var swim = Fixture.instance(1, knowing: others)
        let ping = try XCTUnwrap(swim.onPeriodicTick(now: 1000).pings.first)
        let request = try XCTUnwrap(swim.onTimeout(sequence: ping.message.sequence, now: 1300).sent.first)
        let directives = swim.receive(.nack(target: ping.toID, updates: []), from: request.toID, sequence: ping.message.sequence, now: 1700)
        XCTAssertEqual(directives, [])
        XCTAssertEqual(swim.counters.nacksReceived, 1)
        XCTAssertEqual(swim.member(ping.toID)?.status, .alive)
        XCTAssertEqual(swim.member(request.toID)?.status, .alive)
    }

    /// A ping is answered with an ack to its source, with the same sequence and this
    /// node's incarnation.
    func testPingIsAnsweredWithAck() {
        var swim = Fixture.instance(3, knowing: [1, 2])
        let directives = swim.receive(.ping(updates: []), from: 1, sequence: 5, now: 10)
        XCTAssertEqual(directives.sent.map(\.to), [Fixture.peer(1)])
        XCTAssertEqual(directives.sent.first?.message,
                       SWIM.Message(from: 3, sequence: 5, body: .ack(target: 3, incarnation: 0, updates: [])))
    }

    /// Dead members are not in the round; one of them is pinged every
    /// `deadProbeIntervalMs`, and its ack (after refuting) brings it back.
    func testDeadMembersArePingedRarelyAndCanComeBack() throws {
        var swim = Fixture.instance(1, knowing: [2, 3, 4]) { $0.deadProbeIntervalMs = 3000 }
        _ = swim.receive(.ping(updates: [Fixture.member(4, .dead)]), from: 2, now: 10)
        var deadPings: [(SWIM.Millis, Sent)] = []
        for tick in 1...7 {
            let now = SWIM.Millis(tick) * 1000
            let directives = swim.onPeriodicTick(now: now)
            XCTAssertEqual(directives.timeouts.count, 1, "only the round's probe has a timeout")
            for ping in directives.pings where ping.toID == 4 { deadPings.append((now, ping)) }
            _ = swim.ackProbe(now: now + 10)
        }
        XCTAssertEqual(deadPings.map(\.0), [1000, 4000, 7000])
        let ping = try XCTUnwrap(deadPings.last?.1)
        XCTAssertEqual(ping.updates.first, Fixture.member(4, .dead), "the dead member hears of its death first")
        let back = swim.receive(.ack(target: 4, incarnation: 1, updates: [Fixture.member(4, incarnation: 1)]), from: 4,
                                sequence: ping.message.sequence, now: 7100)
        XCTAssertEqual(back.events, [.joined(Fixture.member(4, incarnation: 1))])
    }
}
