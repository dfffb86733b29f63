import XCTest

@testable import Raft

/// Leadership transfer (Raft thesis §3.10; etcd MsgTransferLeader / MsgTimeoutNow).
final class LeadershipTransferTests: XCTestCase {
    /// Thesis §3.10: an up-to-date target is told to campaign at once and wins the next term.
    func testTransferToUpToDateFollowerMakesItLeader() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        let term = net[1].term
        try net[1].transferLeadership(to: 2)
        net.stabilize()
        XCTAssertEqual(net.leaders, [2])
        XCTAssertEqual(net[2].term, term + 1)
        XCTAssertEqual(net[1].role, .follower)
        XCTAssertEqual(net[1].leader, 2)
        XCTAssertNil(net[1].leadershipTransferTarget)
    }

    /// Thesis §3.10: a lagging target is first brought up to date, and only then gets
    /// TimeoutNow; meanwhile the leader refuses proposals.
    func testTransferToLaggingFollowerCatchesItUpFirstAndRefusesProposalsMeanwhile() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        net.isolate(3)
        for i in 0..<5 {
            try net[1].propose([bytes("p\(i)")])
            net.stabilize()
        }
        let lastIndex = net[1].lastIndex
        net.heal()
        net.clearHistory()
        try net[1].transferLeadership(to: 3)
        XCTAssertEqual(net[1].leadershipTransferTarget, 3)
        assertThrows(ProposalError.leadershipTransferInProgress, try net[1].propose([bytes("refused")]))
        assertThrows(ProposalError.leadershipTransferInProgress, try net[1].proposeMembershipChange(.addLearner(4)))
        XCTAssertEqual(net[1].lastIndex, lastIndex)

        net.stabilize()
        net.tick([1], until: { net[3].role == .leader }, timesMax: 5)
        XCTAssertEqual(net.leaders, [3])
        let timeoutNow = try XCTUnwrap(net.sent.firstIndex { $0.to == 3 && $0.body == .timeoutNow })
        let caughtUp = try XCTUnwrap(net.sent.firstIndex { $0.from == 3 && $0.body == .appendResponse(.success(matchIndex: lastIndex)) })
        XCTAssertLessThan(caughtUp, timeoutNow, "TimeoutNow only once the target holds the whole log")
        try net[3].propose([bytes("new leader")])
        net.stabilize()
        XCTAssertEqual(net.applied[3], (0..<5).map { bytes("p\($0)") } + [bytes("new leader")])
    }

    /// etcd: a transfer that has not completed within an election timeout is abandoned and
    /// the leader takes proposals again.
    func testTransferToUnreachableNodeIsAbandonedAfterElectionTimeout() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        let term = net[1].term
        net.isolate(3)
        try net[1].transferLeadership(to: 3)
        net.tick([1], times: 9)
        XCTAssertEqual(net[1].leadershipTransferTarget, 3, "still trying within the election timeout")
        assertThrows(ProposalError.leadershipTransferInProgress, try net[1].propose([bytes("refused")]))
        net.tick([1])
        XCTAssertNil(net[1].leadershipTransferTarget, "abandoned after one election timeout")
        XCTAssertEqual(net.leaders, [1])
        XCTAssertEqual(net[1].term, term)
        try net[1].propose([bytes("accepted")])
        net.stabilize()
        XCTAssertEqual(net.applied[2], [bytes("accepted")])
    }

    /// Only the leader transfers, and only to a voter.
    func testTransferIsRefusedByFollowersAndToNonVoters() {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        assertThrows(TransferError.notLeader(leader: 1), try net[2].transferLeadership(to: 3))
        assertThrows(TransferError.notAVoter(7), try net[1].transferLeadership(to: 7))
        XCTAssertNil(net[1].leadershipTransferTarget)
    }
}
