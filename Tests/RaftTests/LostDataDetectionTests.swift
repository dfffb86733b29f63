import XCTest

@testable import Raft

/// A follower told a commit index past its own log lost entries it had acknowledged: it
/// notes why and takes part in nothing more, rather than trap.
final class LostDataDetectionTests: XCTestCase {
    func testAFollowerToldToCommitPastItsLogStopsTakingPart() throws {
        var node = try RaftNode(config: Config(id: 3, randomSeed: 5), bootstrapVoters: [1, 2, 3])
        node.advance(node.ready())
        node.step(Message(from: 1, to: 3, term: 4, body: .heartbeat(commit: 90, readContext: 0)))
        XCTAssertEqual(node.lostData, RaftNode.LostData(leader: 1, leaderCommit: 90, lastIndex: 1))
        XCTAssertEqual(node.commitIndex, 1)
        _ = node.ready()
        for _ in 0..<100 { node.tick() }
        node.step(Message(from: 2, to: 3, term: 9, body: .vote(lastIndex: 1, lastTerm: 1, leadershipTransfer: false)))
        XCTAssertEqual(node.role, .follower, "it never campaigns")
        XCTAssertTrue(node.takeMessages().isEmpty, "and answers nobody")
        XCTAssertEqual(node.term, 4, "not even to take a higher term")
    }
}
