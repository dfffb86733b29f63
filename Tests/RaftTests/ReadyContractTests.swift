import XCTest

@testable import Raft

/// The contract of `Ready` (Sources/Raft/Ready.swift). Calling `ready()` twice without
/// `advance()` is a precondition failure and is not tested here (it would crash the run).
final class ReadyContractTests: XCTestCase {
    /// Messages that promise something about this node's disk (votes, append
    /// acknowledgements) leave only after the Ready is persisted; the leader's appends, and
    /// answers to its heartbeats, leave at once, alongside the entries being persisted.
    func testPromisesWaitForPersistenceWhileLeaderAppendsLeaveAtOnce() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.clearHistory()
        net.elect(1)
        try net[1].propose([bytes("a")])
        net.stabilize()

        let early = net.readies.flatMap(\.ready.messages)
        let late = net.readies.flatMap(\.ready.messagesAfterPersist)
        let promises = ["Vote", "VoteResp", "AppendResp"]
        XCTAssertTrue(early.allSatisfy { !promises.contains($0.body.name) }, "\(early)")
        XCTAssertTrue(late.contains { $0.body == .voteResponse(granted: true) })
        XCTAssertTrue(late.contains { if case .appendResponse(.success) = $0.body { return true } else { return false } })
        XCTAssertTrue(early.contains { $0.body == .preVoteResponse(granted: true) }, "pre-votes promise nothing")
        XCTAssertTrue(early.contains { $0.from == 1 && $0.body.isAppendWithEntries })
        XCTAssertFalse(late.contains { $0.body.isAppendWithEntries })

        XCTAssertTrue(net.readies.contains { $0.id == 1 && $0.ready.softState == SoftState(role: .leader, leader: 1) },
                      "the Ready after winning reports the new role")
        XCTAssertTrue(net.readies.contains { $0.id == 2 && $0.ready.softState == SoftState(role: .follower, leader: 1) },
                      "and a follower reports its new leader")

        for (id, ready) in net.readies {
            // A vote is persisted by the very Ready that sends it.
            for grant in ready.messagesAfterPersist where grant.body == .voteResponse(granted: true) {
                XCTAssertEqual(ready.hardState?.vote, grant.to, "node \(id)")
                XCTAssertEqual(ready.hardState?.term, grant.term, "node \(id)")
            }
            // The leader's appends go out with the entries it is only now persisting.
            if id == 1, ready.entries.contains(where: { $0.kind == .normal }) {
                XCTAssertTrue(ready.messages.contains { $0.body.isAppendWithEntries })
            }
        }
    }

    /// A node's first Ready after bootstrap persists the founding entry before applying it;
    /// committed entries are handed out only once durable (checked by the harness on every
    /// Ready), and nothing is handed out twice.
    func testCommittedEntriesAreHandedOutOnceAndOnlyWhenDurable() throws {
        var node = try RaftNode(config: Config(id: 1, randomSeed: 1), bootstrapVoters: [1])
        let first = node.ready()
        XCTAssertEqual(first.entries.map(\.index), [1])
        XCTAssertEqual(first.hardState, HardState(term: 1, vote: nil, commit: 1))
        XCTAssertEqual(first.committedEntries, [], "entry 1 is committed but not yet durable")
        node.advance(first)
        let second = node.ready()
        XCTAssertEqual(second.committedEntries.map(\.index), [1])
        XCTAssertEqual(second.entries, [])
        node.advance(second)
        XCTAssertFalse(node.hasReady)
        XCTAssertTrue(node.isVoter, "the founding membership took effect when applied")
    }

    /// While a Ready is being persisted, the messages that may leave at once (a leader's
    /// heartbeats and appends) can be taken out; those that promise something about the disk
    /// wait for the next Ready.
    func testMessagesThatMayLeaveAtOnceAreTakenWhileAReadyIsPersisted() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        net.stabilize()
        try net[1].propose([bytes("a")])
        let inFlight = net[1].ready()
        XCTAssertEqual(inFlight.entries.map(\.kind), [.normal], "the proposal is being persisted")
        for _ in 0..<net[1].config.heartbeatIntervalTicks { net[1].tick() }
        try net[1].propose([bytes("b")])
        let taken = net[1].takeMessages()
        XCTAssertEqual(Set(taken.filter { if case .heartbeat = $0.body { true } else { false } }.map(\.to)), [2, 3])
        XCTAssertTrue(taken.contains { $0.body.isAppendWithEntries }, "the second proposal is replicated before the first is durable")
        XCTAssertTrue(net[1].takeMessages().isEmpty, "each message is taken once")

        // A follower's acknowledgement is a promise: it waits for its Ready.
        net[2].step(Message(from: 1, to: 2, term: net[1].term, body: .append(prevIndex: net[2].lastIndex, prevTerm: net[2].term(at: net[2].lastIndex)!,
                                                                            entries: inFlight.entries, commit: net[1].commitIndex)))
        XCTAssertTrue(net[2].takeMessages().isEmpty)
        XCTAssertTrue(net[2].ready().messagesAfterPersist.contains { if case .appendResponse(.success) = $0.body { true } else { false } })
        net[1].advance(inFlight)
    }
}
