/// A node's identity within a Raft group. Zero is reserved for "none".
public typealias NodeID = UInt64
/// A Raft term: a logical clock that only moves forward.
public typealias Term = UInt64
/// A position in the replicated log; the first entry has index 1.
public typealias LogIndex = UInt64

/// One record of the replicated log.
public struct Entry: Equatable, Sendable {
    public enum Kind: UInt8, Sendable {
        /// Application data, handed to the state machine when committed.
        case normal = 0
        /// An encoded `Membership`, applied by the core itself when committed.
        case membershipChange = 1
        /// The entry a new leader appends to commit its term; carries no data.
        case empty = 2
    }

    public var term: Term
    public var index: LogIndex
    public var kind: Kind
    public var data: [UInt8] {
        get { storedData }
        set {
            storedData = newValue
            payloadBytes = newValue.count
        }
    }
    private var storedData: [UInt8]
    /// The size counted against the byte bounds of `Config`: the data's, kept when the
    /// core drops the data of an entry that is on disk (`RaftLog.evict`).
    public private(set) var payloadBytes: Int

    public init(term: Term, index: LogIndex, kind: Kind = .normal, data: [UInt8] = []) {
        self.term = term
        self.index = index
        self.kind = kind
        storedData = data
        payloadBytes = data.count
    }

    /// The entry without its data, which is on disk: what the log keeps of an old entry.
    func droppingData() -> Entry {
        var entry = self
        entry.storedData = []
        return entry
    }
}

/// What must survive a crash besides the log: the current term, the vote cast in it,
/// and the commit index (a hint; it may be persisted lazily).
public struct HardState: Equatable, Sendable {
    public var term: Term
    public var vote: NodeID?
    public var commit: LogIndex

    public init(term: Term = 0, vote: NodeID? = nil, commit: LogIndex = 0) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }
}

/// The group's members: voters decide elections and commitment, learners only follow.
public struct Membership: Equatable, Sendable {
    public var voters: Set<NodeID>
    public var learners: Set<NodeID>

    public init(voters: Set<NodeID> = [], learners: Set<NodeID> = []) {
        precondition(voters.isDisjoint(with: learners), "a node is either a voter or a learner")
        self.voters = voters
        self.learners = learners
    }

    public var all: Set<NodeID> { voters.union(learners) }
    public func contains(_ id: NodeID) -> Bool { voters.contains(id) || learners.contains(id) }
    public var quorum: Int { voters.count / 2 + 1 }

    /// The whole membership is stored in each membership entry, so a node replaying the
    /// log from the start (a new member) reaches the same membership as everyone else.
    /// Layout: voter count, voter ids, learner count, learner ids; all u64 little-endian,
    /// ids sorted so that equal memberships encode to equal bytes.
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16 + 8 * (voters.count + learners.count))
        func put(_ value: UInt64) {
            for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        }
        for group in [voters.sorted(), learners.sorted()] {
            put(UInt64(group.count))
            group.forEach(put)
        }
        return bytes
    }

    public init?(encoded bytes: [UInt8]) {
        var offset = 0
        func take() -> UInt64? {
            guard offset + 8 <= bytes.count else { return nil }
            var value: UInt64 = 0
            for i in 0..<8 { value |= UInt64(bytes[offset + i]) << UInt64(8 * i) }
            offset += 8
            return value
        }
        var groups: [Set<NodeID>] = []
        for _ in 0..<2 {
            guard let count = take(), count <= UInt64(bytes.count / 8) else { return nil }
            var group: Set<NodeID> = []
            for _ in 0..<count {
                guard let id = take() else { return nil }
                group.insert(id)
            }
            groups.append(group)
        }
        guard offset == bytes.count, groups[0].isDisjoint(with: groups[1]) else { return nil }
        self.init(voters: groups[0], learners: groups[1])
    }
}

/// One change of membership per entry, and one voter change in flight at a time.
public enum MembershipChange: Equatable, Sendable {
    /// A new node that receives the log but does not vote.
    case addLearner(NodeID)
    /// A learner that has caught up becomes a voter.
    case promoteLearner(NodeID)
    /// A voter or a learner leaves the group.
    case removeNode(NodeID)

    public var node: NodeID {
        switch self {
        case .addLearner(let id), .promoteLearner(let id), .removeNode(let id): return id
        }
    }

    /// Whether the change alters the set of voters (at most one such change is in flight).
    var changesVoters: Bool {
        switch self {
        case .addLearner: return false
        case .promoteLearner, .removeNode: return true
        }
    }

    /// The membership after this change, or nil if it does not apply to `membership`.
    func applied(to membership: Membership) -> Membership? {
        var next = membership
        switch self {
        case .addLearner(let id):
            guard id != 0, !membership.contains(id) else { return nil }
            next.learners.insert(id)
        case .promoteLearner(let id):
            guard membership.learners.contains(id) else { return nil }
            next.learners.remove(id)
            next.voters.insert(id)
        case .removeNode(let id):
            guard membership.contains(id) else { return nil }
            next.voters.remove(id)
            next.learners.remove(id)
            guard !next.voters.isEmpty else { return nil }
        }
        return next
    }
}

/// Where a snapshot sits in the log and the membership in force at that point.
public struct SnapshotMetadata: Equatable, Sendable {
    public var index: LogIndex
    public var term: Term
    public var membership: Membership

    public init(index: LogIndex, term: Term, membership: Membership) {
        self.index = index
        self.term = term
        self.membership = membership
    }
}

/// The state machine's bytes at `metadata.index`, as the shell keeps them (its snapshot
/// files). The core never holds them: it knows a snapshot as a `SnapshotReference`.
public struct Snapshot: Equatable, Sendable {
    public var metadata: SnapshotMetadata
    public var data: [UInt8]

    public init(metadata: SnapshotMetadata, data: [UInt8]) {
        self.metadata = metadata
        self.data = data
    }
}

/// A snapshot as the core knows it: where it sits in the log, and how many bytes a follower
/// receives for it (its transfer: the state machine's bytes and whatever the shell sends
/// with them). The bytes themselves stay with the shell, on disk.
public struct SnapshotReference: Equatable, Sendable {
    public var metadata: SnapshotMetadata
    public var bytes: Int

    public init(metadata: SnapshotMetadata, bytes: Int) {
        precondition(bytes > 0, "a snapshot's transfer holds at least one byte")
        self.metadata = metadata
        self.bytes = bytes
    }
}

/// Bytes of a snapshot being received, for the shell to keep at `offset` of the transfer
/// (see `Ready.snapshotPieces`).
public struct SnapshotPiece: Equatable, Sendable {
    public var metadata: SnapshotMetadata
    public var totalBytes: Int
    public var offset: Int
    public var bytes: [UInt8]

    public init(metadata: SnapshotMetadata, totalBytes: Int, offset: Int, bytes: [UInt8]) {
        self.metadata = metadata
        self.totalBytes = totalBytes
        self.offset = offset
        self.bytes = bytes
    }

    /// Whether the piece starts a transfer: whatever was kept of another goes.
    public var startsTransfer: Bool { offset == 0 }
    public var isLast: Bool { offset + bytes.count == totalBytes }
}

/// The role a node plays in its current term.
public enum Role: String, Equatable, Sendable {
    case follower, preCandidate, candidate, leader
}

/// Volatile state the shell may want to show or react to; never persisted.
public struct SoftState: Equatable, Sendable {
    public var role: Role
    public var leader: NodeID?
}

/// A linearizable read may be served once the state machine has applied `index`.
public struct ReadState: Equatable, Sendable {
    public var requestID: UInt64
    public var index: LogIndex
}
