import XCTest

@testable import RaftSimulation
@testable import Raft

/// The checker must be able to fail: each test feeds it a history that breaks one property.
final class SafetyCheckerTests: XCTestCase {
    private func leader(_ id: NodeID, term: Term) -> RaftNode {
        var state = RaftNode.RecoveredState(hardState: HardState(term: term, vote: id, commit: 0), snapshot: nil, entries: [])
        state.entries = [Entry(term: 1, index: 1, kind: .membershipChange, data: Membership(voters: [1, 2, 3]).encoded())]
        return try! RaftNode(config: Config(id: id, randomSeed: 1), recovered: state)
    }

    func testTwoLeadersInOneTermViolateElectionSafety() {
        var checker = SafetyChecker()
        checker.observeLeader(1, core: leader(1, term: 4))
        XCTAssertTrue(checker.violations.isEmpty)
        checker.observeLeader(2, core: leader(2, term: 4))
        XCTAssertEqual(checker.violations.map(\.property), ["election safety"])
    }

    func testDifferentEntriesAppliedAtOneIndexViolateStateMachineSafety() {
        var checker = SafetyChecker()
        checker.observeApplied(1, entry: Entry(term: 2, index: 5, data: [1]), nodeTerm: 2)
        checker.observeApplied(2, entry: Entry(term: 2, index: 5, data: [1]), nodeTerm: 2)
        XCTAssertTrue(checker.violations.isEmpty)
        checker.observeApplied(3, entry: Entry(term: 3, index: 5, data: [2]), nodeTerm: 3)
        XCTAssertEqual(checker.violations.map(\.property), ["state machine safety"])
    }

    func testSameIndexAndTermWithOtherDataViolatesLogMatching() {
        var checker = SafetyChecker()
        checker.observePersisted(1, entries: [Entry(term: 2, index: 7, data: [1])], termBefore: 2)
        checker.observePersisted(2, entries: [Entry(term: 2, index: 7, data: [9])], termBefore: 2)
        XCTAssertEqual(checker.violations.map(\.property), ["log matching"])
    }

    func testALeaderMissingACommittedEntryViolatesLeaderCompleteness() {
        var checker = SafetyChecker()
        checker.observeApplied(1, entry: Entry(term: 1, index: 1, kind: .membershipChange, data: Membership(voters: [1, 2, 3]).encoded()), nodeTerm: 2)
        checker.observeApplied(1, entry: Entry(term: 2, index: 2, data: [1]), nodeTerm: 2)
        checker.observeLeader(3, core: leader(3, term: 5))
        XCTAssertEqual(checker.violations.map(\.property), ["leader completeness"])
    }

    /// A leader of term 4 whose election ended before a leader of term 5 committed an entry
    /// need not hold it (a vote for it was still on its way): that is no violation.
    func testALeaderOfAnEarlierTermMayLackWhatALaterLeaderCommitted() {
        var checker = SafetyChecker()
        checker.observeApplied(1, entry: Entry(term: 1, index: 1, kind: .membershipChange, data: Membership(voters: [1, 2, 3]).encoded()), nodeTerm: 5)
        checker.observeApplied(1, entry: Entry(term: 3, index: 2, data: [1]), nodeTerm: 5)
        checker.observeLeader(3, core: leader(3, term: 4))
        XCTAssertEqual(checker.violations.map(\.property), [])
        checker.observeLeader(2, core: leader(2, term: 6))
        XCTAssertEqual(checker.violations.map(\.property), ["leader completeness"], "a later leader must hold it")
    }

    func testACommitIndexGoingBackViolatesTheCommittedPrefix() {
        var checker = SafetyChecker()
        checker.observeCommit(1, commit: 9, persisted: 9)
        checker.observeCommit(1, commit: 8, persisted: 9)
        XCTAssertEqual(checker.violations.map(\.property), ["committed prefix"])
    }

    func testRewritingTheDurableCommittedPrefixViolatesIt() {
        var checker = SafetyChecker()
        checker.observePersisted(1, entries: (1...4).map { Entry(term: 2, index: $0, data: [UInt8($0)]) }, termBefore: 0)
        checker.observeCommit(1, commit: 4, persisted: 4)
        checker.observePersisted(1, entries: [Entry(term: 5, index: 3, data: [9])], termBefore: 2)
        XCTAssertEqual(checker.violations.map(\.property), ["committed prefix"])
    }

    /// A follower that replaced a stale suffix in memory may take a commit index covering the
    /// new entries before it has written them; writing them then rewrites nothing committed.
    func testWritingEntriesCommittedBeforeTheyWereDurableIsNoRewrite() {
        var checker = SafetyChecker()
        checker.observePersisted(1, entries: (1...4).map { Entry(term: 2, index: $0, data: [UInt8($0)]) }, termBefore: 0)
        checker.observeCommit(1, commit: 4, persisted: 2)
        checker.observePersisted(1, entries: [Entry(term: 5, index: 3, data: [9]), Entry(term: 5, index: 4, data: [8])], termBefore: 2)
        XCTAssertEqual(checker.violations.map(\.property), [])
    }

    func testAnAcknowledgedValueMissingOnOneNodeIsReportedLost() {
        var checker = SafetyChecker()
        checker.checkAcknowledged([42: 7], appliedByNode: [1: [42: [7]], 2: [:]])
        XCTAssertEqual(checker.violations.map(\.property), ["acknowledged proposal lost"])
    }

    func testAnAcknowledgedValueAppliedTwiceIsReported() {
        var checker = SafetyChecker()
        checker.checkAcknowledged([42: 7], appliedByNode: [1: [42: [7, 9]]])
        XCTAssertEqual(checker.violations.map(\.property), ["acknowledged proposal lost"])
    }

    func testAStaleReadIsReported() {
        var checker = SafetyChecker()
        checker.observeRead(1, index: 10, acknowledgedBeforeRequest: 12)
        XCTAssertEqual(checker.violations.map(\.property), ["linearizable read"])
    }
}
