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
        checker.observeApplied(1, entry: Entry(term: 2, index: 5, data: [1]))
        checker.observeApplied(2, entry: Entry(term: 2, index: 5, data: [1]))
        XCTAssertTrue(checker.violations.isEmpty)
        checker.observeApplied(3, entry: Entry(term: 3, index: 5, data: [2]))
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
        checker.observeApplied(1, entry: Entry(term: 1, index: 1, kind: .membershipChange, data: Membership(voters: [1, 2, 3]).encoded()))
        checker.observeApplied(1, entry: Entry(term: 2, index: 2, data: [1]))
        checker.observeLeader(3, core: leader(3, term: 5))
        XCTAssertEqual(checker.violations.map(\.property), ["leader completeness"])
    }

    func testACommitIndexGoingBackViolatesTheCommittedPrefix() {
        var checker = SafetyChecker()
        checker.observeCommit(1, commit: 9)
        checker.observeCommit(1, commit: 8)
        XCTAssertEqual(checker.violations.map(\.property), ["committed prefix"])
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
