import XCTest

@testable import Raft

/// When an entry is committed (Raft §5.3, §5.4.2): on a quorum of durable copies, the
/// leader's own included, and only by counting replicas of an entry of the current term.
final class CommitmentTests: XCTestCase {
    /// An acknowledgement promises durability: entries only in followers' memory count for
    /// nothing, however many followers hold them.
    func testLeaderDoesNotCommitWhatFollowersHaveNotPersisted() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        let before = net[1].commitIndex
        net.slowDisks = [2, 3]
        let index = try net[1].propose([bytes("a")]).indexes.upperBound
        net.stabilize()
        XCTAssertEqual(net[2].lastIndex, index, "the followers hold the entry, not yet durably")
        XCTAssertEqual(net[3].lastIndex, index)
        XCTAssertEqual(net[1].matchIndex(of: 2), before)
        XCTAssertEqual(net[1].commitIndex, before)

        net.flushDisk(2)
        net.stabilize()
        XCTAssertEqual(net[1].matchIndex(of: 2), index)
        XCTAssertEqual(net[1].commitIndex, index, "leader and node 2 are a durable quorum")

        net.slowDisks = []
        net.flushDisk(2)
        net.flushDisk(3)
        net.stabilize()
        for id: NodeID in [1, 2, 3] { XCTAssertEqual(net.applied[id], [bytes("a")]) }
    }

    /// The leader sends its appends before its own fsync (Ready.messages), so its own copy
    /// counts only once persisted: with node 3 cut off, node 2's durable copy and the
    /// leader's unpersisted one are not a quorum.
    func testLeaderCountsItsOwnCopyOnlyOncePersisted() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        net.isolate(3)
        let before = net[1].commitIndex
        net.slowDisks = [1]
        let index = try net[1].propose([bytes("a")]).indexes.upperBound
        net.stabilize()
        XCTAssertEqual(net[1].matchIndex(of: 2), index, "node 2 persisted and acknowledged")
        XCTAssertEqual(net[1].persistedIndex, before)
        XCTAssertEqual(net[1].commitIndex, before, "the leader's own copy is not durable yet")
        XCTAssertEqual(net[2].commitIndex, before)

        net.slowDisks = []
        net.flushDisk(1)
        XCTAssertEqual(net[1].commitIndex, index, "committed as soon as the leader's disk catches up")
        net.stabilize()
        XCTAssertEqual(net.applied[1], [bytes("a")])
        XCTAssertEqual(net.applied[2], [bytes("a")])
    }

    /// The disks of Figure 8 (Raft §5.4.2) at its step (c): S1 led term 2 and wrote index 2
    /// only to itself; S5 led term 3 with the votes of S3 and S4 and wrote its own index 2
    /// only to itself. S1 is about to lead term 4; S5 is down.
    private func figure8(configure: @escaping (inout Config) -> Void) -> TestNetwork {
        let voters: Set<NodeID> = [1, 2, 3, 4, 5]
        let net = TestNetwork(recovered: [
            1: .init(hardState: HardState(term: 3, vote: nil, commit: 1), entries: TestNetwork.log(voters: voters, terms: [2])),
            2: .init(hardState: HardState(term: 2, vote: 1, commit: 1), entries: TestNetwork.log(voters: voters, terms: [])),
            3: .init(hardState: HardState(term: 3, vote: 5, commit: 1), entries: TestNetwork.log(voters: voters, terms: [])),
            4: .init(hardState: HardState(term: 3, vote: 5, commit: 1), entries: TestNetwork.log(voters: voters, terms: [])),
            5: .init(hardState: HardState(term: 3, vote: 5, commit: 1), entries: TestNetwork.log(voters: voters, terms: [3])),
        ]) {
            $0.appendEntriesMax = 1
            configure(&$0)
        }
        net.crash(5)
        // S1 (term 4) copies its term-2 entry to everyone, but its term-4 entry is lost on
        // the way to every node that could accept it.
        net.dropRules.append { [unowned net] m in
            m.body.appendedEntries.contains { $0.term == 4 } && net[m.to].term(at: 2) == 2
        }
        net.elect(1)
        XCTAssertEqual(net[1].term, 4)
        net.tick([1], times: 3)
        for id: NodeID in [2, 3, 4] {
            XCTAssertEqual(net[id].term(at: 2), 2, "node \(id)")
            XCTAssertEqual(net[1].matchIndex(of: id), 2, "node \(id)")
        }
        return net
    }

    /// Figure 8 (c)-(d): an entry of an older term on a majority is NOT committed by counting
    /// replicas; and indeed S5 can still be elected and overwrite it.
    func testFigure8EntryOfOlderTermOnMajorityIsNotCommitted() {
        let net = figure8 { $0.checkQuorum = false }
        XCTAssertEqual(net[1].lastIndex, 3)
        XCTAssertEqual(net[1].persistedIndex, 3)
        XCTAssertEqual(net[1].commitIndex, 1, "index 2 (term 2) is on 4 of 5 disks but must not commit")
        for id: NodeID in [1, 2, 3, 4] { XCTAssertEqual(net.applied[id], []) }

        // (d) S1 crashes; S5 comes back, wins with S2..S4 (its last term 3 beats their 2) and
        // replaces index 2 everywhere. Had S1 committed it, this would lose a committed entry.
        net.crash(1)
        net.heal()
        net.restart(5)
        net.elect(5)
        net.stabilize()
        for id: NodeID in [2, 3, 4, 5] {
            XCTAssertEqual(net[id].term(at: 2), 3, "node \(id)")
            XCTAssertEqual(net.applied[id], [bytes("2@3")], "node \(id)")
        }
    }

    /// Figure 8 (e): once an entry of the leader's current term reaches a majority, it and
    /// everything before it (the term-2 entry) are committed.
    func testFigure8EntryOfOlderTermCommitsWithAnEntryOfCurrentTerm() {
        let net = figure8 { _ in }
        XCTAssertEqual(net[1].commitIndex, 1)
        net.heal()
        net.tick([1], times: 3)
        XCTAssertEqual(net[1].commitIndex, 3)
        for id: NodeID in [1, 2, 3, 4] { XCTAssertEqual(net.applied[id], [bytes("2@2")], "node \(id)") }
    }
}

