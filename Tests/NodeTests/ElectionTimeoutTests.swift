import Node
import Raft
import XCTest

/// The election timeout is the operator's to set: members that tolerate longer silences
/// (links with a long round trip) wait that long before they replace a leader.
final class ElectionTimeoutTests: XCTestCase {
    func testTimeoutInTicksRoundsUpAndKeepsTwoTicksAtLeast() {
        var configuration = NodeConfiguration(dataDirectory: "/nonexistent")
        XCTAssertEqual(configuration.electionTimeoutTicks, 30, "the default: 300 ms of 10 ms ticks")
        configuration.electionTimeoutMs = 1_000
        XCTAssertEqual(configuration.electionTimeoutTicks, 100)
        configuration.electionTimeoutMs = 15
        XCTAssertEqual(configuration.electionTimeoutTicks, 2)
        configuration.electionTimeoutMs = 101
        XCTAssertEqual(configuration.electionTimeoutTicks, 11)
    }

    func testFollowersWaitOutALongerTimeoutBeforeTheyReplaceALostLeader() async throws {
        let cluster = LocalCluster(name: "election-timeout") { $0.electionTimeoutMs = 1_000 }
        var nodes = try await cluster.start(size: 3)
        let first = try await cluster.leader(of: nodes, seconds: 20)
        let lost = ContinuousClock.now
        try await nodes.removeValue(forKey: first)?.shutdown()
        let second = try await cluster.leader(of: nodes, seconds: 20)
        let waited = ContinuousClock.now - lost
        XCTAssertNotEqual(second, first)
        // No follower campaigns before a full timeout without its leader (heartbeats come
        // every 10 ms, so the last one was at most that long before the loss).
        XCTAssertGreaterThanOrEqual(waited, .milliseconds(980), "a new leader after \(waited)")
        for node in nodes.values { try await node.shutdown() }
        try await cluster.tearDown()
    }
}
