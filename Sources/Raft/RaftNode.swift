/// One member of a Raft group as a pure state machine. It owns no socket, file, thread or
/// clock: time is `tick()`, input is `step(_:)`, `propose(_:)` and the other requests, and
/// output is the `Ready` that the shell collects and confirms with `advance(_:)`.
///
/// Given the same config (seed included) and the same sequence of inputs, it produces the
/// same outputs; this is what lets one process simulate a whole cluster.
public struct RaftNode: Sendable {
    public let config: Config
    public var id: NodeID { config.id }

    public internal(set) var term: Term = 0
    public internal(set) var vote: NodeID?
    public internal(set) var role: Role = .follower
    public internal(set) var leader: NodeID?
    /// The membership as of the applied index.
    public internal(set) var membership: Membership

    var log: RaftLog
    /// The leader's view of every other member's log.
    var progress: [NodeID: Progress] = [:]
    /// Votes received in the current (pre-)campaign.
    var votes: [NodeID: Bool] = [:]

    var electionElapsed = 0
    var heartbeatElapsed = 0
    var randomizedElectionTimeout = 0
    var random: SeededGenerator

    /// Index of the latest membership entry proposed by this leader; a new change waits
    /// until it is applied.
    var pendingMembershipIndex: LogIndex = 0
    /// The leader's own durable match, as last counted toward commitment.
    var selfMatch: LogIndex = 0
    var uncommittedBytes = 0

    var transferTarget: NodeID?
    var transferElapsed = 0

    /// The application's latest snapshot, sent to followers behind the compaction point.
    var latestSnapshot: SnapshotReference?
    /// A snapshot being received from the leader, chunk by chunk.
    var incomingSnapshot: IncomingSnapshot?
    /// Received snapshot bytes for the next Ready.
    var snapshotPieces: [SnapshotPiece] = []

    var reads = ReadIndexQueue()

    /// Set once this node finds that it lacks entries it had acknowledged as durable: its
    /// leader says they are committed on the strength of this node's word, yet its log ends
    /// before them. Its data directory was lost or replaced. From then on it takes part in
    /// nothing (it could vote for a log that lacks committed entries); its shell stops it.
    public private(set) var lostData: LostData?

    public struct LostData: Equatable, Sendable, CustomStringConvertible {
        public var leader: NodeID
        public var leaderCommit: LogIndex
        public var lastIndex: LogIndex

        public var description: String {
            "leader \(leader) has entries up to \(leaderCommit) committed with this node's acknowledgement, but this node's log ends at \(lastIndex)"
        }
    }

    // Output gathered for the next Ready.
    var messages: [Message] = []
    var entryFetches: [EntryFetch] = []
    var messagesAfterPersist: [Message] = []
    var readStates: [ReadState] = []
    var lastSoftState: SoftState
    var lastHardState: HardState
    /// A Ready was taken and not yet advanced past: the log may already hold what it
    /// installs, so nothing may be read of it as applied state until `advance`.
    public internal(set) var readyOutstanding = false
    /// A snapshot from the leader replaced the log and waits for the Ready that installs it:
    /// until that Ready is advanced, the log holds nothing of what the machine applied.
    public var snapshotAwaitsInstall: Bool { log.pendingSnapshot != nil }

    struct IncomingSnapshot: Sendable {
        var metadata: SnapshotMetadata
        var leaderTerm: Term
        var totalBytes: Int
        /// Bytes taken so far, in order: the shell keeps them.
        var received: Int
    }

    /// What a restarting node read back from its disk.
    public struct RecoveredState: Sendable {
        public var hardState: HardState
        public var snapshot: SnapshotReference?
        /// The entries after the snapshot (or from index 1), contiguous.
        public var entries: [Entry]

        public init(hardState: HardState, snapshot: SnapshotReference?, entries: [Entry]) {
            self.hardState = hardState
            self.snapshot = snapshot
            self.entries = entries
        }
    }

