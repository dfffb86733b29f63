import XCTest

@testable import Raft

/// Log replication (Raft §5.3) and etcd's flow control: probe and replicate states,
/// pipelining bounded by inflights, batching, and conflict backoff by term.
final class ReplicationTests: XCTestCase {
    /// §5.3 Log Matching / State Machine Safety: every node applies the same entries in order.
    func testProposalsAreCommittedAndAppliedOnAllNodesInOrder() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        for i in 0..<20 {
            try net[1].propose([bytes("p\(i)")])
            if i % 3 == 0 { net.stabilize() }
        }
        try net[1].propose((20..<25).map { bytes("p\($0)") })
        net.stabilize()
        let expected = (0..<25).map { bytes("p\($0)") }
        for id: NodeID in [1, 2, 3] {
            XCTAssertEqual(net.applied[id], expected, "node \(id)")
            XCTAssertEqual(net[id].commitIndex, net[1].lastIndex, "node \(id)")
        }
    }

    /// etcd StateReplicate: appends stream without waiting for answers, at most
    /// `inflightAppendsMax` at a time; what does not fit goes out in batches as answers come.
    func testReplicateStatePipelinesAppendsUpToInflightAppendsMax() throws {
        let net = TestNetwork(voters: [1, 2, 3]) { $0.inflightAppendsMax = 4 }
        net.elect(1)
        XCTAssertEqual(net[1].progress[2]?.state, .replicate)
        net.clearHistory()
        for i in 0..<10 {
            try net[1].propose([bytes("p\(i)")])
            net.processReady(1)
        }
        let inFlight = net.queue.filter { $0.to == 2 && $0.body.isAppendWithEntries }
        XCTAssertGreaterThan(inFlight.count, 1, "several appends in flight before any answer")
        XCTAssertEqual(inFlight.count, 4, "and no more than inflightAppendsMax")
        net.stabilize()
        XCTAssertEqual(net.applied[2], (0..<10).map { bytes("p\($0)") })
        XCTAssertTrue(net.sent.contains { $0.to == 2 && $0.body.appendedEntries.count > 1 },
                      "the entries held back went out together")
    }

    /// etcd StateProbe: until a follower's position is known, one append at a time; the first
    /// accepted append moves it to replicate.
    func testProgressMovesFromProbeToReplicate() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.isolate(3)
        net.elect(1)
        XCTAssertEqual(net[1].progress[2]?.state, .replicate)
        XCTAssertEqual(net[1].progress[3]?.state, .probe)
        net.clearHistory()
        for i in 0..<3 {
            try net[1].propose([bytes("p\(i)")])
            net.stabilize()
        }
        XCTAssertTrue(net.sent(where: { $0.to == 3 && $0.body.isAppendWithEntries }).isEmpty,
                      "a probe is outstanding: no more appends until it is answered")
        net.heal()
        net.tick([1], until: { net[1].progress[3]?.state == .replicate }, timesMax: 3)
        XCTAssertEqual(net.applied[3], net.applied[1])
    }

    /// etcd MaxMsgSize / entries per message: one append carries several entries, never more
    /// than `appendEntriesMax`.
    func testAppendBatchesRespectAppendEntriesMax() throws {
        let net = TestNetwork(voters: [1, 2, 3]) { $0.appendEntriesMax = 3 }
        net.elect(1)
        net.isolate(3)
        for i in 0..<10 {
            try net[1].propose([bytes("p\(i)")])
            net.stabilize()
        }
        net.heal()
        net.clearHistory()
        net.tick([1], until: { net.applied[3] == net.applied[1] }, timesMax: 10)
        let appends = net.sent(where: { $0.to == 3 && $0.body.isAppendWithEntries })
        XCTAssertTrue(appends.contains { $0.body.appendedEntries.count > 1 }, "batched")
        XCTAssertTrue(appends.allSatisfy { $0.body.appendedEntries.count <= 3 }, appends.description)
    }

    /// One append carries no more than `appendBytesMax` of payload, unless a single entry;
    /// an entry larger than that goes alone.
    func testAppendBatchesRespectAppendBytesMax() throws {
        let net = TestNetwork(voters: [1, 2, 3]) {
            $0.appendBytesMax = 25
            $0.entryBytesMax = 40
        }
        net.elect(1)
        net.isolate(3)
        for i in 0..<9 {
            try net[1].propose([Array(repeating: UInt8(i), count: 10)])
            net.stabilize()
        }
        try net[1].propose([Array(repeating: 9, count: 40)])
        net.stabilize()
        net.heal()
        net.clearHistory()
        net.tick([1], until: { net.applied[3] == net.applied[1] }, timesMax: 20)
        let appends = net.sent(where: { $0.to == 3 && $0.body.isAppendWithEntries })
        XCTAssertTrue(appends.contains { $0.body.appendedEntries.count == 2 }, "two 10-byte entries fit in 25 bytes")
        XCTAssertTrue(appends.contains { $0.body.appendedEntries.map(\.payloadBytes) == [40] }, "the 40-byte entry went alone")
        for append in appends {
            let entries = append.body.appendedEntries
            let payload = entries.reduce(0) { $0 + $1.payloadBytes }
            XCTAssertTrue(payload <= 25 || entries.count == 1, "\(payload) bytes in \(entries.count) entries")
        }
    }

    /// Raft §5.3 (the optimization at its end) / etcd's fast log rejection: a follower with a
    /// long divergent tail is repaired in about one round trip per divergent term, not one per
    /// entry. Follower 3 holds 25 entries of term 3 that no leader kept; the leader's log has
    /// terms 2 and 4 over that range.
    func testDivergentTailIsRepairedInOneRejectionPerTerm() {
        let leaderLog = TestNetwork.log(voters: [1, 2, 3], terms: [1, 1, 1, 1] + Array(repeating: 2, count: 5) + Array(repeating: 4, count: 5))
        let followerLog = TestNetwork.log(voters: [1, 2, 3], terms: [1, 1, 1, 1] + Array(repeating: 3, count: 25))
        let net = TestNetwork(recovered: [
            1: .init(hardState: HardState(term: 4, commit: 5), entries: leaderLog),
            2: .init(hardState: HardState(term: 4, commit: 5), entries: leaderLog),
            3: .init(hardState: HardState(term: 3, commit: 5), entries: followerLog),
        ])
        net.clearHistory()
        net.elect(1)
        net.stabilize()
        let rejections = net.sent(where: { $0.from == 3 && $0.body.isAppendReject })
        XCTAssertLessThanOrEqual(rejections.count, 2, "\(rejections)")
        XCTAssertEqual(net[3].lastIndex, net[1].lastIndex)
        for index in 1...net[1].lastIndex {
            XCTAssertEqual(net[3].entry(at: index), net[1].entry(at: index), "index \(index)")
        }
        XCTAssertEqual(net[3].commitIndex, net[1].commitIndex)
    }

    /// The same with a follower whose old-term tail runs far past the leader's last index:
    /// a single rejection finds the point of divergence.
    func testLongerDivergentTailOfOneOldTermNeedsOneRejection() {
        let leaderLog = TestNetwork.log(voters: [1, 2, 3], terms: [1, 1, 1, 1, 3, 3, 3])
        let followerLog = TestNetwork.log(voters: [1, 2, 3], terms: [1, 1, 1, 1] + Array(repeating: 2, count: 35))
        let net = TestNetwork(recovered: [
            1: .init(hardState: HardState(term: 3, commit: 5), entries: leaderLog),
            2: .init(hardState: HardState(term: 3, commit: 5), entries: leaderLog),
            3: .init(hardState: HardState(term: 2, commit: 5), entries: followerLog),
        ])
        net.clearHistory()
        net.elect(1)
        net.stabilize()
        XCTAssertEqual(net.sent(where: { $0.from == 3 && $0.body.isAppendReject }).count, 1)
        XCTAssertEqual(net[3].lastIndex, net[1].lastIndex)
        XCTAssertEqual(net[3].term(at: 6), 3)
    }
}
