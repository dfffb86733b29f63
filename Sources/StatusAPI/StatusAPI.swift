import Raft

// The JSON bodies of the node's HTTP status API. Field names are part of the API: tools read
// them, so a rename is a breaking change. Absent values are written as `null`, never left out.

/// `GET /api/berth/node`: this node's view of its Raft group.
///
/// - `id`: this node's id.
/// - `role`: `"leader"`, `"follower"`, `"candidate"`, `"pre-candidate"`, or `"learner"` (a
///   member that receives the log but does not vote).
/// - `serving`: whether it serves AMQP clients: a leader that has applied its own term's first
///   entry (a new leader does not serve before).
/// - `term`: its current term.
/// - `leader`: the leader's id as this node knows it, `null` if it knows none.
/// - `commitIndex`, `appliedIndex`: the last committed and the last applied log index.
/// - `firstIndex`, `lastIndex`: the span of log entries it holds (earlier ones are in its
///   snapshot; `firstIndex` is `lastIndex + 1` when it holds none).
/// - `voters`, `learners`: the group's members by id, ascending.
/// - `members`: the cluster as this node's gossip sees it, by id, this node included: `id`,
///   `status` (`"alive"`, `"suspect"`, `"dead"` or `"left"`), `incarnation`, and the member's
///   `peer`, `amqp` and `http` addresses as `HOST:PORT`; `null` on a lone node.
/// - `peers`: on the leader, one object per other member, by id: `id`; `matchIndex`, how far
///   that member's log is known to match the leader's; `lag`, the leader's `lastIndex` minus
///   `matchIndex`; `mode`, how the leader sends to it: `"replicate"` (keeping up), `"probe"`
///   (looking for where its log ends) or `"snapshot"` (it needs a snapshot). `null` on every
///   other node, which does not track the others.
public struct NodeStatus: Codable, Sendable, Equatable {
    public var id: NodeID
    public var role: NodeRole
    public var serving: Bool
    public var term: Term
    public var leader: NodeID?
    public var commitIndex: LogIndex
    public var appliedIndex: LogIndex
    public var firstIndex: LogIndex
    public var lastIndex: LogIndex
    public var voters: [NodeID]
    public var learners: [NodeID]
    public var members: [MemberStatus]?
    public var peers: [PeerStatus]?

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(role, forKey: .role)
        try container.encode(serving, forKey: .serving)
        try container.encode(term, forKey: .term)
        try container.encode(leader, forKey: .leader)
        try container.encode(commitIndex, forKey: .commitIndex)
        try container.encode(appliedIndex, forKey: .appliedIndex)
        try container.encode(firstIndex, forKey: .firstIndex)
        try container.encode(lastIndex, forKey: .lastIndex)
        try container.encode(voters, forKey: .voters)
        try container.encode(learners, forKey: .learners)
        try container.encode(members, forKey: .members)
        try container.encode(peers, forKey: .peers)
    }

    public init(id: NodeID, role: NodeRole, serving: Bool, term: Term, leader: NodeID? = nil, commitIndex: LogIndex, appliedIndex: LogIndex, firstIndex: LogIndex, lastIndex: LogIndex, voters: [NodeID], learners: [NodeID], members: [MemberStatus]? = nil, peers: [PeerStatus]? = nil) {
        self.id = id
        self.role = role
        self.serving = serving
        self.term = term
        self.leader = leader
        self.commitIndex = commitIndex
        self.appliedIndex = appliedIndex
        self.firstIndex = firstIndex
        self.lastIndex = lastIndex
        self.voters = voters
        self.learners = learners
        self.members = members
        self.peers = peers
    }
}

/// One member as gossip sees it (see `NodeStatus.members`).
public struct MemberStatus: Codable, Sendable, Equatable {
    public var id: NodeID
    public var status: String
    public var incarnation: UInt64
    public var peer: String
    public var amqp: String
    public var http: String

    public init(id: NodeID, status: String, incarnation: UInt64, peer: String, amqp: String, http: String) {
        self.id = id
        self.status = status
        self.incarnation = incarnation
        self.peer = peer
        self.amqp = amqp
        self.http = http
    }
}

/// A node's part in its Raft group, as `/api/berth/node` spells it.
public enum NodeRole: String, Codable, Sendable, Equatable, CaseIterable {
    case leader, follower, candidate
    case preCandidate = "pre-candidate"
    case learner
}

/// The leader's view of one other member; see `NodeStatus.peers`.
public struct PeerStatus: Codable, Sendable, Equatable {
    public var id: NodeID
    public var matchIndex: LogIndex
    public var lag: UInt64
    public var mode: String