    /// A node that restarts from disk, or (with an empty state) joins an existing group
    /// and waits to be added by its leader.
    public init(config: Config, recovered: RecoveredState) throws(Config.Invalid) {
        try config.validate()
        self.config = config
        random = SeededGenerator(seed: config.randomSeed)
        let snapshot = recovered.snapshot
        log = RaftLog(offsetIndex: snapshot?.metadata.index ?? 0, offsetTerm: snapshot?.metadata.term ?? 0)
        log.recover(entries: recovered.entries, commit: recovered.hardState.commit)
        membership = snapshot?.metadata.membership ?? Membership()
        latestSnapshot = snapshot
        term = recovered.hardState.term
        vote = recovered.hardState.vote
        lastHardState = HardState(term: term, vote: vote, commit: log.committed)
        lastSoftState = SoftState(role: .follower, leader: nil)
        becomeFollower(term: term, leader: nil)
    }

    /// A founding member of a new group. Every founder must be given the same `voters`:
    /// they all start with the same committed first entry, which records the membership.
    public init(config: Config, bootstrapVoters voters: Set<NodeID>) throws(Config.Invalid) {
        precondition(voters.contains(config.id), "a founding member must be one of the voters")
        try self.init(config: config, recovered: RecoveredState(hardState: HardState(), snapshot: nil, entries: []))
        let first = Entry(term: 1, index: 1, kind: .membershipChange, data: Membership(voters: voters).encoded())
        log.append([first])
        log.commit(to: 1)
        term = 1
    }

    // MARK: Observers

    public var commitIndex: LogIndex { log.committed }
    public var appliedIndex: LogIndex { log.applied }
    public var lastIndex: LogIndex { log.lastIndex }
    public var firstIndex: LogIndex { log.firstIndex }
    public var persistedIndex: LogIndex { log.persisted }
    public func term(at index: LogIndex) -> Term? { log.term(at: index) }
    public func entry(at index: LogIndex) -> Entry? { log.entry(at: index) }
    public var isVoter: Bool { membership.voters.contains(id) }
    /// The leader's durable match index for a member, nil if not leader or not a member.
    public func matchIndex(of member: NodeID) -> LogIndex? { progress[member]?.match }
    /// How the leader replicates to a member, nil if not leader or not a member.
    public func replicationMode(of member: NodeID) -> ReplicationMode? { progress[member].map { ReplicationMode($0.state) } }

    /// The membership of the newest membership entry in the log, committed or not (the
    /// applied one when none follows it). A node being removed sees its removal here even
    /// when it never learns of the commit, as the leader stops replicating to it.
    public var newestMembership: Membership {
        var index = log.lastIndex
        while index > log.applied, let entry = log.entry(at: index) {
            if entry.kind == .membershipChange, let logged = Membership(encoded: entry.data) { return logged }
            index -= 1
        }
        return membership
    }
    public var hardState: HardState { HardState(term: term, vote: vote, commit: log.committed) }
    public var softState: SoftState { SoftState(role: role, leader: leader) }
    var hasCommittedInCurrentTerm: Bool { log.term(at: log.committed) == term }

    // MARK: Time

    /// MUST be invoked at a steady rate by the shell; all timeouts count these ticks.
    public mutating func tick() {
        guard lostData == nil else { return }
        switch role {
        case .follower, .preCandidate, .candidate:
            tickElection()
        case .leader:
            tickHeartbeat()
        }
    }

    private mutating func tickElection() {
        electionElapsed += 1
        if isVoter, electionElapsed >= randomizedElectionTimeout {
            electionElapsed = 0
            campaign(leadershipTransfer: false)
        }
    }

