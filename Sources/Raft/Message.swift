/// A message between two members of one Raft group. Every message carries the sender's
/// term; the receiver applies the term rules before anything else.
public struct Message: Equatable, Sendable {
    public var from: NodeID
    public var to: NodeID
    public var term: Term
    public var body: Body

    public init(from: NodeID, to: NodeID, term: Term, body: Body) {
        self.from = from
        self.to = to
        self.term = term
        self.body = body
    }

    public enum Body: Equatable, Sendable {
        /// "Would you vote for me in `term`?" Changes no state on either side, so a node
        /// cut off from the group cannot inflate terms and depose a healthy leader.
        case preVote(lastIndex: LogIndex, lastTerm: Term)
        case preVoteResponse(granted: Bool)
        /// A real vote request. `leadershipTransfer` lets it through a follower's lease.
        case vote(lastIndex: LogIndex, lastTerm: Term, leadershipTransfer: Bool)
        case voteResponse(granted: Bool)
        /// AppendEntries: `entries` follow `(prevIndex, prevTerm)`.
        case append(prevIndex: LogIndex, prevTerm: Term, entries: [Entry], commit: LogIndex)
        case appendResponse(AppendResponse)
        /// Keeps followers from campaigning; `readContext` confirms leadership for reads.
        case heartbeat(commit: LogIndex, readContext: UInt64)
        case heartbeatResponse(readContext: UInt64)
        /// One bounded chunk of a snapshot being installed on a follower.
        case snapshotChunk(SnapshotChunk)
        /// How many bytes of the snapshot at `index` the follower holds so far.
        case snapshotResponse(index: LogIndex, receivedBytes: Int)
        /// "Campaign now": the last step of a leadership transfer.
        case timeoutNow
        /// A follower asks the leader for a read index on behalf of its application.
        case readIndex(requestID: UInt64)
        /// The leader confirmed its leadership at `index` for the follower's request.
        case readIndexResponse(requestID: UInt64, index: LogIndex)
    }
}

public enum AppendResponse: Equatable, Sendable {
    /// The follower's log matches the leader's up to `matchIndex`, durably.
    case success(matchIndex: LogIndex)
    /// The entry at `rejectedIndex` did not match. The follower's log has `hintTerm` at
    /// `hintIndex`, the largest index at or before the mismatch whose term is not greater
    /// than the leader's there, so the leader can skip a whole term per round trip.
    case reject(rejectedIndex: LogIndex, hintIndex: LogIndex, hintTerm: Term)
}

/// Entries a leader needs to send a follower but keeps only on disk: the shell reads them
/// (at most `bytesMax` of payload, at least one entry) and hands them back with
/// `RaftNode.entriesFetched`, or reports `entriesFetchFailed`.
public struct EntryFetch: Equatable, Sendable {
    public var member: NodeID
    public var range: ClosedRange<LogIndex>
    public var bytesMax: Int

    public init(member: NodeID, range: ClosedRange<LogIndex>, bytesMax: Int) {
        self.member = member
        self.range = range
        self.bytesMax = bytesMax
    }
}

/// One chunk of a snapshot's transfer: `length` bytes at `offset`. The core sends chunks
/// without their bytes, which the shell keeps (`bytes` empty, `length` set): the shell MUST
/// fill them in (`filled(with:)`) from the snapshot's transfer before the chunk leaves.
/// A chunk that arrives carries its bytes.
public struct SnapshotChunk: Equatable, Sendable {
    public var metadata: SnapshotMetadata
    public var totalBytes: Int
    public var offset: Int
    public var length: Int
    public var bytes: [UInt8]

    /// A chunk with its bytes.
    public init(metadata: SnapshotMetadata, totalBytes: Int, offset: Int, bytes: [UInt8]) {
        self.init(metadata: metadata, totalBytes: totalBytes, offset: offset, length: bytes.count, bytes: bytes)
    }

    init(metadata: SnapshotMetadata, totalBytes: Int, offset: Int, length: Int, bytes: [UInt8]) {
        self.metadata = metadata
        self.totalBytes = totalBytes
        self.offset = offset
        self.length = length
        self.bytes = bytes
    }

