import Gossip
import NIOCore
import Raft

/// Gossip and Raft membership: gossip finds nodes and notices deaths; Raft decides who
/// votes. The leader takes a node gossip sees alive into the group as a learner, promotes
/// it once it has caught up, and removes one that asked to leave over its own
/// authenticated peer link; what gossip says of a member (left, dead) removes no one. A
/// dead member stays a voter until an operator removes it: the quorum never shrinks on
/// its own.
extension NodeCore {
    /// Entries a learner may lag behind the commit index and still count as caught up.
    static let learnerLagMax: LogIndex = 64

    func gossipEvent(_ event: GossipEvent) {
        guard !stopped else { return }
        let member = event.member
        gossipMembers[member.id] = member
        switch event {
        case .joined, .alive:
            let peer = member.addresses.peer
            transport?.addPeer(member.id, at: PeerAddress(host: peer.host, port: Int(peer.port)))
        case .dead:
            logger.warning("gossip reports a member dead", metadata: ["member": "\(member.id)"])
            leaderMayBeGone(member.id, reason: "gossip reports it dead")
        case .suspect, .left, .alarms:
            break
        }
        alarmsMayHaveChanged()
        reconcileMembership()
    }

    /// News that `node` is gone: if it is this follower's leader, campaign within a few
    /// ticks rather than after the election timeout (see `RaftNode.leaderReportedDead`).
    func leaderMayBeGone(_ node: NodeID, reason: String) {
        guard !stopped, group.leaderReportedDead(node) else { return }
        logger.info("the leader may be gone; campaigning soon", metadata: ["leader": "\(node)", "reason": "\(reason)"])
    }

    /// On the leader: one membership change toward what gossip sees, if any is due. Raft
    /// takes one change at a time; a refused proposal is tried again at the next round.
    func reconcileMembership() {
        guard !stopped, group.core.role == .leader, let change = dueMembershipChange() else { return }
        do {
            try group.proposeMembershipChange(change)
            logger.info("proposed a membership change", metadata: ["change": "\(change)"])
            scheduleFlush()
        } catch {
            // A change is still pending: the next round proposes this one again.
        }
    }

    private func dueMembershipChange() -> MembershipChange? {
        let membership = group.core.membership
        for member in gossipMembers.values.sorted(by: { $0.id < $1.id }) {
            switch member.status {
            case .alive, .suspect:
                if !membership.contains(member.id), !removedNodes.contains(member.id) { return .addLearner(member.id) }
            case .left, .dead:
                break
            }
        }
        leaveRequests.formIntersection(membership.all)
        // The last voter cannot leave: there would be no group left to say so.
        if let leaver = leaveRequests.sorted().first(where: { membership.voters != [$0] }) { return .removeNode(leaver) }
        for learner in membership.learners.sorted() {
            let match = group.core.matchIndex(of: learner) ?? 0
            if match + Self.learnerLagMax >= group.core.commitIndex, match > 0 { return .promoteLearner(learner) }
        }
        return nil
    }

    /// An operator removes `node` (`berth remove`), typically a dead one. Only the leader
    /// proposes it; the node is not taken back as a learner while this node leads.
    func remove(_ node: NodeID) throws {
        guard group.core.role == .leader else { throw NodeError.notLeader }
        guard group.core.membership.contains(node) else { throw MembershipError.notAMember(node) }
        guard group.core.membership.voters != [node] else { throw MembershipError.lastVoter(node) }
        removedNodes.insert(node)
        try group.proposeMembershipChange(.removeNode(node))
        scheduleFlush()
    }

    /// This node leaves the group: a leader proposes its own removal (and steps down once
    /// it is committed); a follower asks its leader to, over its peer link. Called again
    /// until the removal is in this node's log (a request may be lost, a leader change).
    func proposeOwnRemoval() {
        let me = group.core.id
        guard group.core.membership.contains(me), group.core.membership.voters != [me] else { return }
        if group.core.role == .leader {
            _ = try? group.proposeMembershipChange(.removeNode(me))
            scheduleFlush()
        } else if let leader = group.core.softState.leader, leader != me {
            transport?.send(.leave(group: Self.groupID), to: leader)
        }
    }

    /// On the leader: `node` asked, over its own link, to leave the group. It is removed
    /// (one change at a time) and not taken back as a learner while this node leads.
    func leaveRequested(by node: NodeID, group requested: UInt64) {
        guard !stopped, requested == Self.groupID, group.core.role == .leader, group.core.membership.contains(node) else { return }
        if leaveRequests.insert(node).inserted {
            logger.info("a member asked to leave", metadata: ["member": "\(node)"])
        }
        removedNodes.insert(node)
        reconcileMembership()
    }

    /// Whether the applied membership still holds this node.
    var isMember: Bool { group.core.membership.contains(group.core.id) }
}

enum MembershipError: Error, CustomStringConvertible {
    case notAMember(NodeID)
    case lastVoter(NodeID)

    var description: String {
        switch self {
        case .notAMember(let node): "node \(node) is not a member of the group"
        case .lastVoter(let node): "node \(node) is the last voter; the group cannot remove it"
        }
    }
}