    private mutating func tickHeartbeat() {
        heartbeatElapsed += 1
        electionElapsed += 1
        if electionElapsed >= config.electionTimeoutTicks {
            electionElapsed = 0
            if config.checkQuorum, !quorumRecentlyActive() {
                becomeFollower(term: term, leader: nil)
                return
            }
        }
        if transferTarget != nil {
            transferElapsed += 1
            if transferElapsed >= config.electionTimeoutTicks { abortLeadershipTransfer() }
        }
        if heartbeatElapsed >= config.heartbeatIntervalTicks {
            heartbeatElapsed = 0
            broadcastHeartbeat()
        }
    }

    /// Check-quorum: did a majority of voters (us included) talk to us this round? Resets
    /// the round. This is the leader's lease: without it a cut-off leader would keep serving.
    private mutating func quorumRecentlyActive() -> Bool {
        var active = 0
        for voter in membership.voters {
            if voter == id {
                active += 1
                continue
            }
            if progress[voter]?.recentlyActive == true { active += 1 }
            progress[voter]?.recentlyActive = false
        }
        return active >= membership.quorum
    }

    /// The shell learned from outside Raft (gossip, or the leader's peer link closing) that
    /// `node` is gone. A follower whose leader it is forgets that leader — and with it the
    /// lease that would refuse other candidates — and campaigns within a third of the
    /// election timeout instead of waiting all of it. Pre-vote still applies: a false report
    /// wins nothing while a majority still hears the leader, and costs no term. The news
    /// reaches every follower at about the same moment; campaigning at once, two would
    /// split the vote (both candidates in one term, then a full timeout more), so each
    /// waits a number of ticks of its own drawing. Such news never makes a leader; votes do.
    /// Returns whether the news was about this follower's leader (and so will be acted on).
    @discardableResult
    public mutating func leaderReportedDead(_ node: NodeID) -> Bool {
        guard lostData == nil, role == .follower, leader == node, isVoter else { return false }
        leader = nil
        electionElapsed = randomizedElectionTimeout - reportedDeathDelayTicks()
        return true
    }

    /// The shell sees `node` sending on its authenticated link, part of a message too long
    /// to arrive within a tick (a large entry: one message stays whole). A follower whose
    /// leader it is hears it, as from a heartbeat, and a leader counts that voter active for
    /// check-quorum: a peer that is busy sending is alive, and waiting for the end of a long
    /// message must not cost an election. Changes nothing else, emits nothing.
    public mutating func heardFrom(_ node: NodeID) {
        guard lostData == nil, node != id else { return }
        switch role {
        case .follower where leader == node:
            electionElapsed = 0
        case .leader:
            progress[node]?.recentlyActive = true
        default:
            break
        }
    }

    /// Between 1 and a third of the election timeout (at least 1), drawn per report.
    private mutating func reportedDeathDelayTicks() -> Int {
        let spread = max(1, config.electionTimeoutTicks / 3)
        return 1 + Int(random.next() % UInt64(spread))
    }

    // MARK: Role changes

    private mutating func reset(term newTerm: Term) {
        if newTerm != term {
            term = newTerm
            vote = nil
        }
        leader = nil
        electionElapsed = 0
        heartbeatElapsed = 0
        randomizedElectionTimeout = config.electionTimeoutTicks
            + Int(random.next() % UInt64(config.electionTimeoutTicks))
        transferTarget = nil
        transferElapsed = 0
        votes = [:]
        progress = [:]
        selfMatch = 0
        uncommittedBytes = 0
        reads.removeAll()
    }

    mutating func becomeFollower(term newTerm: Term, leader newLeader: NodeID?) {
        reset(term: newTerm)
        role = .follower
        leader = newLeader
    }

    private mutating func becomePreCandidate() {
        precondition(role != .leader, "a leader does not pre-campaign")
        // Pre-candidacy changes neither term nor vote: that is the point of it.
        role = .preCandidate
        votes = [:]
        leader = nil
    }

    private mutating func becomeCandidate() {
        precondition(role != .leader, "a leader does not campaign")
        reset(term: term + 1)
        vote = id
        role = .candidate
    }

