import XCTest

@testable import Raft

/// Every resource bound of `Config` is checked, and proposals beyond them are refused
/// without touching the log.
final class BoundsTests: XCTestCase {
    func testValidateRejectsEachBadBoundNamingIt() {
        XCTAssertNoThrow(try Config(id: 1, randomSeed: 1).validate())
        let cases: [(bound: String, breakIt: (inout Config) -> Void)] = [
            ("id", { $0.id = 0 }),
            ("heartbeatIntervalTicks", { $0.heartbeatIntervalTicks = 0 }),
            ("electionTimeoutTicks", { $0.electionTimeoutTicks = $0.heartbeatIntervalTicks }),
            ("appendEntriesMax", { $0.appendEntriesMax = 0 }),
            ("appendBytesMax", { $0.appendBytesMax = 0 }),
            ("inflightAppendsMax", { $0.inflightAppendsMax = 0 }),
            ("inflightBytesMax", { $0.inflightBytesMax = $0.appendBytesMax - 1 }),
            ("uncommittedBytesMax", { $0.uncommittedBytesMax = $0.entryBytesMax - 1 }),
            ("proposalEntriesMax", { $0.proposalEntriesMax = 0 }),
            ("entryBytesMax", { $0.entryBytesMax = 0 }),
            ("snapshotChunkBytesMax", { $0.snapshotChunkBytesMax = 0 }),
            ("applyBytesMax", { $0.applyBytesMax = 0 }),
            ("pendingReadsMax", { $0.pendingReadsMax = 0 }),
        ]
        for (bound, breakIt) in cases {
            var config = Config(id: 1, randomSeed: 1)
            breakIt(&config)
            do {
                try config.validate()
                XCTFail("\(bound): not rejected")
            } catch {
                XCTAssertTrue(error.description.hasPrefix(bound + " "), "\(bound): \(error.description)")
            }
            XCTAssertThrowsError(try RaftNode(config: config, bootstrapVoters: [config.id]), bound)
        }
    }

    /// Proposals over `entryBytesMax` or `proposalEntriesMax`, or empty, are refused whole.
    func testOversizedProposalsAreRefusedAndNothingIsAppended() throws {
        let net = TestNetwork(voters: [1, 2, 3]) {
            $0.entryBytesMax = 100
            $0.proposalEntriesMax = 3
        }
        net.elect(1)
        let last = net[1].lastIndex
        assertThrows(ProposalError.entryTooLarge(bytes: 101, max: 100),
                     try net[1].propose([bytes("fits"), Array(repeating: 0, count: 101)]))
        assertThrows(ProposalError.tooManyEntries(count: 4, max: 3), try net[1].propose(Array(repeating: [1], count: 4)))
        assertThrows(ProposalError.emptyProposal, try net[1].propose([]))
        XCTAssertEqual(net[1].lastIndex, last)
        XCTAssertFalse(net[1].hasReady, "nothing to persist or send")

        let accepted = try net[1].propose([Array(repeating: 0, count: 100), [1], [2]])
        XCTAssertEqual(accepted.indexes, (last + 1)...(last + 3), "the bounds themselves are allowed")
        net.stabilize()
        XCTAssertEqual(net.applied[2]?.count, 3)
    }

