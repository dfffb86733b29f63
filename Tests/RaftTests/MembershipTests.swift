import XCTest

@testable import Raft

/// Membership changes one node at a time (Raft thesis §4.1-§4.3): learners, promotion,
/// removal, and the removed leader handing over.
final class MembershipTests: XCTestCase {
    /// A group of 1, 2, 3 led by 1, with node 4 added as a learner and caught up.
    private func groupWithLearner() throws -> TestNetwork {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        try net[1].propose([bytes("before 4")])
        net.stabilize()
        net.join(4)
        try net[1].proposeMembershipChange(.addLearner(4))
        net.stabilize()
        // The leader starts replicating to the learner with its next heartbeat.
        net.tick([1], times: 2)
        return net
    }

    /// Thesis §4.1: a new server starts empty and learns the configuration from the log.
    func testNodeJoiningWithEmptyStateLearnsMembershipFromLog() throws {
        let net = try groupWithLearner()
        XCTAssertEqual(net[1].membership, Membership(voters: [1, 2, 3], learners: [4]))
        XCTAssertEqual(net[4].membership, Membership(voters: [1, 2, 3], learners: [4]))
        XCTAssertEqual(net[4].lastIndex, net[1].lastIndex)
        XCTAssertEqual(net[4].entry(at: 1), net[1].entry(at: 1), "from the founding entry on")
        XCTAssertEqual(net.applied[4], [bytes("before 4")])
        XCTAssertFalse(net[4].isVoter)
        XCTAssertEqual(net[4].leader, 1)
    }

    /// Thesis §4.2.1 (non-voting members): a learner gets the log but neither campaigns nor
    /// counts toward commitment.
    func testLearnerNeitherVotesNorCountsForCommit() throws {
        let net = try groupWithLearner()
        let term = net[1].term
        net.clearHistory()
        net.tick([4], times: 60)
        XCTAssertEqual(net[4].role, .follower)
        XCTAssertEqual(net[4].term, term)
        XCTAssertTrue(net.sent(where: { $0.from == 4 && ["PreVote", "Vote"].contains($0.body.name) }).isEmpty)

        net.isolate(2)
        net.isolate(3)
        let commit = net[1].commitIndex
        let index = try net[1].propose([bytes("needs a voter")]).indexes.upperBound
        net.stabilize()
        XCTAssertEqual(net[1].matchIndex(of: 4), index, "the learner holds it durably")
        XCTAssertEqual(net[1].commitIndex, commit, "leader + learner are not a quorum of {1, 2, 3}")
        net.heal()
        net.tick([1], times: 2)
        XCTAssertEqual(net[1].commitIndex, index)
    }

    /// etcd / thesis §4.2.1: a learner is promoted only once it holds everything committed.
    func testPromotionIsRefusedWhileLearnerLagsAndAcceptedOnceCaughtUp() throws {
        let net = try groupWithLearner()
        net.isolate(4)
        let match = try XCTUnwrap(net[1].matchIndex(of: 4))
        try net[1].propose([bytes("x")])
        net.stabilize()
        let commit = net[1].commitIndex
        XCTAssertGreaterThan(commit, match)
        assertThrows(ProposalError.learnerNotCaughtUp(match: match, commit: commit),
                     try net[1].proposeMembershipChange(.promoteLearner(4)))

        net.heal()
        net.tick([1], until: { net[1].matchIndex(of: 4) == net[1].commitIndex }, timesMax: 5)
        try net[1].proposeMembershipChange(.promoteLearner(4))
        net.stabilize()
        XCTAssertEqual(net[1].membership, Membership(voters: [1, 2, 3, 4]))
        XCTAssertTrue(net[4].isVoter)

        // Node 4 now counts: with 2 and 3 cut off, 1 and 4 are 2 of 4 voters, not a quorum;
        // with only 3 cut off, 1, 2 and 4 are.
        net.isolate(2)
        net.isolate(3)
        let before = net[1].commitIndex
        let index = try net[1].propose([bytes("y")]).indexes.upperBound
        net.stabilize()
        XCTAssertEqual(net[1].commitIndex, before)
        net.heal()
        net.isolate(3)
        net.tick([1], times: 2)
        XCTAssertEqual(net[1].commitIndex, index)
    }

