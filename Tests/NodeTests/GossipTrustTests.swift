import Auth
import Gossip
import NIOCore
import NIOPosix
@testable import Node
import Raft
import XCTest

/// What gossip says of a member decides nothing Raft holds: a voter leaves the group only
/// when it asks over its own authenticated peer link.
final class GossipTrustTests: XCTestCase {
    private var cluster: LocalCluster!

    override func setUp() {
        cluster = LocalCluster(name: "gossip-trust")
    }

    override func tearDown() async throws {
        try await cluster.tearDown()
    }

    /// A `leave` for a live follower, sealed with the cluster's key as a member's datagram
    /// would be (a member gone wrong), makes the leader's gossip see the follower left; the
    /// follower stays a voter, and no change of membership is under way.
    func testALeaveThatGossipBelievesRemovesNoVoter() async throws {
        let nodes = try await cluster.start(size: 3)
        let leader = try await cluster.leader(of: nodes)
        let follower = nodes.keys.sorted().first { $0 != leader }!
        try await waitUntil("the leader's gossip sees node \(follower) alive") {
            try await self.gossipStatus(of: follower, at: nodes[leader]!) == "alive"
        }

        let peer = try XCTUnwrap(cluster.peers[follower])
        let address = SWIM.HostPort(host: peer.host, port: UInt16(peer.port))
        let left = SWIM.Member(
            id: follower, incarnation: SWIM.incarnationMax, status: .left, addresses: SWIM.Addresses(peer: address, amqp: address, http: address))
        var sealer = GossipSealer(
            key: GossipSeal.key(secret: cluster.configuration(follower).clusterSecret), sender: follower, epoch: UInt64.max)
        let datagram = sealer.seal(SWIM.Message(from: follower, sequence: 1, body: .leave(left)).encoded())
        let leaderPeer = try XCTUnwrap(cluster.peers[leader])
        let socket = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        try await socket.writeAndFlush(AddressedEnvelope(
            remoteAddress: try SocketAddress(ipAddress: leaderPeer.host, port: leaderPeer.port), data: ByteBuffer(bytes: datagram)))
        try await socket.close()

        try await waitUntil("the leader's gossip takes node \(follower) for left") {
            try await self.gossipStatus(of: follower, at: nodes[leader]!) == "left"
        }
        // The leader reconciled its membership with that view as it came (`gossipEvent`).
        let (voters, newest) = try await nodes[leader]!.statusReaderMembership()
        XCTAssertTrue(voters.contains(follower), "node \(follower) is still a voter")
        XCTAssertTrue(newest.voters.contains(follower), "and no change removes it")
        for node in nodes.values { try await node.shutdown() }
    }

    private func gossipStatus(of member: NodeID, at node: BerthNode) async throws -> String? {
        try await node.nodeStatus().members?.first { $0.id == member }?.status
    }

    private func waitUntil(_ what: String, seconds: Double = 10, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw TimedOut(what: what) }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

private struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "not within the time: \(what)" }
}

extension BerthNode {
    /// The applied voters and the newest membership in the log, however far it is.
    fileprivate func statusReaderMembership() async throws -> (voters: Set<NodeID>, newest: Membership) {
        try await statusReader.read { ($0.group.core.membership.voters, $0.group.core.newestMembership) }
    }
}