    /// A leader whose quorum stalls stops taking proposals at `uncommittedBytesMax`, and
    /// takes them again once the backlog commits.
    func testUncommittedBytesBoundRefusesProposalsUntilBacklogCommits() throws {
        let net = TestNetwork(voters: [1, 2, 3]) {
            $0.entryBytesMax = 100
            $0.uncommittedBytesMax = 250
        }
        net.elect(1)
        net.isolate(2)
        net.isolate(3)
        try net[1].propose([Array(repeating: 0, count: 100)])
        try net[1].propose([Array(repeating: 1, count: 100)])
        let last = net[1].lastIndex
        assertThrows(ProposalError.uncommittedBytesExceeded(pending: 200, proposed: 60, max: 250),
                     try net[1].propose([Array(repeating: 2, count: 60)]))
        XCTAssertEqual(net[1].lastIndex, last)
        try net[1].propose([Array(repeating: 3, count: 50)])
        assertThrows(ProposalError.uncommittedBytesExceeded(pending: 250, proposed: 1, max: 250), try net[1].propose([[4]]))

        net.stabilize()
        net.heal()
        net.tick([1], until: { net[1].commitIndex == net[1].lastIndex }, timesMax: 5)
        try net[1].propose([Array(repeating: 5, count: 100), Array(repeating: 6, count: 100)])
        net.stabilize()
        XCTAssertEqual(net.applied[2]?.count, 5)
    }

    /// `uncommittedBytesMax` counts this leader's own uncommitted entries exactly: committing
    /// an entry it inherited from an earlier term must not make room for new proposals while
    /// its own entries are still uncommitted.
    func testUncommittedBytesAreNotFreedByCommittingInheritedEntries() throws {
        let inherited = TestNetwork.log(voters: [1, 2, 3], terms: []) + [Entry(term: 2, index: 2, data: Array(repeating: 7, count: 100))]
        let net = TestNetwork(recovered: [
            1: .init(hardState: HardState(term: 2, commit: 1), entries: inherited),
            2: .init(hardState: HardState(term: 2, commit: 1), entries: inherited),
            3: .init(hardState: HardState(term: 2, commit: 1), entries: inherited),
        ]) {
            $0.entryBytesMax = 200
            $0.uncommittedBytesMax = 300
            $0.appendEntriesMax = 1
        }
        // Node 1 leads term 3; nothing it sends is acknowledged yet.
        net.dropRules = [{ $0.to == 1 && $0.body.name == "AppendResp" }]
        net.elect(1)
        let own = try net[1].propose([Array(repeating: 1, count: 200)]).indexes.upperBound
        // Its empty entry (and so the inherited one) commits; its own 200 bytes do not.
        net.dropRules = [{ $0.body.appendedEntries.contains { $0.index == own } }]
        net.tick([1], times: 2)
        XCTAssertEqual(net[1].commitIndex, own - 1)
        assertThrows(ProposalError.uncommittedBytesExceeded(pending: 200, proposed: 150, max: 300),
                     try net[1].propose([Array(repeating: 2, count: 150)]))
    }

    /// Only the leader takes proposals; the others name the leader they know, if any.
    func testNonLeaderRefusesProposalsNamingTheLeader() {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        assertThrows(ProposalError.notLeader(leader: 1), try net[2].propose([bytes("x")]))
        assertThrows(ProposalError.notLeader(leader: 1), try net[3].proposeMembershipChange(.addLearner(4)))
        XCTAssertEqual(net[2].lastIndex, net[1].lastIndex)

        let fresh = TestNetwork(voters: [1, 2, 3])
        assertThrows(ProposalError.notLeader(leader: nil), try fresh[1].propose([bytes("x")]))
    }

    /// `applyBytesMax` bounds each Ready's committed entries (at least one is always handed out).
    func testCommittedEntriesPerReadyRespectApplyBytesMax() throws {
        let net = TestNetwork(voters: [1, 2, 3]) {
            $0.applyBytesMax = 25
            $0.entryBytesMax = 20
            $0.appendBytesMax = 20
        }
        net.elect(1)
        net.clearHistory()
        try net[1].propose((0..<6).map { Array(repeating: UInt8($0), count: 10) } + [Array(repeating: 9, count: 20)])
        net.stabilize()
        XCTAssertEqual(net.applied[3]?.count, 7)
        for (id, ready) in net.readies {
            let bytes = ready.committedEntries.reduce(0) { $0 + $1.payloadBytes }
            XCTAssertTrue(bytes <= 25 || ready.committedEntries.count == 1, "node \(id): \(bytes) bytes")
        }
    }
}