extension CommitmentTests {
    /// The leader's own durable match is counted afresh in every term it leads. Node 1 leads
    /// term 2 and persists entries 3...12 that nobody else gets; a later leader replaces them
    /// and finally leaves node 1 as the only voter. When node 1 leads again, its new entries
    /// sit at indexes it had persisted before: they must still commit (here on its disk
    /// alone), and reads and membership changes, which wait for that commit, must go on.
    func testLeaderCountsItsOwnDiskAfreshWhenItLeadsAgain() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        net.isolate(1)
        try net[1].propose((0..<10).map { bytes("lost \($0)") })
        net.stabilize()
        XCTAssertEqual(net[1].persistedIndex, 12)
        net.tick([1], until: { net[1].role == .follower })

        net.tick([2, 3], until: { !net.leaders.isEmpty })
        let leader = try XCTUnwrap(net.leaders.first)
        let other: NodeID = leader == 2 ? 3 : 2
        try net[leader].proposeMembershipChange(.removeNode(other))
        net.stabilize()
        net.heal()
        net.tick([leader], times: 2)
        XCTAssertEqual(net[1].lastIndex, net[leader].lastIndex, "node 1 lost its uncommitted entries")
        try net[leader].proposeMembershipChange(.removeNode(leader))
        net.stabilize()
        XCTAssertEqual(net[1].membership, Membership(voters: [1]))

        net.tick([1], until: { net[1].role == .leader }, timesMax: 40)
        net.tick([1], times: 2)
        XCTAssertLessThanOrEqual(net[1].lastIndex, 12, "the scenario needs node 1's new entries below its old durable match")
        XCTAssertEqual(net[1].commitIndex, net[1].lastIndex, "a group of one commits on its own disk")
        try net[1].requestRead(id: 1)
        net.tick([1])
        XCTAssertEqual(net.readStates[1]?.map(\.requestID), [1])
    }
}
