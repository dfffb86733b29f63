import Broker
import Gossip
import Raft
import StatusAPI

/// The status API's answers, read on the core's event loop like everything else of the core.
extension NodeCore {
    var nodeStatus: NodeStatus {
        let raft = group.core
        var peers: [PeerStatus]?
        if raft.role == .leader {
            peers = raft.membership.all.subtracting([raft.id]).sorted().compactMap { member in
                guard let match = raft.matchIndex(of: member), let mode = raft.replicationMode(of: member) else { return nil }
                // A match never passes the leader's own log; `min` keeps a status read from trapping if it did.
                return PeerStatus(id: member, matchIndex: match, lag: raft.lastIndex - min(match, raft.lastIndex), mode: mode.rawValue)
            }
        }
        return NodeStatus(
            id: raft.id, role: role(of: raft), serving: isLeading, term: raft.term, leader: raft.leader,
            commitIndex: raft.commitIndex, appliedIndex: raft.appliedIndex, firstIndex: raft.firstIndex, lastIndex: raft.lastIndex,
            voters: raft.membership.voters.sorted(), learners: raft.membership.learners.sorted(), members: gossipMembersStatus, peers: peers)
    }

    /// Gossip's view, this node's own record first among equals (sorted by id).
    private var gossipMembersStatus: [MemberStatus]? {
        guard let gossip else { return nil }
        var members = gossipMembers
        if let myself = gossip.myself { members[myself.id] = myself }
        return members.values.sorted { $0.id < $1.id }.map { member in
            MemberStatus(id: member.id, status: "\(member.status)", incarnation: member.incarnation, peer: "\(member.addresses.peer)",
                         amqp: "\(member.addresses.amqp)", http: "\(member.addresses.http)")
        }
    }

    var queuesStatus: QueuesStatus {
        let queues = state.allQueueNames.compactMap { name -> QueueStatus? in
            guard let queue = state.queue(name) else { return nil }
            var status = QueueStatus(
                vhost: name.vhost, name: name.name, durable: queue.durable, exclusive: queue.exclusiveOwner != nil,
                autoDelete: queue.autoDelete, arguments: [:], messages: queue.deliverableCount,
                pendingDeadLetters: queue.pendingDeadLetterCount > 0 ? queue.pendingDeadLetterCount : nil)
            for entry in queue.arguments.entries where status.arguments[entry.key] == nil {
                // The first entry of a key is the one in force, as for lookups.
                status.arguments[entry.key] = entry.value.erlangText
            }
            // Only the dispatcher knows what is out at consumers, and only the leader has one.
            if isLeading {
                let counts = counts(of: name)
                status.ready = counts.messages
                status.unacked = messagesOut(of: name).count
                status.consumers = counts.consumers
            }
            return status
        }
        return QueuesStatus(node: group.core.id, leader: leader, queues: queues)
    }

    var healthStatus: HealthStatus {
        HealthStatus(status: leader == nil ? "no leader" : "ok", node: group.core.id, term: group.core.term, leader: leader)
    }

    func role(of raft: RaftNode) -> NodeRole {
        switch raft.role {
        case .leader: return .leader
        case .candidate: return .candidate
        case .preCandidate: return .preCandidate
        case .follower: return raft.membership.learners.contains(raft.id) ? .learner : .follower
        }
    }
}
