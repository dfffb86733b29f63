extension RaftNode {
    // MARK: Proposals

    /// Appends application entries to the leader's log. Returns the term and the indexes
    /// they were given: they are committed when the committed entries handed out in a
    /// Ready include these indexes with this term.
    @discardableResult
    public mutating func propose(_ payloads: [[UInt8]]) throws(ProposalError) -> (term: Term, indexes: ClosedRange<LogIndex>) {
        try checkAcceptsProposals()
        guard !payloads.isEmpty else { throw .emptyProposal }
        guard payloads.count <= config.proposalEntriesMax else {
            throw .tooManyEntries(count: payloads.count, max: config.proposalEntriesMax)
        }
        var bytes = 0
        for payload in payloads {
            guard payload.count <= config.entryBytesMax else {
                throw .entryTooLarge(bytes: payload.count, max: config.entryBytesMax)
            }
            bytes += payload.count
        }
        guard uncommittedBytes + bytes <= config.uncommittedBytesMax else {
            throw .uncommittedBytesExceeded(pending: uncommittedBytes, proposed: bytes, max: config.uncommittedBytesMax)
        }
        let first = log.lastIndex + 1
        appendAsLeader(payloads.map { Entry(term: term, index: 0, kind: .normal, data: $0) })
        broadcastAppend()
        return (term, first...log.lastIndex)
    }

    /// Proposes one membership change. Only one change is in flight at a time, and a new
    /// leader proposes none before it has applied an entry of its own term.
    @discardableResult
    public mutating func proposeMembershipChange(_ change: MembershipChange) throws(ProposalError) -> LogIndex {
        try checkAcceptsProposals()
        guard pendingMembershipIndex <= log.applied else {
            throw .membershipChangePending(index: pendingMembershipIndex)
        }
        guard let next = change.applied(to: membership) else {
            throw .invalidMembershipChange("\(change) does not apply to voters \(membership.voters.sorted()) learners \(membership.learners.sorted())")
        }
        if case .promoteLearner(let learner) = change {
            let match = progress[learner]?.match ?? 0
            guard match >= log.committed else { throw .learnerNotCaughtUp(match: match, commit: log.committed) }
        }
        appendAsLeader([Entry(term: term, index: 0, kind: .membershipChange, data: next.encoded())])
        pendingMembershipIndex = log.lastIndex
        broadcastAppend()
        return log.lastIndex
    }

    private func checkAcceptsProposals() throws(ProposalError) {
        guard role == .leader else { throw .notLeader(leader: leader) }
        guard transferTarget == nil else { throw .leadershipTransferInProgress }
    }

    mutating func appendAsLeader(_ entries: [Entry]) {
        var next = log.lastIndex + 1
        var numbered = entries
        for i in numbered.indices {
            numbered[i].term = term
            numbered[i].index = next
            uncommittedBytes += numbered[i].payloadBytes
            next += 1
        }
        log.append(numbered)
    }

    // MARK: Membership

    /// Applies a committed membership entry. Deterministic on every node: the membership
    /// recorded in the entry simply takes effect.
    mutating func applyMembership(_ entry: Entry) {
        guard let next = Membership(encoded: entry.data) else {
            preconditionFailure("undecodable membership entry at \(entry.index)")
        }
        membership = next
        guard role == .leader else { return }
        var added: [NodeID] = []
        for member in next.all.sorted() where member != id && progress[member] == nil {
            progress[member] = newProgress()
            added.append(member)
        }
        for member in progress.keys where !next.contains(member) {
            progress[member] = nil
        }
        if let target = transferTarget, !next.voters.contains(target) { abortLeadershipTransfer() }
        if !next.voters.contains(id) {
            stepDownAfterRemoval()
            return
        }
        // A new member starts catching up now rather than at the next heartbeat.
        for member in added { sendAppend(to: member, evenIfEmpty: true) }
        // The quorum may have changed.
        commitAndBroadcast()
    }

    /// A leader removed from the voters hands over to its most caught-up voter, if one holds
    /// the whole log, so the group does not wait out an election timeout.
    private mutating func stepDownAfterRemoval() {
        let successor = progress
            .filter { membership.voters.contains($0.key) }
            .max { ($0.value.match, $1.key) < ($1.value.match, $0.key) }
        if let successor, successor.value.match == log.lastIndex {
            send(to: successor.key, term: term, .timeoutNow)
        }
        becomeFollower(term: term, leader: nil)
    }

    // MARK: Replication

    /// Sends entries (or a snapshot) to every other member that is not paused.
    mutating func broadcastAppend() {
        for member in progress.keys.sorted() {
            sendAppend(to: member, evenIfEmpty: true)
        }
    }

    /// Sends the next batch to `member`. With `evenIfEmpty` it sends an empty append to
    /// carry the commit index. Returns whether anything was sent.
    @discardableResult
    mutating func sendAppend(to member: NodeID, evenIfEmpty: Bool) -> Bool {
        guard var p = progress[member], !p.isPaused, p.fetching == nil else { return false }
        defer { progress[member] = p }
        let prevIndex = p.next - 1
        guard let prevTerm = log.term(at: prevIndex) else { return sendSnapshot(to: member, progress: &p) }
        switch log.entries(from: p.next, countMax: config.appendEntriesMax, bytesMax: config.appendBytesMax) {
        case .compacted:
            return sendSnapshot(to: member, progress: &p)
        case .onDisk:
            // Older than what memory keeps: the shell reads them, and they go out then.
            let last = min(log.cachedFrom - 1, p.next + LogIndex(config.appendEntriesMax) - 1)
            p.fetching = p.next...last
            entryFetches.append(EntryFetch(member: member, range: p.next...last, bytesMax: config.appendBytesMax))
            return false
        case .entries(let entries):
            if entries.isEmpty && !evenIfEmpty { return false }
            send(entries, to: member, after: prevIndex, prevTerm: prevTerm, progress: &p)
            return true
        }
    }

    private mutating func send(_ entries: [Entry], to member: NodeID, after prevIndex: LogIndex, prevTerm: Term, progress p: inout Progress) {
        let bytes = entries.reduce(0) { $0 + $1.payloadBytes }
        if let last = entries.last { p.sentEntries(lastIndex: last.index, bytes: bytes) }
        send(to: member, term: term, .append(prevIndex: prevIndex, prevTerm: prevTerm, entries: entries, commit: log.committed))
    }

    /// The shell read back the entries of `fetch` (a prefix of its range, at least one):
    /// they go to the follower, if it still waits for them and they are still this log's.
    public mutating func entriesFetched(_ fetch: EntryFetch, entries: [Entry]) {
        guard role == .leader, var p = progress[fetch.member], p.fetching == fetch.range else { return }
        p.fetching = nil
        defer {
            progress[fetch.member] = p
            // Keep the pipeline full: more from memory, or the next fetch.
            while sendAppend(to: fetch.member, evenIfEmpty: false) {}
        }
        guard let first = entries.first, let last = entries.last, first.index == fetch.range.lowerBound, last.index <= fetch.range.upperBound,
            LogIndex(entries.count) == last.index - first.index + 1, log.terms(in: first.index...last.index) == entries.map(\.term),
            p.next == first.index, !p.isPaused, let prevTerm = log.term(at: first.index - 1)
        else { return }
        send(entries, to: fetch.member, after: first.index - 1, prevTerm: prevTerm, progress: &p)
    }

    /// The shell could not read back the entries of `fetch` (a snapshot was written and the
    /// log behind it dropped meanwhile): the next heartbeat's answer sends the follower
    /// what the log has for it then, a snapshot if need be.
    public mutating func entriesFetchFailed(_ fetch: EntryFetch) {
        guard role == .leader, progress[fetch.member]?.fetching == fetch.range else { return }
        progress[fetch.member]?.fetching = nil
    }

    private mutating func sendSnapshot(to member: NodeID, progress p: inout Progress) -> Bool {
        guard let snapshot = latestSnapshot else {
            preconditionFailure("log compacted to \(log.offsetIndex) without a snapshot to send")
        }
        p.becomeSnapshot(snapshot)
        sendSnapshotChunks(to: member, snapshot: snapshot, progress: &p)
        return true
    }

    /// The chunks after those sent, up to `snapshotChunksInFlightMax` past the acknowledged
    /// bytes; each without its bytes, which the shell fills in as it sends. The peer link
    /// keeps them in order; one lost all the same (a link that broke) shows as a stall, and
    /// the chunks are sent again from the acknowledged bytes.
    private mutating func sendSnapshotChunks(to member: NodeID, snapshot: SnapshotReference, progress p: inout Progress) {
        let window = config.snapshotChunksInFlightMax * config.snapshotChunkBytesMax
        let end = min(snapshot.bytes, p.snapshotBytesAcknowledged + window)
        while p.snapshotBytesSent < end {
            let offset = p.snapshotBytesSent
            let length = min(snapshot.bytes - offset, config.snapshotChunkBytesMax)
            send(to: member, term: term, .snapshotChunk(.request(metadata: snapshot.metadata, totalBytes: snapshot.bytes, offset: offset, length: length)))
            p.snapshotBytesSent += length
        }
    }

    /// The shell cannot send the snapshot at `index` any more (it no longer holds it): every
    /// follower receiving it starts over with the latest.
    public mutating func snapshotUnavailable(index: LogIndex) {
        guard role == .leader, let latest = latestSnapshot else { return }
        for member in progress.keys.sorted() {
            guard var p = progress[member], p.snapshotSending?.metadata.index == index, latest.metadata.index != index else { continue }
            p.becomeSnapshot(latest)
            sendSnapshotChunks(to: member, snapshot: latest, progress: &p)
            progress[member] = p
        }
    }

    mutating func broadcastHeartbeat() {
        for member in progress.keys.sorted() {
            // Never tell a follower to commit past what it is known to hold.
            let commit = min(progress[member]!.match, log.committed)
            send(to: member, term: term, .heartbeat(commit: commit, readContext: reads.latestContext))
        }
    }

    /// After a persist, the leader's own durable match may have advanced.
    mutating func progressOfSelfAdvanced() -> Bool {
        // The leader's own progress is its durable log; it is not in `progress`.
        log.persisted > selfMatch
    }

    /// The highest index a quorum of voters holds durably (the leader's own disk included),
    /// committed only if it is from the current term (§5.4.2, Figure 8).
    mutating func commitAndBroadcast() {
        selfMatch = log.persisted
        var matches: [LogIndex] = []
        for voter in membership.voters {
            matches.append(voter == id ? selfMatch : progress[voter]?.match ?? 0)
        }
        guard !matches.isEmpty else { return }
        matches.sort(by: >)
        let quorumMatch = matches[membership.quorum - 1]
        guard quorumMatch > log.committed, log.term(at: quorumMatch) == term else { return }
        let before = log.committed
        log.commit(to: quorumMatch)
        var freed = 0
        // Only this leader's own entries were counted as uncommitted.
        for index in (before + 1)...quorumMatch {
            if let entry = log.entry(at: index), entry.term == term { freed += entry.payloadBytes }
        }
        uncommittedBytes = max(0, uncommittedBytes - freed)
        broadcastAppend()
        releaseReadsAwaitingCommit()
    }

    mutating func stepLeader(_ m: Message) {
        guard progress[m.from] != nil else { return }
        switch m.body {
        case .appendResponse(.success(let index)):
            progress[m.from]!.recentlyActive = true
            handleAppendSuccess(from: m.from, match: index)
        case .appendResponse(.reject(let rejected, let hintIndex, let hintTerm)):
            progress[m.from]!.recentlyActive = true
            var next = hintIndex
            if hintTerm > 0 {
                next = log.lastIndex(atOrBefore: hintIndex, withTermAtMost: hintTerm).index
            }
            if progress[m.from]!.maybeDecrease(rejected: rejected, hint: next) {
                if progress[m.from]!.state == .replicate { progress[m.from]!.becomeProbe() }
                sendAppend(to: m.from, evenIfEmpty: true)
            }
        case .heartbeatResponse(let context):
            handleHeartbeatResponse(from: m.from, readContext: context)
        case .snapshotResponse(let index, let received):
            progress[m.from]!.recentlyActive = true
            handleSnapshotResponse(from: m.from, index: index, received: received)
        case .readIndexResponse, .timeoutNow, .append, .heartbeat, .snapshotChunk, .preVoteResponse, .voteResponse:
            break
        case .preVote, .vote, .readIndex:
            preconditionFailure("handled in step")
        }
    }

    private mutating func handleAppendSuccess(from member: NodeID, match index: LogIndex) {
        var p = progress[member]!
        let wasPaused = p.isPaused
        guard p.maybeUpdate(match: index) else {
            progress[member] = p
            return
        }
        switch p.state {
        case .probe:
            p.becomeReplicate()
        case .snapshot(let snapshotIndex):
            if p.match >= snapshotIndex {
                p.becomeProbe()
                p.becomeReplicate()
            }
        case .replicate:
            p.inflights.free(upTo: index)
        }
        progress[member] = p
        let committedBefore = log.committed
        commitAndBroadcast()
        if log.committed == committedBefore, wasPaused {
            sendAppend(to: member, evenIfEmpty: true)
        }
        // Keep the pipeline full.
        while sendAppend(to: member, evenIfEmpty: false) {}
        if transferTarget == member, progress[member]?.match == log.lastIndex {
            send(to: member, term: term, .timeoutNow)
        }
    }

    private mutating func handleHeartbeatResponse(from member: NodeID, readContext: UInt64) {
        var p = progress[member]!
        p.recentlyActive = true
        p.probeSent = false
        if p.state == .replicate, p.inflights.isFull { p.inflights.freeFirst() }
        if case .snapshot = p.state, let snapshot = p.snapshotSending {
            if p.snapshotBytesAcknowledged == p.snapshotAcknowledgedAtLastHeartbeat {
                // No progress for an election timeout: a chunk or its answer was lost. Not
                // sooner: a follower writing a chunk slower than a heartbeat interval would
                // be sent it again and again, and fall further behind for the copies.
                p.snapshotStalledHeartbeats += 1
                if p.snapshotStalledHeartbeats >= snapshotResendHeartbeats {
                    p.snapshotStalledHeartbeats = 0
                    p.snapshotBytesSent = p.snapshotBytesAcknowledged
                    sendSnapshotChunks(to: member, snapshot: snapshot, progress: &p)
                }
            } else {
                p.snapshotStalledHeartbeats = 0
            }
            p.snapshotAcknowledgedAtLastHeartbeat = p.snapshotBytesAcknowledged
        }
        progress[member] = p
        if p.match < log.lastIndex { sendAppend(to: member, evenIfEmpty: true) }
        if membership.voters.contains(member) {
            releaseConfirmedReads(member: member, context: readContext)
        }
    }

    /// Heartbeat responses without progress after which a snapshot chunk is sent again:
    /// an election timeout's worth.
    private var snapshotResendHeartbeats: Int { max(1, config.electionTimeoutTicks / config.heartbeatIntervalTicks) }

    private mutating func handleSnapshotResponse(from member: NodeID, index: LogIndex, received: Int) {
        guard var p = progress[member], case .snapshot(let sending) = p.state, sending == index,
            let snapshot = p.snapshotSending, snapshot.metadata.index == index
        else { return }
        // The follower's latest word is the truth, even when it went back (it restarted):
        // then what was in flight is sent again from there.
        if received < p.snapshotBytesAcknowledged || received > p.snapshotBytesSent { p.snapshotBytesSent = received }
        p.snapshotBytesAcknowledged = received
        sendSnapshotChunks(to: member, snapshot: snapshot, progress: &p)
        progress[member] = p
    }

    // MARK: Snapshots taken by the application

    /// Records a snapshot of the state as of the applied index, `bytes` long as a follower
    /// receives it, and drops the log behind it, keeping the last `retainingEntries` so that
    /// slightly lagging followers catch up from the log rather than a whole snapshot. MUST
    /// be invoked only between `advance` and the next `ready`, for a snapshot that captures
    /// exactly the applied entries. Returns it.
    @discardableResult
    public mutating func compact(snapshotBytes bytes: Int, retainingEntries: Int = 0) -> SnapshotReference {
        precondition(!readyOutstanding, "compact between ready() and advance()")
        let snapshot = SnapshotReference(metadata: snapshotMetadataAtApplied, bytes: bytes)
        let recorded = compact(with: snapshot, retainingEntries: retainingEntries)
        precondition(recorded, "a snapshot at the applied index \(snapshot.metadata.index) was not recorded")
        return snapshot
    }

    /// Where a snapshot of the state as it stands now (everything applied) sits in the log,
    /// for a shell that captures the state now and persists it before `compact(with:)`.
    public var snapshotMetadataAtApplied: SnapshotMetadata {
        SnapshotMetadata(index: log.applied, term: log.term(at: log.applied)!, membership: membership)
    }

    /// Records a snapshot the shell captured at `snapshot.metadata` (taken from
    /// `snapshotMetadataAtApplied` then) and has persisted since, and drops the log behind
    /// it but the last `retainingEntries`. Returns false, changing nothing, when the log
    /// moved past it meanwhile (a snapshot from the leader was installed, or a newer one of
    /// our own recorded): the persisted file is then merely an older snapshot. The log
    /// behind an older snapshot still being sent stays, and so does the log a follower
    /// behind lacks, within `laggingFollowerLogBytesMax` (`firstIndex` tells what went).
    /// MAY be invoked
    /// while a Ready is being persisted: it drops only applied entries, which no Ready holds
    /// unpersisted.
    @discardableResult
    public mutating func compact(with snapshot: SnapshotReference, retainingEntries: Int) -> Bool {
        precondition(retainingEntries >= 0, "retainingEntries must not be negative")
        let index = snapshot.metadata.index
        precondition(index <= log.applied, "a snapshot at \(index) beyond the applied index \(log.applied)")
        guard log.pendingSnapshot == nil, index >= log.offsetIndex, log.term(at: index) == snapshot.metadata.term,
            index >= latestSnapshot?.metadata.index ?? 0
        else { return false }
        latestSnapshot = snapshot
        var compactTo = index > LogIndex(retainingEntries) ? index - LogIndex(retainingEntries) : 0
        // A follower receiving an older snapshot needs the entries after it once it is in:
        // they stay, or it would need another snapshot, and might never catch up.
        for p in progress.values {
            if let sending = p.snapshotSending { compactTo = min(compactTo, sending.metadata.index) }
        }
        // So does the log a follower behind us lacks (it was stopped a while, or is catching
        // up after installing a snapshot), while that is less than a snapshot would send and
        // within the bound: it catches up from the log instead, however much slower it is
        // than we are to snapshot.
        for p in progress.values where p.snapshotSending == nil && p.match < compactTo && p.match >= log.offsetIndex {
            if log.payloadBytes(after: p.match, through: index) <= min(config.laggingFollowerLogBytesMax, snapshot.bytes) {
                compactTo = p.match
            }
        }
        log.compact(to: max(compactTo, log.offsetIndex))
        return true
    }

    /// The latest snapshot recorded or installed, which a follower behind the log gets.
    public var latestSnapshotReference: SnapshotReference? { latestSnapshot }

    // MARK: Leadership transfer

    /// Hands leadership to `target`: once its log matches ours it is told to campaign at
    /// once. Proposals are refused meanwhile; the attempt is abandoned after an election
    /// timeout.
    public mutating func transferLeadership(to target: NodeID) throws(TransferError) {
        guard role == .leader else { throw .notLeader(leader: leader) }
        guard membership.voters.contains(target) else { throw .notAVoter(target) }
        guard target != id, transferTarget != target else { return }
        transferTarget = target
        // The transfer must finish within one election timeout. Counted apart from
        // `electionElapsed`, which times the check-quorum lease and must not be reset here.
        transferElapsed = 0
        if progress[target]!.match == log.lastIndex {
            send(to: target, term: term, .timeoutNow)
        } else {
            sendAppend(to: target, evenIfEmpty: true)
        }
    }

    public var leadershipTransferTarget: NodeID? { transferTarget }

    mutating func abortLeadershipTransfer() {
        transferTarget = nil
    }
}