    /// The chunk as the core sends it: which bytes, but not the bytes.
    static func request(metadata: SnapshotMetadata, totalBytes: Int, offset: Int, length: Int) -> SnapshotChunk {
        SnapshotChunk(metadata: metadata, totalBytes: totalBytes, offset: offset, length: length, bytes: [])
    }

    /// Whether the shell has yet to fill in the bytes.
    public var needsBytes: Bool { bytes.count != length }

    /// The chunk with its bytes, which MUST be `length` long.
    public func filled(with bytes: [UInt8]) -> SnapshotChunk {
        precondition(bytes.count == length, "a chunk of \(length) bytes filled with \(bytes.count)")
        return SnapshotChunk(metadata: metadata, totalBytes: totalBytes, offset: offset, length: length, bytes: bytes)
    }

    public var isLast: Bool { offset + length == totalBytes }
}

extension Message.Body {
    /// Messages that promise something about this node's durable state (a vote, a
    /// durable match, snapshot bytes kept) may leave only after the Ready that produced them
    /// is persisted; waiting for the shell to keep a snapshot's bytes is also what paces
    /// the leader to the follower's disk. A heartbeat's answer promises nothing about the
    /// disk (the leader learns no match from it), so it leaves at once: a follower whose disk
    /// is slow still answers its leader within the election timeout, and the leader's
    /// check-quorum lease holds.
    var mustWaitForPersistence: Bool {
        switch self {
        case .vote, .voteResponse, .appendResponse, .snapshotResponse:
            return true
        case .preVote, .preVoteResponse, .append, .heartbeat, .heartbeatResponse, .snapshotChunk,
            .timeoutNow, .readIndex, .readIndexResponse:
            return false
        }
    }

    /// A short name for traces.
    public var name: String {
        switch self {
        case .preVote: return "PreVote"
        case .preVoteResponse: return "PreVoteResp"
        case .vote: return "Vote"
        case .voteResponse: return "VoteResp"
        case .append: return "Append"
        case .appendResponse: return "AppendResp"
        case .heartbeat: return "Heartbeat"
        case .heartbeatResponse: return "HeartbeatResp"
        case .snapshotChunk: return "SnapshotChunk"
        case .snapshotResponse: return "SnapshotResp"
        case .timeoutNow: return "TimeoutNow"
        case .readIndex: return "ReadIndex"
        case .readIndexResponse: return "ReadIndexResp"
        }
    }
}

extension Message: CustomStringConvertible {
    public var description: String {
        let detail: String
        switch body {
        case .preVote(let i, let t): detail = "last=\(i)/\(t)"
        case .preVoteResponse(let g), .voteResponse(let g): detail = g ? "granted" : "rejected"
        case .vote(let i, let t, let transfer): detail = "last=\(i)/\(t)" + (transfer ? " transfer" : "")
        case .append(let pi, let pt, let entries, let commit):
            let range = entries.isEmpty ? "none" : "\(entries.first!.index)...\(entries.last!.index)"
            detail = "prev=\(pi)/\(pt) entries=\(range) commit=\(commit)"
        case .appendResponse(.success(let m)): detail = "match=\(m)"
        case .appendResponse(.reject(let r, let hi, let ht)): detail = "reject=\(r) hint=\(hi)/\(ht)"
        case .heartbeat(let c, let ctx): detail = "commit=\(c) ctx=\(ctx)"
        case .heartbeatResponse(let ctx): detail = "ctx=\(ctx)"
        case .snapshotChunk(let c): detail = "snap=\(c.metadata.index)/\(c.metadata.term) bytes=\(c.offset)+\(c.length)/\(c.totalBytes)"
        case .snapshotResponse(let i, let r): detail = "snap=\(i) received=\(r)"
        case .timeoutNow: detail = ""
        case .readIndex(let id): detail = "id=\(id)"
        case .readIndexResponse(let id, let index): detail = "id=\(id) index=\(index)"
        }
        return "\(from)->\(to) t\(term) \(body.name) \(detail)"
    }
}
