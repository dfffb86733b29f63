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

    func testFollowersWaitOutALongerTimeoutBeforeTheyReplaceASilentLeader() async throws {
        // A thread per node: the leader's loop is held, the followers' run.
        let cluster = LocalCluster(name: "election-timeout", threads: 3) { $0.electionTimeoutMs = 1_000 }
        let nodes = try await cluster.start(size: 3)
        let first = try await cluster.leader(of: nodes, seconds: 20)
        let followers = nodes.filter { $0.key != first }
        let lost = ContinuousClock.now
        let held = cluster.holdLoop(of: nodes[first]!, for: .seconds(4))
        let second = try await cluster.leader(of: followers, seconds: 20)
        let waited = ContinuousClock.now - lost
        // No follower campaigns before a full timeout without its leader (heartbeats come
        // every 10 ms, so the last one was at most that long before the silence).
        XCTAssertGreaterThanOrEqual(waited, .milliseconds(980), "a new leader (node \(second)) after \(waited)")
        try await held.waitForRelease()
        for node in nodes.values { try await node.shutdown() }
        try await cluster.tearDown()
    }

    /// A leader whose process ends closes its peer links; its followers take that as news of
    /// its death and elect a successor within a third of the timeout, not after all of it.
    func testFollowersReplaceALeaderWhoseLinksCloseWithoutWaitingOutTheTimeout() async throws {
        let cluster = LocalCluster(name: "election-link-closed") { $0.electionTimeoutMs = 1_000 }
        var nodes = try await cluster.start(size: 3)
        let first = try await cluster.leader(of: nodes, seconds: 20)
        let lost = ContinuousClock.now
        try await nodes.removeValue(forKey: first)?.shutdown()
        let second = try await cluster.leader(of: nodes, seconds: 20)
        let waited = ContinuousClock.now - lost
        XCTAssertNotEqual(second, first)
        XCTAssertLessThan(waited, .milliseconds(900), "a new leader after \(waited), with a 1 s election timeout")
        for node in nodes.values { try await node.shutdown() }
        try await cluster.tearDown()
    }
}
