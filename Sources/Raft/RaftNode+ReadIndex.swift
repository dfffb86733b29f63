/// ReadIndex (Raft thesis §6.4): a read is linearizable if it is served after the state
/// machine applies the commit index the leader had when the read arrived, provided a quorum
/// still recognised that leader after the read arrived. Heartbeats carry a growing context
/// number; an acknowledgement of context c confirms every read registered at or before c.
struct ReadIndexQueue: Sendable {
    struct Pending: Sendable {
        var origin: NodeID
        var requestID: UInt64
        var index: LogIndex
        var context: UInt64
    }

    private(set) var latestContext: UInt64 = 0
    /// Reads that arrived before this leader committed an entry of its term, when its
    /// commit index may still lag the previous leader's.
    var awaitingCommit: [(origin: NodeID, requestID: UInt64)] = []
    var pending: [Pending] = []
    var acknowledged: [NodeID: UInt64] = [:]

    var count: Int { awaitingCommit.count + pending.count }

    mutating func register(origin: NodeID, requestID: UInt64, index: LogIndex) {
        latestContext += 1
        pending.append(Pending(origin: origin, requestID: requestID, index: index, context: latestContext))
    }

    /// Dropped on any role change: the application retries a read that gets no answer.
    mutating func removeAll() {
        awaitingCommit = []
        pending = []
        acknowledged = [:]
    }
}

extension RaftNode {
    /// Asks for a linearizable read. A `ReadState` with `requestID` appears in a later Ready
    /// (on a follower, once the leader answers); a read that never gets one (leadership
    /// changed) must be retried by the caller after its own timeout.
    public mutating func requestRead(id requestID: UInt64) throws(ReadError) {
        switch role {
        case .leader:
            guard reads.count < config.pendingReadsMax else { throw .tooManyPendingReads(max: config.pendingReadsMax) }
            acceptRead(origin: id, requestID: requestID)
        case .follower:
            guard let leader else { throw .noLeader }
            send(to: leader, term: term, .readIndex(requestID: requestID))
        case .candidate, .preCandidate:
            throw .noLeader
        }
    }

    mutating func handleReadIndexRequest(from origin: NodeID, requestID: UInt64) {
        guard role == .leader, reads.count < config.pendingReadsMax else { return }
        acceptRead(origin: origin, requestID: requestID)
    }

    private mutating func acceptRead(origin: NodeID, requestID: UInt64) {
        guard hasCommittedInCurrentTerm else {
            reads.awaitingCommit.append((origin, requestID))
            return
        }
        reads.register(origin: origin, requestID: requestID, index: log.committed)
        confirmReads()
    }

    mutating func releaseReadsAwaitingCommit() {
        guard role == .leader, hasCommittedInCurrentTerm, !reads.awaitingCommit.isEmpty else { return }
        let waiting = reads.awaitingCommit
        reads.awaitingCommit = []
        for read in waiting {
            reads.register(origin: read.origin, requestID: read.requestID, index: log.committed)
        }
        confirmReads()
    }

    mutating func releaseConfirmedReads(member: NodeID, context: UInt64) {
        reads.acknowledged[member] = max(reads.acknowledged[member] ?? 0, context)
        releaseReads()
    }

    /// Releases what a quorum already confirmed, and asks for confirmation of the rest.
    private mutating func confirmReads() {
        releaseReads()
        if !reads.pending.isEmpty { broadcastHeartbeat() }
    }

    private mutating func releaseReads() {
        guard !reads.pending.isEmpty else { return }
        var contexts = membership.voters.map { $0 == id ? reads.latestContext : reads.acknowledged[$0] ?? 0 }
        guard !contexts.isEmpty else { return }
        contexts.sort(by: >)
        let confirmed = contexts[membership.quorum - 1]
        while let read = reads.pending.first, read.context <= confirmed {
            reads.pending.removeFirst()
            if read.origin == id {
                readStates.append(ReadState(requestID: read.requestID, index: read.index))
            } else {
                send(to: read.origin, term: term, .readIndexResponse(requestID: read.requestID, index: read.index))
            }
        }
    }
}
