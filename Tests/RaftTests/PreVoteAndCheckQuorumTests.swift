import XCTest

@testable import Raft

/// Pre-vote and check-quorum (Raft thesis §9.6 and §6.2; etcd's PreVote and CheckQuorum).
final class PreVoteAndCheckQuorumTests: XCTestCase {
    // MARK: A leader reported dead

    /// Once the followers hear that the leader died, one of them leads within a third of the
    /// election timeout. The first to hear finds the other still in the dead leader's
    /// lease; the second finds the first without one, and wins.
    func testFollowersToldTheLeaderDiedElectANewOneWithoutWaitingForATimeout() {
        let net = TestNetwork(voters: [1, 2, 3]) { $0.electionTimeoutTicks = 30 }
        net.elect(1)
        let term = net[1].term
        net.isolate(1)
        net[2].leaderReportedDead(1)
        net.tick([2, 3], until: { !net.sent(where: { $0.from == 2 && $0.body.name == "PreVote" }).isEmpty }, timesMax: 10)
        XCTAssertEqual(net[2].term, term, "refused by the lease of node 3, at no cost in terms")
        net[3].leaderReportedDead(1)
        net.tick([2, 3], until: { net[3].role == .leader }, timesMax: 10)
        XCTAssertEqual(net[3].term, term + 1)
        XCTAssertEqual(net[2].leader, 3)
    }

    /// Both followers hear of the death at once. Campaigning at once, they would split the
    /// vote every time; each waits ticks of its own drawing first, so one asks before the
    /// other and the next term has a leader within a third of the election timeout. The
    /// draws are seeded: a split (both drawing the same tick) comes in about one run in ten.
    func testFollowersToldAtOnceMostlyAvoidASplitVote() {
        var elected = 0
        let runs = 40
        for seed in 1...UInt64(runs) {
            let net = TestNetwork(voters: [1, 2, 3], seed: seed) { $0.electionTimeoutTicks = 30 }
            net.elect(1)
            let term = net[1].term
            net.isolate(1)
            net[2].leaderReportedDead(1)
            net[3].leaderReportedDead(1)
            net.tick([2, 3], times: 10)
            let successors = net.leaders.filter { $0 != 1 }
            if successors.count == 1, net[successors[0]].term == term + 1 { elected += 1 }
        }
        XCTAssertGreaterThanOrEqual(elected, runs * 3 / 4, "\(elected) of \(runs) runs elected a leader in the next term within 10 ticks")
    }

    /// A false report costs nothing: the other follower still hears the leader, its lease
    /// refuses the pre-vote, and no term changes.
    func testAFalseReportOfTheLeadersDeathDisturbsNothing() {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        let term = net[1].term
        net[3].leaderReportedDead(1)
        net.stabilize()
        XCTAssertEqual(net.leaders, [1])
        for id: NodeID in [1, 2, 3] { XCTAssertEqual(net[id].term, term) }
        // The report is about the leader only: news of another node's death changes nothing.
        net[2].leaderReportedDead(3)
        XCTAssertEqual(net[2].role, .follower)
        XCTAssertEqual(net[2].leader, 1)
    }

    // MARK: Pre-vote

    /// Thesis §9.6: a node cut off from the group times out again and again, but its pre-votes
    /// win nothing, so its term does not grow and it does not depose the leader on return.
    func testRejoiningPartitionedNodeDoesNotBumpTheTermOfTheHealthyGroup() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        let term = net[1].term
        net.isolate(3)
        net.tick(times: 60)
        XCTAssertEqual(net[3].term, term, "pre-votes leave the term alone")
        XCTAssertTrue(net.sent(where: { $0.from == 3 && $0.body.name == "PreVote" }).count >= 2, "node 3 kept trying")
        try net[1].propose([bytes("while 3 was away")])
        net.stabilize()