    private mutating func becomeLeader() {
        precondition(role == .candidate, "only a candidate becomes leader (was \(role))")
        reset(term: term)
        role = .leader
        leader = id
        for member in membership.all where member != id {
            progress[member] = newProgress()
        }
        // Committing an entry of our own term commits everything before it (§5.4.2), and
        // no membership change may be proposed until it is applied.
        appendAsLeader([Entry(term: term, index: 0, kind: .empty)])
        pendingMembershipIndex = log.lastIndex
        broadcastAppend()
    }

    func newProgress() -> Progress {
        Progress(next: log.lastIndex + 1, inflightAppendsMax: config.inflightAppendsMax, inflightBytesMax: config.inflightBytesMax)
    }

    /// Starts an election: first a pre-vote round unless pre-vote is off or this is a
    /// leadership transfer.
    private mutating func campaign(leadershipTransfer: Bool) {
        guard isVoter else { return }
        if config.preVote && !leadershipTransfer {
            becomePreCandidate()
            requestVotes(preVote: true, leadershipTransfer: false)
        } else {
            startElection(leadershipTransfer: leadershipTransfer)
        }
    }

    /// The real election, after a won pre-vote or on a leadership transfer. Only a transfer
    /// may pass through followers' leases.
    private mutating func startElection(leadershipTransfer: Bool) {
        becomeCandidate()
        requestVotes(preVote: false, leadershipTransfer: leadershipTransfer)
    }

    private mutating func requestVotes(preVote: Bool, leadershipTransfer: Bool) {
        if tallyVote(from: id, granted: true) == .won {
            // A group of one: nobody else to ask.
            if preVote { startElection(leadershipTransfer: false) } else { becomeLeader() }
            return
        }
        let voteTerm = preVote ? term + 1 : term
        for voter in membership.voters.sorted() where voter != id {
            let body: Message.Body = preVote
                ? .preVote(lastIndex: log.lastIndex, lastTerm: log.lastTerm)
                : .vote(lastIndex: log.lastIndex, lastTerm: log.lastTerm, leadershipTransfer: leadershipTransfer)
            send(to: voter, term: voteTerm, body)
        }
    }

    private enum ElectionOutcome { case won, lost, pending }

    private mutating func tallyVote(from voter: NodeID, granted: Bool) -> ElectionOutcome {
        if votes[voter] == nil { votes[voter] = granted }
        // Count only current voters: the membership may change while the campaign runs.
        let yes = membership.voters.filter { votes[$0] == true }.count
        let no = membership.voters.filter { votes[$0] == false }.count
        if yes >= membership.quorum { return .won }
        if no > membership.voters.count - membership.quorum { return .lost }
        return .pending
    }

    // MARK: Messages in

    /// MUST be invoked with every message addressed to this node, in any order, duplicated
    /// or not: the term rules and log checks make stale and repeated messages harmless.
    public mutating func step(_ message: Message) {
        precondition(message.to == id, "message for \(message.to) stepped into \(id)")
        guard lostData == nil, applyTermRules(message) else { return }
        switch message.body {
        case .preVote(let lastIndex, let lastTerm):
            handleVoteRequest(message, lastIndex: lastIndex, lastTerm: lastTerm, preVote: true)
        case .vote(let lastIndex, let lastTerm, _):
            handleVoteRequest(message, lastIndex: lastIndex, lastTerm: lastTerm, preVote: false)
        case .readIndex(let requestID):
            handleReadIndexRequest(from: message.from, requestID: requestID)
        default:
            switch role {
            case .leader: stepLeader(message)
            case .candidate, .preCandidate: stepCandidate(message)
            case .follower: stepFollower(message)
            }
        }
    }