    public init(id: NodeID, matchIndex: LogIndex, lag: UInt64, mode: String) {
        self.id = id
        self.matchIndex = matchIndex
        self.lag = lag
        self.mode = mode
    }
}

/// `GET /api/berth/queues`: every queue in the replicated state, with the leader's delivery counts.
///
/// - `node`: the answering node's id. `leader`: the leader's id as it knows it, `null` if none;
///   only the node where the two are equal can fill in `ready`, `unacked` and `consumers`.
/// - `queues`: ordered by vhost, then name. Each has `vhost`, `name`, `durable`, `exclusive`,
///   `autoDelete`; `arguments`, each declared argument's value as text (`{"x-max-length":
///   "100"}`); `messages`, what the queue holds in the replicated state, ready and
///   unacknowledged together; and, from the leader's dispatcher, `ready` (not out at a
///   consumer), `unacked` (out, not yet settled) and `consumers`. Those three are `null` on a
///   follower, and on a leader that does not serve yet.
public struct QueuesStatus: Codable, Sendable, Equatable {
    public var node: NodeID
    public var leader: NodeID?
    public var queues: [QueueStatus]

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(node, forKey: .node)
        try container.encode(leader, forKey: .leader)
        try container.encode(queues, forKey: .queues)
    }

    public init(node: NodeID, leader: NodeID? = nil, queues: [QueueStatus]) {
        self.node = node
        self.leader = leader
        self.queues = queues
    }
}

/// One queue of `QueuesStatus`.
public struct QueueStatus: Codable, Sendable, Equatable {
    public var vhost: String
    public var name: String
    public var durable: Bool
    public var exclusive: Bool
    public var autoDelete: Bool
    public var arguments: [String: String]
    /// Ready and out at consumers, as RabbitMQ counts `messages`.
    public var messages: Int
    public var ready: Int?
    public var unacked: Int?
    public var consumers: Int?
    /// Dead-lettered at least once and waiting in this queue for a target to take them
    /// (RabbitMQ's `messages_dlx`); absent for none.
    public var pendingDeadLetters: Int?

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(vhost, forKey: .vhost)
        try container.encode(name, forKey: .name)
        try container.encode(durable, forKey: .durable)
        try container.encode(exclusive, forKey: .exclusive)
        try container.encode(autoDelete, forKey: .autoDelete)
        try container.encode(arguments, forKey: .arguments)
        try container.encode(messages, forKey: .messages)
        try container.encode(ready, forKey: .ready)
        try container.encode(unacked, forKey: .unacked)
        try container.encode(consumers, forKey: .consumers)
        try container.encodeIfPresent(pendingDeadLetters, forKey: .pendingDeadLetters)
    }

    public init(
        vhost: String, name: String, durable: Bool, exclusive: Bool, autoDelete: Bool, arguments: [String: String], messages: Int, ready: Int? = nil,
        unacked: Int? = nil, consumers: Int? = nil, pendingDeadLetters: Int? = nil
    ) {
        self.vhost = vhost
        self.name = name
        self.durable = durable
        self.exclusive = exclusive
        self.autoDelete = autoDelete
        self.arguments = arguments
        self.messages = messages
        self.ready = ready
        self.unacked = unacked
        self.consumers = consumers
        self.pendingDeadLetters = pendingDeadLetters
    }
}

/// `GET /api/berth/health`: status 200 when this node knows a leader, 503 when it does not.
///
/// - `status`: `"ok"` or `"no leader"`.
/// - `node`: the answering node's id; `term`: its term; `leader`: the leader's id, `null` if none.
public struct HealthStatus: Codable, Sendable, Equatable {
    public var status: String
    public var node: NodeID
    public var term: Term
    public var leader: NodeID?

    public var isHealthy: Bool { leader != nil }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(status, forKey: .status)
        try container.encode(node, forKey: .node)
        try container.encode(term, forKey: .term)
        try container.encode(leader, forKey: .leader)
    }

    public init(status: String, node: NodeID, term: Term, leader: NodeID? = nil) {
        self.status = status
        self.node = node
        self.term = term
        self.leader = leader
    }
}

/// The answer to `POST /api/berth/leave` and `DELETE /api/berth/members/ID`: whether it was done, and why
/// not.
public struct ActionResult: Codable, Sendable, Equatable {
    public var done: Bool
    public var message: String

    public init(done: Bool, message: String) {
        self.done = done
        self.message = message
    }
}