        net.heal()
        net.clearHistory()
        net.tick(times: 30)
        XCTAssertEqual(net.leaders, [1])
        for id: NodeID in [1, 2, 3] { XCTAssertEqual(net[id].term, term) }
        XCTAssertTrue(net.sent(where: { $0.to == 3 && $0.body == .preVoteResponse(granted: true) }).isEmpty)
        XCTAssertEqual(net.applied[3], net.applied[1])
    }

    /// etcd: a pre-vote changes neither the term nor the vote of the pre-candidate, nor of the
    /// node that grants it; so nothing needs persisting on either side.
    func testPreVoteChangesNeitherTermNorVoteOnEitherSide() {
        let net = TestNetwork(voters: [1, 2, 3]) { $0.checkQuorum = false }
        net.elect(1)
        let term = net[1].term
        XCTAssertEqual(net[3].vote, 1)
        net.clearHistory()

        // Node 3 stops hearing from the leader and times out.
        for _ in 0..<40 where net[3].role == .follower { net[3].tick() }
        XCTAssertEqual(net[3].role, .preCandidate)
        XCTAssertEqual(net[3].term, term)
        XCTAssertEqual(net[3].vote, 1)
        net.processReady(3)
        XCTAssertNil(net.readies.last?.ready.hardState, "nothing to persist for a pre-vote")
        XCTAssertEqual(
            net.queue.filter { $0.from == 3 }.map(\.body.name), ["PreVote", "PreVote"])
        XCTAssertTrue(net.queue.allSatisfy { $0.term == term + 1 }, "pre-votes ask about the next term")

        net.deliver(where: { $0.to == 2 })
        XCTAssertEqual(net[2].term, term)
        XCTAssertEqual(net[2].vote, 1)
        net.processReady(2)
        XCTAssertNil(net.readies.last?.ready.hardState)
        XCTAssertEqual(
            net.queue.filter { $0.from == 2 },
            [Message(from: 2, to: 3, term: term + 1, body: .preVoteResponse(granted: true))])
    }

    /// etcd: a pre-candidate refused by a majority returns to follower in the same term.
    func testPreCandidateThatLosesStepsBackWithoutChangingTerm() {
        let net = TestNetwork(recovered: [
            1: .init(hardState: HardState(term: 2, commit: 1), entries: TestNetwork.log(voters: [1, 2, 3], terms: [2])),
            2: .init(hardState: HardState(term: 2, commit: 1), entries: TestNetwork.log(voters: [1, 2, 3], terms: [2])),
            3: .init(hardState: HardState(term: 2, commit: 1), entries: TestNetwork.log(voters: [1, 2, 3], terms: [])),
        ])
        for _ in 0..<40 where net[3].role == .follower { net[3].tick() }
        XCTAssertEqual(net[3].role, .preCandidate)
        net.stabilize()
        XCTAssertEqual(net[3].role, .follower)
        for id: NodeID in [1, 2, 3] { XCTAssertEqual(net[id].term, 2) }
        XCTAssertEqual(net.sent(where: { $0.to == 3 && $0.body == .preVoteResponse(granted: false) }).count, 2)
    }

    // MARK: Check-quorum

    /// Thesis §6.2, etcd CheckQuorum: a leader that has not heard from a quorum within an
    /// election timeout steps down, keeping its term.
    func testLeaderWithoutQuorumStepsDownWithinTwoElectionTimeouts() {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        let term = net[1].term
        net.tick([1], times: 30)
        XCTAssertEqual(net[1].role, .leader, "a leader that hears from a quorum stays")
        net.isolate(1)
        var ticks = 0
        while net[1].role == .leader, ticks < 100 {
            net.tick([1])
            ticks += 1
        }
        XCTAssertEqual(net[1].role, .follower)
        XCTAssertLessThanOrEqual(ticks, 20, "within two election timeouts")
        XCTAssertEqual(net[1].term, term)
        XCTAssertNil(net[1].leader)
    }

    /// A voter in the middle of sending (the shell sees its bytes, no whole message yet) is
    /// alive: a leader that hears that much from a quorum stays; one that hears it only from
    /// a node outside the group steps down as without it.
    func testALeaderCountsAVoterPartwayThroughALongMessageAsActive() {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        net.isolate(1)
        for _ in 0..<100 {
            net[1].heardFrom(2)
            net.tick([1])
        }
        XCTAssertEqual(net[1].role, .leader, "node 2 counted active for 10 election timeouts")
        var ticks = 0
        while net[1].role == .leader, ticks < 100 {
            net[1].heardFrom(9)
            net.tick([1])
            ticks += 1
        }
        XCTAssertEqual(net[1].role, .follower, "a node outside the group is no quorum")
        XCTAssertLessThanOrEqual(ticks, 20)
    }

    /// A follower receiving part of its leader's long message hears its leader and does not
    /// campaign; part of another node's does not stand in for the leader.
    func testAFollowerPartwayThroughItsLeadersLongMessageDoesNotCampaign() {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        let term = net[1].term
        net.isolate(1)
        for _ in 0..<100 {
            net[2].heardFrom(1)
            net.tick([2])
        }
        XCTAssertEqual(net[2].role, .follower)
        XCTAssertEqual(net[2].leader, 1)
        XCTAssertEqual(net[2].term, term)
        XCTAssertTrue(net.sent(where: { $0.from == 2 && $0.body.name == "PreVote" }).isEmpty, "no pre-vote while the leader was heard")
        net.tick([2], until: { net[2].role != .follower }, timesMax: 20)
        XCTAssertEqual(net[2].role, .preCandidate, "campaigns once it hears nothing more")

        let other = TestNetwork(voters: [1, 2, 3])
        other.elect(1)
        other.isolate(1)
        var ticks = 0
        while other[2].role == .follower, ticks < 100 {
            other[2].heardFrom(3)
            other.tick([2])
            ticks += 1
        }
        XCTAssertLessThanOrEqual(ticks, 20, "another follower's bytes are not the leader's")
    }

    /// Starting a leadership transfer does not restart the check-quorum round: a leader cut
    /// off from everyone still steps down within two election timeouts.
    func testLeadershipTransferDoesNotPostponeCheckQuorum() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        net.isolate(1)
        net.tick([1], times: 9)
        try net[1].transferLeadership(to: 2)
        var ticks = 9
        while net[1].role == .leader, ticks < 100 {
            net.tick([1])
            ticks += 1
        }
        XCTAssertEqual(net[1].role, .follower)
        XCTAssertLessThanOrEqual(ticks, 20, "within two election timeouts of losing its quorum")
    }

    /// etcd (with pre-vote or check-quorum): a node answers an append or heartbeat of a lower
    /// term with its own term, so a deposed leader that cannot hear the new leader still
    /// learns of the new term and steps down.
    func testDeposedLeaderLearnsTheNewTermFromAFollowersAnswer() {
        let net = TestNetwork(voters: [1, 2, 3]) { $0.checkQuorum = false }
        net.elect(1)
        let term = net[1].term
        net.cut(1, 2)
        net.cut(1, 3)
        net.tick([2, 3], until: { net.leaders.contains { $0 != 1 } })
        XCTAssertEqual(net[1].role, .leader, "node 1 has not heard of the new term")
        // Node 1's heartbeats get through again; the new leader's messages still do not.
        net.heal()
        net.dropRules.append { $0.to == 1 && ["Append", "Heartbeat"].contains($0.body.name) }
        net.clearHistory()
        net.tick([1])
        XCTAssertEqual(net[1].role, .follower)
        XCTAssertGreaterThan(net[1].term, term)
        XCTAssertTrue(net.sent.contains { $0.to == 1 && $0.term > term && $0.body == .appendResponse(.success(matchIndex: 0)) })
    }

    /// etcd: with check-quorum, a node that heard from its leader within the election timeout
    /// ignores vote and pre-vote requests of a higher term; only a leadership transfer's
    /// vote request goes through the lease.
    func testFollowerInLeaseIgnoresVoteRequestsOfHigherTerm() {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        let term = net[1].term
        net.clearHistory()
        for id: NodeID in [1, 2] {
            net[id].step(Message(from: 3, to: id, term: term + 5, body: .vote(lastIndex: 99, lastTerm: term + 4, leadershipTransfer: false)))
            net[id].step(Message(from: 3, to: id, term: term + 5, body: .preVote(lastIndex: 99, lastTerm: term + 4)))
        }
        net.stabilize()
        XCTAssertEqual(net[1].role, .leader)
        XCTAssertEqual(net[1].term, term)
        XCTAssertEqual(net[2].term, term)
        XCTAssertEqual(net[2].leader, 1)
        XCTAssertEqual(net[2].vote, 1)
        XCTAssertTrue(net.sent(where: { $0.to == 3 && $0.term > term }).isEmpty, "ignored, not answered")

        net[2].step(Message(from: 3, to: 2, term: term + 5, body: .vote(lastIndex: 99, lastTerm: term + 4, leadershipTransfer: true)))
        XCTAssertEqual(net[2].term, term + 5, "a transfer's vote request goes through the lease")
        XCTAssertEqual(net[2].vote, 3)
    }

    /// etcd: the real vote that follows a successful pre-vote is an ordinary vote request, so a
    /// follower that still hears from its leader ignores it. Here 3, 4 and 5 lose the leader
    /// and elect one of them; node 2, still in its lease of leader 1, must not vote or change
    /// term because of that vote request (it moves on only when the new leader reaches it).
    func testFollowerInLeaseIgnoresTheVoteOfACandidateThatWonItsPreVote() {
        let net = TestNetwork(voters: [1, 2, 3, 4, 5])
        net.elect(1)
        let term = net[1].term
        for other: NodeID in [3, 4, 5] { net.cut(1, other) }
        net.clearHistory()
        // Only 3, 4 and 5 tick: node 2 last heard from leader 1 zero ticks ago.
        net.tick([3, 4, 5], until: { net.leaders.contains { $0 != 1 } })
        let votes = net.sent(where: { $0.to == 2 && $0.body.name == "Vote" })
        XCTAssertFalse(votes.isEmpty)
        XCTAssertTrue(votes.allSatisfy { $0.term == term + 1 })
        XCTAssertEqual(votes.filter(\.body.isTransferVote).count, 0, "an election is not a leadership transfer: \(votes)")
        XCTAssertTrue(net.sent(where: { $0.from == 2 && $0.body.name == "VoteResp" }).isEmpty,
                      "node 2 answered a vote request inside its lease")
    }
}