    /// Raft's term rules (§5.1) with the pre-vote and lease refinements. Returns false when
    /// the message has been fully dealt with.
    private mutating func applyTermRules(_ m: Message) -> Bool {
        if m.term > term {
            switch m.body {
            case .preVote, .vote:
                let transfer: Bool
                if case .vote(_, _, true) = m.body { transfer = true } else { transfer = false }
                // Within a leader's lease, a vote request is a disruption, not an election.
                let inLease = config.checkQuorum && leader != nil && electionElapsed < config.electionTimeoutTicks
                if inLease && !transfer { return false }
            default:
                break
            }
            switch m.body {
            case .preVote:
                // A pre-vote changes no term.
                break
            case .preVoteResponse(granted: true):
                // Granted in the term we would campaign in; we move there only if we win.
                break
            case .append, .heartbeat, .snapshotChunk:
                becomeFollower(term: m.term, leader: m.from)
            default:
                becomeFollower(term: m.term, leader: nil)
            }
            return true
        }
        if m.term < term {
            switch m.body {
            case .append, .heartbeat:
                // A deposed leader that cannot hear the new one: tell it our term so it
                // steps down, since pre-vote keeps us from ever outbidding it otherwise.
                send(to: m.from, term: term, .appendResponse(.success(matchIndex: 0)))
            case .preVote:
                send(to: m.from, term: term, .preVoteResponse(granted: false))
            default:
                break
            }
            return false
        }
        return true
    }

    private mutating func handleVoteRequest(_ m: Message, lastIndex: LogIndex, lastTerm: Term, preVote: Bool) {
        let canVote = vote == m.from || (vote == nil && leader == nil) || (preVote && m.term > term)
        if canVote && log.isUpToDate(lastIndex: lastIndex, lastTerm: lastTerm) {
            // A granted pre-vote answers in the candidate's future term, or it would be
            // dropped as stale.
            send(to: m.from, term: m.term, preVote ? .preVoteResponse(granted: true) : .voteResponse(granted: true))
            if !preVote {
                electionElapsed = 0
                vote = m.from
            }
        } else {
            send(to: m.from, term: term, preVote ? .preVoteResponse(granted: false) : .voteResponse(granted: false))
        }
    }

    private mutating func stepFollower(_ m: Message) {
        switch m.body {
        case .append(let prevIndex, let prevTerm, let entries, let commit):
            electionElapsed = 0
            leader = m.from
            handleAppend(from: m.from, prevIndex: prevIndex, prevTerm: prevTerm, entries: entries, commit: commit)
        case .heartbeat(let commit, let readContext):
            electionElapsed = 0
            leader = m.from
            // A leader tells a follower a commit index no greater than what the follower
            // acknowledged holding durably in this term.
            guard commit <= log.lastIndex else {
                lostData = LostData(leader: m.from, leaderCommit: commit, lastIndex: log.lastIndex)
                return
            }
            log.commit(to: commit)
            send(to: m.from, term: term, .heartbeatResponse(readContext: readContext))
        case .snapshotChunk(let chunk):
            electionElapsed = 0
            leader = m.from
            handleSnapshotChunk(from: m.from, chunk)
        case .timeoutNow:
            // The leader hands over to us: campaign at once, through any lease.
            campaign(leadershipTransfer: true)
        case .readIndexResponse(let requestID, let index):
            readStates.append(ReadState(requestID: requestID, index: index))
        case .preVoteResponse, .voteResponse, .appendResponse, .heartbeatResponse, .snapshotResponse:
            // Answers to a role we no longer have.
            break
        case .preVote, .vote, .readIndex:
            preconditionFailure("handled in step")
        }
    }

    private mutating func stepCandidate(_ m: Message) {
        switch m.body {
        case .append, .heartbeat, .snapshotChunk:
            // Someone won this term; follow them.
            becomeFollower(term: term, leader: m.from)
            stepFollower(m)
        case .preVoteResponse(let granted) where role == .preCandidate:
            switch tallyVote(from: m.from, granted: granted) {
            case .won: startElection(leadershipTransfer: false)
            case .lost: becomeFollower(term: term, leader: nil)
            case .pending: break
            }
        case .voteResponse(let granted) where role == .candidate:
            switch tallyVote(from: m.from, granted: granted) {
            case .won: becomeLeader()
            case .lost: becomeFollower(term: term, leader: nil)
            case .pending: break
            }
        case .preVoteResponse, .voteResponse, .appendResponse, .heartbeatResponse, .snapshotResponse,
            .timeoutNow, .readIndexResponse:
            break
        case .preVote, .vote, .readIndex:
            preconditionFailure("handled in step")
        }
    }

