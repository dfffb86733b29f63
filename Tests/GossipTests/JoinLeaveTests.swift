import XCTest

@testable import Gossip

final class JoinLeaveTests: XCTestCase {
    /// A member answers a join request with every member it knows (itself first) and
    /// disseminates the newcomer.
    func testJoinRequestIsAnsweredWithMembershipAndDisseminated() throws {
        var swim = Fixture.instance(1, knowing: [2, 3])
        _ = swim.receive(.ping(updates: [Fixture.member(5, .dead)]), from: 2, now: 5)
        let directives = swim.receive(.join(Fixture.member(4)), from: 4, sequence: 31, now: 10)
        XCTAssertEqual(directives.events, [.joined(Fixture.member(4))])
        let reply = try XCTUnwrap(directives.sent.first)
        XCTAssertEqual(reply.to, Fixture.peer(4))
        XCTAssertEqual(reply.message.sequence, 31)
        XCTAssertEqual(reply.message.body, .joinReply(members: [1, 2, 3, 4].map { Fixture.member($0) } + [Fixture.member(5, .dead)]),
                       "itself, the live, then the tombstones")
        XCTAssertTrue(swim.pendingUpdates.contains { $0.member == Fixture.member(4) })
        let again = swim.receive(.join(Fixture.member(4)), from: 4, sequence: 32, now: 20)
        XCTAssertEqual(again.events, [], "a repeated request is answered again, with no new event")
        XCTAssertEqual(again.sent.count, 1)
    }

    /// A join request whose record is not its sender's, or not alive, is ignored.
    func testMalformedJoinIsIgnored() {
        var swim = Fixture.instance(1, knowing: [2])
        XCTAssertEqual(swim.receive(.join(Fixture.member(4)), from: 5, now: 10), [])
        XCTAssertEqual(swim.receive(.join(Fixture.member(4, .suspect)), from: 4, now: 10), [])
        XCTAssertEqual(swim.receive(.join(Fixture.member(1)), from: 1, now: 10), [], "from itself")
    }

    /// The joiner asks the seeds in turn, once a period, until a reply arrives; after a
    /// round without one it waits a period longer. Then it knows everyone and starts probing.
    func testJoinerRetriesUntilReplyThenProbes() throws {
        var swim = try SWIMInstance(settings: Fixture.settings(), id: 9, addresses: Fixture.addresses(9))
        let first = swim.join(seeds: [Fixture.peer(1), Fixture.peer(9), Fixture.peer(2)], now: 0)
        XCTAssertFalse(swim.isJoined)
        XCTAssertEqual(first.sent.map(\.to), [Fixture.peer(1)])
        XCTAssertEqual(first.sent.first?.message.body, .join(Fixture.member(9)))
        XCTAssertEqual(swim.onPeriodicTick(now: 1000).sent.map(\.to), [Fixture.peer(2)], "its own address is skipped")
        XCTAssertEqual(swim.onPeriodicTick(now: 2000).sent, [], "a round went unanswered: two periods to the next")
        XCTAssertEqual(swim.onPeriodicTick(now: 3000).sent.map(\.to), [Fixture.peer(1)])

        let members = [1, 2, 3].map { Fixture.member($0) } + [Fixture.member(9)]
        let reply = swim.receive(.joinReply(members: members), from: 1, now: 3100)
        XCTAssertTrue(swim.isJoined)
        XCTAssertEqual(reply.events, [1, 2, 3].map { .joined(Fixture.member($0)) })
        let probing = swim.onPeriodicTick(now: 4000)
        XCTAssertEqual(probing.sent.map(\.message.name), ["ping"])
    }

    /// Unanswered rounds double the wait between join requests, up to
    /// `joinRetryIntervalMaxMs`; joining again starts over at one period.
    func testJoinRequestsBackOffUpToTheLimit() throws {
        let settings = Fixture.settings { $0.joinRetryIntervalMaxMs = 5000 }
        var swim = try SWIMInstance(settings: settings, id: 9, addresses: Fixture.addresses(9))
        var requestTicks: [Int] = []
        if !swim.join(seeds: [Fixture.peer(1)], now: 0).sent.isEmpty { requestTicks.append(0) }
        for tick in 1...25 where !swim.onPeriodicTick(now: SWIM.Millis(tick) * 1000).sent.isEmpty {
            requestTicks.append(tick)
        }
        XCTAssertEqual(requestTicks, [0, 2, 6, 11, 16, 21], "waits of 2, 4, then 5 periods")

        XCTAssertEqual(swim.join(seeds: [Fixture.peer(1)], now: 26_000).sent.count, 1)
        XCTAssertEqual(swim.onPeriodicTick(now: 27_000).sent, [])
        XCTAssertEqual(swim.onPeriodicTick(now: 28_000).sent.count, 1, "back to a wait of two periods")
    }

