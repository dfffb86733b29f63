import XCTest

// Not @testable: what an operator's status page reads must be public.
import Raft

/// What the leader tells about each follower: how far its log matches and how it is being sent.
final class ReplicationObserverTests: XCTestCase {
    func testOnlyTheLeaderReportsEachOtherMembersMatchAndMode() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.isolate(3)
        net.elect(1)
        try net[1].propose([bytes("a")])
        net.stabilize()

        XCTAssertEqual(net[1].matchIndex(of: 2), net[1].lastIndex)
        XCTAssertEqual(net[1].replicationMode(of: 2), .replicate)
        XCTAssertEqual(net[1].matchIndex(of: 3), 0, "cut off since before the election")
        XCTAssertEqual(net[1].replicationMode(of: 3), .probe)
        XCTAssertNil(net[1].replicationMode(of: 1), "the leader keeps no progress for itself")
        XCTAssertNil(net[1].replicationMode(of: 9), "not a member")
        XCTAssertNil(net[2].replicationMode(of: 3), "a follower has no view of the others")
        XCTAssertNil(net[2].matchIndex(of: 3))
    }

    func testAFollowerBehindTheCompactionPointIsInSnapshotModeUntilItCatchesUp() throws {
        // Keeping no log for a follower behind it, the leader must send node 3 a snapshot.
        let net = TestNetwork(voters: [1, 2, 3]) {
            $0.snapshotChunkBytesMax = 64
            $0.laggingFollowerLogBytesMax = 0
        }
        net.elect(1)
        net.isolate(3)
        for i in 0..<20 {
            try net[1].propose([Array(repeating: UInt8(i), count: 20)])
            net.stabilize()
        }
        net.compact(1)
        net.heal()
        var holdingChunks = true
        net.dropRules.append { holdingChunks && $0.body.snapshotChunk != nil }
        net.tick([1], until: { net[1].replicationMode(of: 3) == .snapshot }, timesMax: 10)
        XCTAssertLessThan(net[1].matchIndex(of: 3)!, net[1].firstIndex, "it lacks entries the leader dropped")

        holdingChunks = false
        net.tick([1], until: { net[1].matchIndex(of: 3) == net[1].lastIndex }, timesMax: 20)
        XCTAssertEqual(net[1].replicationMode(of: 3), .replicate)
    }
}