    // MARK: Follower: replication

    private mutating func handleAppend(from leaderID: NodeID, prevIndex: LogIndex, prevTerm: Term, entries: [Entry], commit: LogIndex) {
        if prevIndex < log.committed {
            send(to: leaderID, term: term, .appendResponse(.success(matchIndex: log.committed)))
            return
        }
        if let lastNew = log.maybeAppend(prevIndex: prevIndex, prevTerm: prevTerm, commit: commit, entries: entries) {
            send(to: leaderID, term: term, .appendResponse(.success(matchIndex: lastNew)))
            return
        }
        let hint = log.lastIndex(atOrBefore: prevIndex, withTermAtMost: prevTerm)
        send(to: leaderID, term: term, .appendResponse(.reject(rejectedIndex: prevIndex, hintIndex: hint.index, hintTerm: hint.term)))
    }

    private mutating func handleSnapshotChunk(from leaderID: NodeID, _ chunk: SnapshotChunk) {
        let metadata = chunk.metadata
        if metadata.index <= log.committed {
            incomingSnapshot = nil
            send(to: leaderID, term: term, .appendResponse(.success(matchIndex: log.committed)))
            return
        }
        guard !chunk.needsBytes, chunk.length > 0, chunk.offset >= 0, chunk.offset + chunk.length <= chunk.totalBytes else {
            // Not a chunk a leader sends: ignored, and the leader resends once it sees no progress.
            return
        }
        if incomingSnapshot?.metadata != metadata || incomingSnapshot?.leaderTerm != term
            || incomingSnapshot?.totalBytes != chunk.totalBytes
        {
            // Another snapshot: start over, but only from its first chunk, so that a stray
            // chunk of an older transfer does not throw away the one in progress.
            guard chunk.offset == 0 else {
                send(to: leaderID, term: term, .snapshotResponse(index: metadata.index, receivedBytes: 0))
                return
            }
            incomingSnapshot = IncomingSnapshot(metadata: metadata, leaderTerm: term, totalBytes: chunk.totalBytes, received: 0)
        }
        // Only the next chunk in order is taken; a duplicate or a gap is answered with
        // where we stand, and the leader resends from there.
        if chunk.offset == incomingSnapshot!.received {
            snapshotPieces.append(SnapshotPiece(metadata: metadata, totalBytes: chunk.totalBytes, offset: chunk.offset, bytes: chunk.bytes))
            incomingSnapshot!.received += chunk.length
        }
        let received = incomingSnapshot!.received
        guard received == chunk.totalBytes else {
            send(to: leaderID, term: term, .snapshotResponse(index: metadata.index, receivedBytes: received))
            return
        }
        incomingSnapshot = nil
        if log.matches(index: metadata.index, term: metadata.term) {
            // We already hold the snapshot's entries: they are committed, nothing to install.
            log.commit(to: metadata.index)
        } else {
            log.restore(metadata)
            membership = metadata.membership
            latestSnapshot = SnapshotReference(metadata: metadata, bytes: chunk.totalBytes)
        }
        send(to: leaderID, term: term, .appendResponse(.success(matchIndex: log.committed)))
    }

    /// The shell let go of the snapshot it was receiving (it stalled): whatever comes next
    /// of a transfer must start from its first byte.
    public mutating func abandonIncomingSnapshot() {
        incomingSnapshot = nil
        snapshotPieces = []
    }

    // MARK: Output