    /// Thesis §4.1: one change at a time; the next is refused until the previous is applied.
    func testSecondMembershipChangeIsRefusedWhileOneIsPending() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        net.join(4)
        net.join(5)
        let pending = try net[1].proposeMembershipChange(.addLearner(4))
        assertThrows(ProposalError.membershipChangePending(index: pending), try net[1].proposeMembershipChange(.addLearner(5)))
        net.stabilize()
        try net[1].proposeMembershipChange(.addLearner(5))
        net.stabilize()
        net.tick([1], times: 2)
        XCTAssertEqual(net[1].membership.learners, [4, 5])
        XCTAssertEqual(net[5].membership.learners, [4, 5])
    }

    /// Changes that do not apply to the current membership are refused.
    func testInvalidMembershipChangesAreRefused() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        let last = net[1].lastIndex
        for change: MembershipChange in [.addLearner(2), .addLearner(0), .promoteLearner(2), .promoteLearner(9), .removeNode(9)] {
            do {
                try net[1].proposeMembershipChange(change)
                XCTFail("\(change) accepted")
            } catch {
                guard case .invalidMembershipChange = error else { return XCTFail("\(change): \(error)") }
            }
        }
        XCTAssertEqual(net[1].lastIndex, last)
    }

    /// A removed follower gets nothing more, no longer counts, and never campaigns.
    func testNewestMembershipShowsAChangeBeforeItIsApplied() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        try net[1].proposeMembershipChange(.removeNode(3))
        XCTAssertEqual(net[1].membership, Membership(voters: [1, 2, 3]), "not applied yet")
        XCTAssertEqual(net[1].newestMembership, Membership(voters: [1, 2]))
        net.stabilize()
        XCTAssertEqual(net[1].newestMembership, net[1].membership)
    }

    func testRemovedFollowerLeavesTheGroup() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        let term = net[1].term
        try net[1].proposeMembershipChange(.removeNode(3))
        net.stabilize()
        XCTAssertEqual(net[1].membership, Membership(voters: [1, 2]))
        XCTAssertNil(net[1].matchIndex(of: 3))
        XCTAssertFalse(net[3].isVoter, "node 3 applied its own removal")

        net.clearHistory()
        let index = try net[1].propose([bytes("after removal")]).indexes.upperBound
        net.stabilize()
        XCTAssertTrue(net.sent(where: { $0.to == 3 }).isEmpty)
        XCTAssertEqual(net[1].commitIndex, index)
        XCTAssertEqual(net.applied[2], [bytes("after removal")])

        net.tick([3], times: 60)
        XCTAssertEqual(net[3].role, .follower)
        XCTAssertEqual(net[3].term, term)
        XCTAssertEqual(net.leaders, [1])
    }

    /// Thesis §4.2.2: a leader removed from the group steps down once the change is
    /// committed, and here hands over with TimeoutNow so no one waits for a timeout.
    func testRemovedLeaderStepsDownAndHandsOverWithTimeoutNow() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        let term = net[1].term
        net.clearHistory()
        try net[1].proposeMembershipChange(.removeNode(1))
        net.stabilize()
        XCTAssertEqual(net[1].role, .follower)
        XCTAssertFalse(net[1].isVoter)
        XCTAssertEqual(net.sent(where: { $0.from == 1 && $0.body == .timeoutNow }).count, 1)
        XCTAssertEqual(net.leaders.count, 1, "a successor without a single tick")
        let successor = try XCTUnwrap(net.leaders.first)
        XCTAssertTrue([2, 3].contains(successor))
        XCTAssertEqual(net[successor].term, term + 1)
        XCTAssertEqual(net[successor].membership, Membership(voters: [2, 3]))

        try net[successor].propose([bytes("x")])
        net.stabilize()
        XCTAssertEqual(net.applied[2], [bytes("x")])
        XCTAssertEqual(net.applied[3], [bytes("x")])
    }
}

