import XCTest

@testable import Raft

/// Linearizable reads without log writes: ReadIndex (Raft thesis §6.4).
final class ReadIndexTests: XCTestCase {
    /// Thesis §6.4 steps 1-3: the leader records its commit index, confirms it still leads
    /// with a round of heartbeats, and only then answers.
    func testLeaderReadIsAnsweredWithCommitIndexAfterQuorumAcknowledges() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        try net[1].propose([bytes("a")])
        net.stabilize()
        let commit = net[1].commitIndex
        try net[1].requestRead(id: 7)
        net.processReady(1)
        XCTAssertEqual(net.readStates[1] ?? [], [], "not before a quorum confirms the leadership")
        XCTAssertEqual(net.queue.filter { $0.body.name == "Heartbeat" }.map(\.to), [2, 3])
        net.stabilize()
        XCTAssertEqual(net.readStates[1], [ReadState(requestID: 7, index: commit)])
    }

    /// A leader that cannot reach a quorum may have been deposed: it must not answer.
    func testLeaderCutOffFromQuorumDoesNotAnswerReads() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        net.isolate(1)
        try net[1].requestRead(id: 7)
        net.tick([1], times: 5)
        XCTAssertEqual(net[1].role, .leader)
        XCTAssertEqual(net.readStates[1] ?? [], [])
        net.heal()
        net.tick([1])
        XCTAssertEqual(net.readStates[1], [ReadState(requestID: 7, index: net[1].commitIndex)])
    }

    /// Thesis §6.4: a follower asks the leader for the read index and serves the read once
    /// it has applied that far.
    func testFollowerReadIsForwardedToLeaderAndAnswered() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        try net[1].propose([bytes("a")])
        net.stabilize()
        let commit = net[1].commitIndex
        net.clearHistory()
        try net[2].requestRead(id: 9)
        net.stabilize()
        XCTAssertEqual(net.readStates[2], [ReadState(requestID: 9, index: commit)])
        XCTAssertEqual(net.readStates[1] ?? [], [], "the leader answers the follower, not its own application")
        XCTAssertEqual(net.sent(where: { $0.body == .readIndex(requestID: 9) }).map(\.to), [1])
        XCTAssertEqual(net[2].appliedIndex, commit)
    }

    /// Thesis §6.4 step 1: a new leader's commit index may lag its predecessor's until it
    /// commits an entry of its own term, so reads wait for that.
    func testNewLeaderDoesNotAnswerReadsBeforeCommittingAnEntryOfItsTerm() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        try net[1].propose([bytes("a")])
        net.stabilize()
        net.dropRules.append { $0.from == 2 && $0.body.isAppendWithEntries }
        try net[1].transferLeadership(to: 2)
        net.stabilize()
        XCTAssertEqual(net.leaders, [2])
        XCTAssertLessThan(net[2].commitIndex, net[2].lastIndex, "its empty entry is not committed")
        try net[2].requestRead(id: 5)
        net.tick([2], times: 3)
        XCTAssertTrue(net.sent.contains { $0.to == 2 && $0.body.name == "HeartbeatResp" }, "leadership is confirmed")
        XCTAssertEqual(net.readStates[2] ?? [], [], "but the read waits for the commit")
        net.heal()
        net.tick([2], times: 2)
        XCTAssertEqual(net[2].commitIndex, net[2].lastIndex)
        XCTAssertEqual(net.readStates[2], [ReadState(requestID: 5, index: net[2].lastIndex)])
    }

    /// Reads need someone to answer them, and the queue of reads is bounded.
    func testReadsAreRefusedWithoutLeaderAndBeyondPendingReadsMax() throws {
        let fresh = TestNetwork(voters: [1, 2, 3])
        assertThrows(ReadError.noLeader, try fresh[1].requestRead(id: 1))

        let net = TestNetwork(voters: [1, 2, 3]) { $0.pendingReadsMax = 2 }
        net.elect(1)
        net.isolate(1)
        try net[1].requestRead(id: 1)
        try net[1].requestRead(id: 2)
        assertThrows(ReadError.tooManyPendingReads(max: 2), try net[1].requestRead(id: 3))
    }
}
