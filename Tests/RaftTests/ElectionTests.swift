import XCTest

@testable import Raft

/// Leader election (Raft §5.2, §5.4.1).
final class ElectionTests: XCTestCase {
    /// §5.2: a group of one needs no vote but its own, and commits alone.
    func testSingleNodeElectsItselfAndCommitsAlone() throws {
        let net = TestNetwork(voters: [1])
        net.elect(1)
        XCTAssertEqual(net[1].term, 2)
        XCTAssertEqual(net[1].commitIndex, 2, "the empty entry of its term is committed on its own disk")
        try net[1].propose([bytes("a")])
        net.stabilize()
        XCTAssertEqual(net.applied[1], [bytes("a")])
    }

    /// §5.2 Election Safety: at most one leader per term; the group settles on one.
    func testThreeNodesElectExactlyOneLeader() {
        let net = TestNetwork(voters: [1, 2, 3])
        net.tick(until: { !net.leaders.isEmpty })
        XCTAssertEqual(net.leaders.count, 1)
        let leader = net.leaders[0]
        let term = net[leader].term
        net.tick(times: 50)
        XCTAssertEqual(net.leaders, [leader], "a healthy leader keeps its followers from campaigning")
        for id: NodeID in [1, 2, 3] {
            XCTAssertEqual(net[id].term, term)
            XCTAssertEqual(net[id].leader, leader)
        }
    }

    /// §5.2: election timeouts are drawn at random from [T, 2T) so that split votes are rare;
    /// here the draw comes from the configured seed, so it differs by seed and repeats with it.
    func testElectionTimeoutsAreRandomizedBySeed() {
        func ticksUntilCampaign(seed: UInt64) -> Int {
            var node = try! RaftNode(config: Config(id: 1, randomSeed: seed), bootstrapVoters: [1, 2, 3])
            while node.hasReady { node.advance(node.ready()) }
            var ticks = 0
            while node.role == .follower, ticks < 100 {
                node.tick()
                ticks += 1
            }
            return ticks
        }
        let timeouts = (UInt64(1)...8).map { ticksUntilCampaign(seed: $0) }
        for timeout in timeouts {
            XCTAssertTrue((10..<20).contains(timeout), "timeout \(timeout) outside [T, 2T)")
        }
        XCTAssertGreaterThan(Set(timeouts).count, 1, "different seeds should give different timeouts: \(timeouts)")
        XCTAssertEqual(ticksUntilCampaign(seed: 3), timeouts[2], "the same seed gives the same timeout")

        let net = TestNetwork(voters: [1, 2, 3, 4, 5])
        let drawn = Set((1...5).map { net[NodeID($0)].randomizedElectionTimeout })
        XCTAssertGreaterThan(drawn.count, 1, "the nodes of one group draw different timeouts")
    }

    /// §5.4.1: a voter refuses a candidate whose log is less up to date; a candidate refused by
    /// a majority returns to follower (in its new term) instead of waiting out its timeout.
    func testCandidateThatLosesStepsBackToFollower() {
        let net = TestNetwork(recovered: [
            1: .init(hardState: HardState(term: 2, commit: 1), entries: TestNetwork.log(voters: [1, 2, 3], terms: [2])),
            2: .init(hardState: HardState(term: 2, commit: 1), entries: TestNetwork.log(voters: [1, 2, 3], terms: [2])),
            3: .init(hardState: HardState(term: 2, commit: 1), entries: TestNetwork.log(voters: [1, 2, 3], terms: [])),
        ]) { $0.preVote = false }
        for _ in 0..<40 where net[3].role == .follower { net[3].tick() }
        XCTAssertEqual(net[3].role, .candidate)
        XCTAssertEqual(net[3].term, 3)
        net.stabilize()
        XCTAssertEqual(net[3].role, .follower)
        XCTAssertEqual(net[3].term, 3)
        XCTAssertEqual(net[3].vote, 3, "its vote for itself in term 3 stands")
        XCTAssertEqual(net.leaders, [])
        XCTAssertEqual(net.sent(where: { $0.to == 3 && $0.body == .voteResponse(granted: false) }).count, 2)
    }

    /// §5.2: a node restarted from its disk keeps its term, vote and log, and catches up.
    func testRestartedFollowerRecoversFromItsDisk() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        try net[1].propose([bytes("a"), bytes("b")])
        net.stabilize()
        let hardState = net[2].hardState
        let lastIndex = net[2].lastIndex
        net.crash(2)
        try net[1].propose([bytes("c")])
        net.stabilize()
        net.restart(2)
        XCTAssertEqual(net[2].term, hardState.term)
        XCTAssertEqual(net[2].vote, hardState.vote)
        XCTAssertEqual(net[2].lastIndex, lastIndex)
        net.tick([1], times: 2)
        XCTAssertEqual(net.applied[2], [bytes("a"), bytes("b"), bytes("c")])
    }

    /// §5.2: when the leader crashes the others elect a new one in a later term, and the old
    /// leader, restarted, follows it and catches up.
    func testGroupReelectsAfterLeaderCrashAndOldLeaderRejoins() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        try net[1].propose([bytes("a")])
        net.stabilize()
        net.crash(1)
        net.tick(until: { !net.leaders.isEmpty })
        let leader = net.leaders[0]
        XCTAssertGreaterThan(net[leader].term, 2)
        try net[leader].propose([bytes("b")])
        net.stabilize()
        net.restart(1)
        net.tick(times: 3)
        XCTAssertEqual(net.leaders, [leader])
        XCTAssertEqual(net[1].leader, leader)
        XCTAssertEqual(net.applied[1], [bytes("a"), bytes("b")])
    }
}