    mutating func send(to recipient: NodeID, term messageTerm: Term, _ body: Message.Body) {
        let message = Message(from: id, to: recipient, term: messageTerm, body: body)
        if body.mustWaitForPersistence {
            messagesAfterPersist.append(message)
        } else {
            messages.append(message)
        }
    }

    /// Whether `ready()` has anything to hand out.
    public var hasReady: Bool {
        if softState != lastSoftState || hardState != lastHardState { return true }
        if log.pendingSnapshot != nil || !log.unstableEntries.isEmpty || !snapshotPieces.isEmpty { return true }
        if !messages.isEmpty || !messagesAfterPersist.isEmpty || !readStates.isEmpty || !entryFetches.isEmpty { return true }
        return log.hasCommittedEntriesToApply
    }

    /// Collects the work for the shell. MUST NOT be invoked again before `advance(_:)`.
    public mutating func ready() -> Ready {
        precondition(!readyOutstanding, "ready() called twice without advance()")
        readyOutstanding = true
        let soft = softState
        let hard = hardState
        let entries = Array(log.unstableEntries)
        let committedEntries = log.committedEntriesToApply(bytesMax: config.applyBytesMax)
        let voteChanged = hard.term != lastHardState.term || hard.vote != lastHardState.vote
        let commitMustBeDurable = committedEntries.contains { $0.kind == .membershipChange }
        let pieces = snapshotPieces
        let ready = Ready(
            softState: soft != lastSoftState ? soft : nil,
            hardState: hard != lastHardState || commitMustBeDurable ? hard : nil,
            snapshotPieces: pieces,
            snapshot: log.pendingSnapshot,
            entries: entries,
            messages: messages,
            messagesAfterPersist: messagesAfterPersist,
            entryFetches: entryFetches,
            committedEntries: committedEntries,
            readStates: readStates,
            mustSync: !pieces.isEmpty || log.pendingSnapshot != nil || !entries.isEmpty || voteChanged || commitMustBeDurable,
            commitMustBeDurable: commitMustBeDurable
        )
        lastSoftState = soft
        if let hard = ready.hardState { lastHardState = hard }
        messages = []
        messagesAfterPersist = []
        entryFetches = []
        readStates = []
        snapshotPieces = []
        return ready
    }

    /// The messages that may leave at once (those a Ready would carry in `messages`), taken
    /// out now. MAY be invoked while a Ready is being persisted, between `ready()` and
    /// `advance(_:)`: a leader's heartbeats and appends keep flowing while its disk syncs.
    /// Messages that wait on persistence stay for the next Ready.
    public mutating func takeMessages() -> [Message] {
        defer { messages = [] }
        return messages
    }

    /// The entry fetches (those a Ready would carry), taken out now; MAY be invoked while a
    /// Ready is being persisted.
    public mutating func takeEntryFetches() -> [EntryFetch] {
        defer { entryFetches = [] }
        return entryFetches
    }

    /// MUST be invoked once the shell has done everything `ready` asked, in the order its
    /// documentation gives.
    public mutating func advance(_ ready: Ready) {
        precondition(readyOutstanding, "advance() without ready()")
        readyOutstanding = false
        if let installed = ready.snapshot { log.snapshotInstalled(installed) }
        if let last = ready.entries.last { log.stableTo(index: last.index, term: last.term) }
        // A snapshot restored while this Ready was out brought the membership as of its
        // index: the Ready's older changes must not take it back.
        let supersededThrough = log.pendingSnapshot?.index ?? 0
        for entry in ready.committedEntries where entry.kind == .membershipChange && entry.index > supersededThrough {
            applyMembership(entry)
        }
        if let last = ready.committedEntries.last { log.appliedTo(last.index) }
        log.evict(keepingBytes: config.entryCacheBytesMax)
        if role == .leader {
            if progressOfSelfAdvanced() { commitAndBroadcast() }
            releaseReadsAwaitingCommit()
        }
    }
}