    /// A node restarted with incarnation 0 learns its previous life from the join reply and
    /// moves past it, so that its peers take the new life.
    func testRestartedNodeMovesPastItsPreviousLife() throws {
        var swim = try SWIMInstance(settings: Fixture.settings(), id: 9, addresses: Fixture.addresses(9))
        _ = swim.join(seeds: [Fixture.peer(1)], now: 0)
        _ = swim.receive(.joinReply(members: [Fixture.member(1), Fixture.member(9, .dead, incarnation: 4)]), from: 1, now: 100)
        XCTAssertEqual(swim.myself, Fixture.member(9, incarnation: 5))
        var seed = Fixture.instance(1, knowing: [])
        _ = seed.receive(.ping(updates: [Fixture.member(9, .dead, incarnation: 4)]), from: 2, now: 50)
        let back = seed.onMessage(swim.onPeriodicTick(now: 1000).pings.first!.message, from: Fixture.peer(9), now: 1010)
        XCTAssertEqual(back.events, [.joined(Fixture.member(9, incarnation: 5))], "a new life")
    }

    /// Leaving: tell `leaveFanout` members, stop probing, answer pings with the left
    /// record, ignore everything else.
    func testLeaveAnnouncesAndStops() {
        var swim = Fixture.instance(1, knowing: Array(2...6)) { $0.leaveFanout = 3 }
        let directives = swim.leave(now: 100)
        XCTAssertTrue(swim.hasLeft)
        XCTAssertEqual(directives.sent.count, 3)
        XCTAssertEqual(Set(directives.sent.map(\.toID)).count, 3)
        XCTAssertTrue(directives.sent.allSatisfy { $0.message.body == .leave(Fixture.member(1, .left)) })
        XCTAssertEqual(swim.onPeriodicTick(now: 1000), [])
        XCTAssertEqual(swim.leave(now: 1100), [])
        let ack = swim.receive(.ping(updates: [Fixture.member(1, .suspect)]), from: 2, sequence: 8, now: 1200)
        XCTAssertEqual(ack.sent.first?.message.body, .ack(target: 1, incarnation: 0, updates: [Fixture.member(1, .left)]))
        XCTAssertEqual(swim.myself, Fixture.member(1, .left), "a leaving node refutes nothing")
        XCTAssertEqual(swim.receive(.join(Fixture.member(7)), from: 7, now: 1300), [])
    }

    /// Members mark a leaver left: final for its life, never dead; only a new life (a
    /// higher incarnation, from the node itself) brings it back.
    func testLeftIsFinalAndNotDeath() {
        var swim = Fixture.instance(2, knowing: [1, 3])
        let left = swim.receive(.leave(Fixture.member(1, .left)), from: 1, now: 10)
        XCTAssertEqual(left.events, [.left(Fixture.member(1, .left))])
        XCTAssertTrue(swim.pendingUpdates.contains { $0.member == Fixture.member(1, .left) })
        for status in [SWIM.Status.alive, .suspect, .dead] {
            let stale = swim.receive(.ping(updates: [Fixture.member(1, status)]), from: 3, now: 20)
            XCTAssertEqual(stale.events, [], "\(status)")
        }
        var now: SWIM.Millis = 0
        for _ in 0..<20 {
            now += 1000
            XCTAssertFalse(swim.onPeriodicTick(now: now).sent.contains { $0.toID == 1 }, "a member that left is never probed")
            _ = swim.ackProbe(now: now + 10)
        }
        XCTAssertEqual(swim.member(1), Fixture.member(1, .left))
        let rejoined = swim.receive(.ping(updates: [Fixture.member(1, incarnation: 1)]), from: 3, now: now + 100)
        XCTAssertEqual(rejoined.events, [.joined(Fixture.member(1, incarnation: 1))])
    }

    /// A leave announcement must come from the member itself, with status left.
    func testMalformedLeaveIsIgnored() {
        var swim = Fixture.instance(2, knowing: [1, 3])
        XCTAssertEqual(swim.receive(.leave(Fixture.member(1, .left)), from: 3, now: 10), [])
        XCTAssertEqual(swim.receive(.leave(Fixture.member(1, .dead)), from: 1, now: 10), [])
        XCTAssertEqual(swim.member(1), Fixture.member(1))
    }
}
