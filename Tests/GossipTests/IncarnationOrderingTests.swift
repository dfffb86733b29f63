import XCTest

@testable import Gossip

/// The incarnation rules (SWIM §4.2), as a table: what replaces what, and which event the
/// instance reports for it.
final class IncarnationOrderingTests: XCTestCase {
    typealias Row = (held: SWIM.Status, heldAt: SWIM.Incarnation, heard: SWIM.Status, heardAt: SWIM.Incarnation, replaces: Bool)

    let table: [Row] = [
        // alive(i) overrides alive(j) and suspect(j) iff i > j.
        (.alive, 1, .alive, 0, false), (.alive, 1, .alive, 1, false), (.alive, 1, .alive, 2, true),
        (.suspect, 1, .alive, 0, false), (.suspect, 1, .alive, 1, false), (.suspect, 1, .alive, 2, true),
        // suspect(i) overrides alive(j) iff i >= j, and suspect(j) iff i > j.
        (.alive, 1, .suspect, 0, false), (.alive, 1, .suspect, 1, true), (.alive, 1, .suspect, 2, true),
        (.suspect, 1, .suspect, 0, false), (.suspect, 1, .suspect, 1, false), (.suspect, 1, .suspect, 2, true),
        // dead(i) overrides alive(j) and suspect(j) iff i >= j (an older death is stale:
        // the node refuted since).
        (.alive, 1, .dead, 0, false), (.alive, 1, .dead, 1, true), (.alive, 1, .dead, 2, true),
        (.suspect, 1, .dead, 0, false), (.suspect, 1, .dead, 1, true), (.suspect, 1, .dead, 2, true),
        // left(i) overrides alive, suspect and dead at j <= i.
        (.alive, 1, .left, 0, false), (.alive, 1, .left, 1, true), (.alive, 1, .left, 2, true),
        (.suspect, 1, .left, 1, true), (.dead, 1, .left, 0, false), (.dead, 1, .left, 1, true),
        // Tombstones are final for their life: only a higher incarnation (a new life) passes.
        (.dead, 1, .alive, 1, false), (.dead, 1, .suspect, 1, false), (.dead, 1, .dead, 1, false),
        (.dead, 1, .alive, 2, true), (.dead, 1, .suspect, 2, true), (.dead, 1, .dead, 2, true),
        (.left, 1, .alive, 1, false), (.left, 1, .suspect, 1, false), (.left, 1, .dead, 1, false),
        (.left, 1, .left, 1, false), (.left, 1, .alive, 2, true), (.left, 1, .left, 2, true),
    ]

    func testSupersedesTable() {
        for row in table {
            let held = Fixture.member(7, row.held, incarnation: row.heldAt)
            let heard = Fixture.member(7, row.heard, incarnation: row.heardAt)
            XCTAssertEqual(heard.supersedes(held), row.replaces, "\(heard) over \(held)")
        }
    }

    /// The rule is a total order: of two different records, exactly one supersedes the
    /// other, so every instance converges to the same record whatever the arrival order.
    func testOrderIsTotal() {
        let statuses: [SWIM.Status] = [.alive, .suspect, .dead, .left]
        let records = statuses.flatMap { status in (0...3).map { Fixture.member(7, status, incarnation: $0) } }
        for a in records {
            for b in records where a != b {
                XCTAssertNotEqual(a.supersedes(b), b.supersedes(a), "\(a) vs \(b)")
            }
        }
    }

    /// Applied through an instance, each replacement reports the matching event.
    func testEventsForEachTransition() {
        let expected: [(SWIM.Status, SWIM.Status, (SWIM.Member) -> SWIM.MembershipEvent?)] = [
            (.alive, .suspect, { .suspected($0) }),
            (.alive, .dead, { .confirmedDead($0) }),
            (.alive, .left, { .left($0) }),
            (.suspect, .alive, { .aliveAgain($0) }),
            (.suspect, .dead, { .confirmedDead($0) }),
            (.suspect, .left, { .left($0) }),
            (.dead, .alive, { .joined($0) }),
            (.dead, .left, { .left($0) }),
            (.left, .alive, { .joined($0) }),
            (.alive, .alive, { _ in nil }),
            (.left, .dead, { _ in nil }),
        ]
        for (from, to, event) in expected {
            var swim = Fixture.instance(1, knowing: [2])
            _ = swim.receive(.ping(updates: [Fixture.member(7, from, incarnation: 1)]), from: 2, now: 10)
            let heard = Fixture.member(7, to, incarnation: 2)
            let directives = swim.receive(.ping(updates: [heard]), from: 2, now: 20)
            XCTAssertEqual(directives.events, event(heard).map { [$0] } ?? [], "\(from) → \(to)")
            XCTAssertEqual(swim.member(7), heard)
        }
    }

    /// Whatever order the same records arrive in, two instances end up agreeing.
    func testConvergesWhateverTheArrivalOrder() {
        var random = SeededGenerator(seed: 5)
        let statuses: [SWIM.Status] = [.alive, .suspect, .dead, .left]
        for _ in 0..<200 {
            let records = (0..<6).map { _ in
                Fixture.member(7, statuses[random.below(4)], incarnation: SWIM.Incarnation(random.below(3)))
            }
            var shuffled = records
            random.shuffle(&shuffled)
            var a = Fixture.instance(1, knowing: [2])
            var b = Fixture.instance(1, knowing: [2])
            _ = a.receive(.ping(updates: records), from: 2, now: 10)
            _ = b.receive(.ping(updates: shuffled), from: 2, now: 10)
            XCTAssertEqual(a.member(7), b.member(7), "\(records) vs \(shuffled)")
        }
    }
}