/// Elections while a membership change is being applied.
extension MembershipTests {
    /// §5.2 Election Safety across a membership change: a candidate counts only the votes of
    /// the voters of its current membership. Node 1 campaigns while still applying a backlog
    /// that ends with the removal of node 4, and gets node 4's vote; node 2, which already
    /// applied the removal, wins the same term with node 3. Once node 1 applies the removal,
    /// its own vote and node 4's must not make it a second leader of that term.
    func testCandidateDoesNotCountVotesOfNodeRemovedDuringItsElection() {
        let before = Membership(voters: [1, 2, 3, 4])
        let after = Membership(voters: [1, 2, 3])
        var backlog = (2...10).map { Entry(term: 2, index: LogIndex($0), data: bytes("\($0)@2")) }
        backlog.append(Entry(term: 2, index: 11, kind: .membershipChange, data: after.encoded()))
        let applyingBacklog = TestNetwork.Disk(
            hardState: HardState(term: 2, commit: 11),
            snapshot: Snapshot(metadata: SnapshotMetadata(index: 1, term: 1, membership: before), data: []),
            entries: backlog)
        let appliedBacklog = TestNetwork.Disk(
            hardState: HardState(term: 2, commit: 11),
            snapshot: Snapshot(metadata: SnapshotMetadata(index: 11, term: 2, membership: after),
                               data: TestNetwork.encode(backlog.dropLast().map(\.data))),
            entries: [])
        let net = TestNetwork(
            recovered: [1: applyingBacklog, 2: appliedBacklog, 3: appliedBacklog, 4: appliedBacklog], settle: false
        ) {
            $0.preVote = false
            $0.applyBytesMax = 1
        }
        XCTAssertEqual(net[1].membership, before)
        XCTAssertEqual(net[2].membership, after)

        // Nodes 1 and 2 time out and campaign in term 3.
        for id: NodeID in [1, 2] {
            for _ in 0..<40 where net[id].role == .follower { net[id].tick() }
            XCTAssertEqual(net[id].role, .candidate)
            XCTAssertEqual(net[id].term, 3)
            net.processReady(id)
        }
        XCTAssertEqual(net[1].appliedIndex, 2, "node 1 is still applying its backlog")

        // Node 3 hears node 2 first; node 4, removed but not yet told, answers node 1.
        net.deliver(where: { $0.from == 2 && $0.to == 3 })
        net.deliver(where: { $0.from == 1 && [3, 4].contains($0.to) })
        net.processReady(3)
        net.processReady(4)
        net.deliver(where: { $0.to == 2 })
        net.processReady(2)
        XCTAssertEqual(net[2].role, .leader, "node 2 won term 3 with node 3")
        net.deliver(where: { $0.from == 4 && $0.to == 1 })
        XCTAssertEqual(net[1].role, .candidate, "nodes 1 and 4 are not a quorum of {1, 2, 3, 4}")

        // Node 1 finishes applying its backlog, then node 3's refusal arrives.
        for _ in 0..<20 where net[1].appliedIndex < 11 { net.processReady(1) }
        XCTAssertEqual(net[1].membership, after)
        net.deliver(where: { $0.from == 3 && $0.to == 1 })
        XCTAssertNotEqual(net[1].role, .leader, "two leaders in term 3: node 1 counted the vote of removed node 4")
        XCTAssertEqual(net.leaders, [2])
    }

    /// Thesis §4.2.2 with two voters: when leader 1 removes itself, node 2 gets TimeoutNow,
    /// possibly before it has applied the removal, so it asks node 1 for a vote. Once the
    /// removal is applied node 2 is a group of one, and its own vote makes it leader: it must
    /// not wait an election timeout because node 1's vote no longer counts.
    func testRemovingLeaderOfTwoVoterGroupHandsOverWithoutTimeout() throws {
        let net = TestNetwork(voters: [1, 2])
        net.elect(1)
        let term = net[1].term
        net.slowDisks = [2]
        try net[1].proposeMembershipChange(.removeNode(1))
        net.stabilize()
        net.flushDisk(2)
        net.stabilize()
        XCTAssertEqual(net[1].role, .follower, "node 1 applied its removal")
        XCTAssertEqual(net[2].role, .candidate, "TimeoutNow reached node 2 before it applied the removal")

        net.slowDisks = []
        net.flushDisk(2)
        net.stabilize()
        XCTAssertEqual(net[2].membership, Membership(voters: [2]))
        XCTAssertEqual(net.leaders, [2], "node 2 is the only voter and has its own vote")
        XCTAssertEqual(net[2].term, term + 1)
    }
}
