import XCTest

@testable import Gossip

/// Piggybacked dissemination (SWIM §4.1): bounded per message, bounded per update,
/// least-sent and most recent first.
final class DisseminationTests: XCTestCase {
    /// Every message carries at most `piggybackUpdatesMax` updates; every update is
    /// piggybacked exactly λ·⌈log₂(n + 1)⌉ times, then dropped.
    func testPiggybackingIsBoundedPerMessageAndPerUpdate() {
        var swim = Fixture.instance(1, knowing: Array(2...20)) {
            $0.piggybackUpdatesMax = 4
            $0.disseminationMultiplier = 2
        }
        let newcomers = (21...30).map { Fixture.member(SWIM.NodeID($0)) }
        let joined = swim.receive(.ping(updates: newcomers), from: 2, now: 10)
        XCTAssertEqual(joined.events, newcomers.map { .joined($0) })
        XCTAssertEqual(joined.sent.first?.updates.count, 4, "the ack is bounded too")
        let limit = swim.disseminationLimit
        XCTAssertEqual(limit, 2 * 5, "n = 30 live members")

        var sends: [SWIM.Member: Int] = [:]
        for update in joined.sent.flatMap(\.updates) { sends[update, default: 0] += 1 }
        var now: SWIM.Millis = 0
        while !swim.pendingUpdates.isEmpty, now < 1_000_000 {
            now += 1000
            let directives = swim.onPeriodicTick(now: now) + swim.receive(.ping(updates: []), from: 3, now: now + 1)
            for sent in directives.sent {
                XCTAssertLessThanOrEqual(sent.updates.count, 4)
                for update in sent.updates { sends[update, default: 0] += 1 }
            }
            _ = swim.ackProbe(now: now + 10)
        }
        XCTAssertTrue(swim.pendingUpdates.isEmpty, "the buffer drains")
        XCTAssertEqual(Set(sends.keys), Set(newcomers))
        XCTAssertTrue(sends.values.allSatisfy { $0 == limit }, "\(sends)")
    }

    /// Least-sent first; among equally sent, the most recent first.
    func testLeastSentThenMostRecentFirst() {
        var buffer = DisseminationBuffer()
        for id in [4, 5, 6] as [SWIM.NodeID] { buffer.enqueue(Fixture.member(id)) }
        XCTAssertEqual(buffer.take(max: 2, limit: 10, skipping: nil).map(\.id), [6, 5], "all unsent: the most recent first")
        XCTAssertEqual(buffer.take(max: 2, limit: 10, skipping: nil).map(\.id), [4, 6], "4 was never sent")
        XCTAssertEqual(buffer.take(max: 2, limit: 10, skipping: nil).map(\.id), [5, 4])
        XCTAssertEqual(buffer.take(max: 3, limit: 3, skipping: 5).map(\.id), [6, 4], "skipping the recipient")
        XCTAssertEqual(buffer.entries.keys.sorted(), [5], "6 and 4 reached the limit of 3 and were dropped")
    }

    /// Through an instance: the acks carry the newest updates first.
    func testAcksCarryTheNewestUpdatesFirst() {
        var swim = Fixture.instance(1, knowing: [2, 3]) { $0.piggybackUpdatesMax = 2 }
        _ = swim.receive(.ping(updates: [Fixture.member(4), Fixture.member(5), Fixture.member(6)]), from: 3, now: 10)
        let ack = swim.receive(.ping(updates: []), from: 2, now: 20).sent.first!
        XCTAssertEqual(ack.updates.map(\.id), [4, 6], "6 and 5 went in the first ack; now 4 (unsent), then 6 (more recent than 5)")
        XCTAssertEqual(swim.pendingUpdates.map(\.sends), [1, 1, 2])
    }

    /// A newer record about a member replaces the older one in the buffer and starts
    /// counting afresh; the buffer holds one update per member.
    func testNewerUpdateReplacesOlder() {
        var swim = Fixture.instance(1, knowing: [2, 3])
        _ = swim.receive(.ping(updates: [Fixture.member(3, .suspect)]), from: 2, now: 10)
        _ = swim.receive(.ping(updates: [Fixture.member(3, incarnation: 1)]), from: 2, now: 20)
        XCTAssertEqual(swim.pendingUpdates.map(\.member), [Fixture.member(3, incarnation: 1)])
        XCTAssertEqual(swim.pendingUpdates.map(\.sends), [1], "counted afresh: only the ack to the second ping sent it")
    }

    /// Updates that change nothing are not disseminated again, so the epidemic dies out;
    /// but stale news is answered: the newer record is disseminated afresh, first in the
    /// ack to whoever sent the stale one.
    func testOldNewsIsAnsweredWithTheNewer() {
        var swim = Fixture.instance(1, knowing: [2, 3])
        _ = swim.receive(.ping(updates: [Fixture.member(3), Fixture.member(2, .suspect, incarnation: 0)]), from: 3, now: 10)
        XCTAssertEqual(swim.pendingUpdates.map(\.member), [Fixture.member(2, .suspect)], "alive(3) changed nothing")
        var now: SWIM.Millis = 0
        while !swim.pendingUpdates.isEmpty {
            now += 100
            _ = swim.receive(.ping(updates: []), from: 3, now: now)
        }
        let ack = swim.receive(.ping(updates: [Fixture.member(2, .alive, incarnation: 0)]), from: 3, now: now + 100)
        XCTAssertEqual(swim.member(2)?.status, .suspect)
        XCTAssertEqual(ack.sent.first?.updates, [Fixture.member(2, .suspect)], "the sender hears the newer record at once")
    }

    /// The table (and so the buffer) holds at most `membersMax`, tombstones evicted first,
    /// the oldest of them first.
    func testMembershipIsBounded() {
        var swim = Fixture.instance(1, knowing: [2, 3]) { $0.membersMax = 5; $0.piggybackUpdatesMax = 4 }
        _ = swim.receive(.ping(updates: [Fixture.member(4, .dead), Fixture.member(5, .left)]), from: 2, now: 10)
        XCTAssertEqual(swim.members.map(\.id), [2, 3, 4, 5])
        let joined = swim.receive(.ping(updates: [Fixture.member(6)]), from: 2, now: 20)
        XCTAssertEqual(joined.events, [.joined(Fixture.member(6))])
        XCTAssertEqual(swim.members.map(\.id), [2, 3, 5, 6], "the oldest tombstone went")
        _ = swim.receive(.ping(updates: [Fixture.member(7), Fixture.member(8)]), from: 2, now: 30)
        XCTAssertEqual(swim.members.map(\.id), [2, 3, 6, 7], "then the next; then no room")
        XCTAssertEqual(swim.counters.membersRejected, 1)
        XCTAssertLessThanOrEqual(swim.pendingUpdates.count, 4)
    }
}
