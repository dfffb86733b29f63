import Log
import Raft

/// The application of a Raft group: deterministic, driven only by committed entries.
public protocol ReplicatedStateMachine {
    /// MUST be deterministic: every replica applies the same entries in the same order and
    /// must reach the same state.
    mutating func apply(_ entry: Entry)
    /// The state as of the last applied entry.
    func snapshotData() -> [UInt8]
    /// Discards all state and takes the snapshot's.
    mutating func restore(from data: [UInt8]) throws
}

/// Runs one Raft group over durable storage: the thin shell around the pure core. Each
/// `process` call takes every pending Ready, sends what may go at once, persists the rest with
/// one sync (group commit: everything proposed since the last call rides on it), sends what
/// waited on that sync, applies committed entries, and snapshots when the log since the last
/// snapshot passes its threshold.
public final class RaftGroup<Machine: ReplicatedStateMachine> {
    public struct Options: Sendable {
        /// Snapshot once this many entries were applied since the last snapshot...
        public var snapshotEveryEntries: Int = 100_000
        /// ...or once this many payload bytes were.
        public var snapshotEveryBytes: Int = 64 << 20
        /// Entries kept behind a snapshot, so slightly lagging followers catch up from the log.
        public var entriesRetainedAfterSnapshot: Int = 1_000
        public init() {}
    }

    public private(set) var core: RaftNode
    public private(set) var machine: Machine
    private let storage: any RaftStorage
    private let options: Options
    private var appliedEntriesSinceSnapshot = 0
    private var appliedBytesSinceSnapshot = 0

    public enum StartError: Error {
        case invalidConfig(Config.Invalid)
        case snapshotRejected(any Error)
    }

    /// Starts from what storage recovered. A node with nothing stored and `bootstrapVoters`
    /// founds a new group with those voters.
    public init(
        config: Config, storage: any RaftStorage, recovered: RaftNode.RecoveredState, machine: Machine,
        bootstrapVoters: Set<NodeID>? = nil, options: Options = Options()
    ) throws(StartError) {
        self.storage = storage
        self.options = options
        self.machine = machine
        let isFresh = recovered.snapshot == nil && recovered.entries.isEmpty && recovered.hardState == HardState()
        do {
            if isFresh, let voters = bootstrapVoters {
                core = try RaftNode(config: config, bootstrapVoters: voters)
            } else {
                core = try RaftNode(config: config, recovered: recovered)
            }
        } catch {
            throw .invalidConfig(error)
        }
        if let snapshot = recovered.snapshot {
            do { try self.machine.restore(from: snapshot.data) } catch { throw .snapshotRejected(error) }
        }
    }

    /// Proposes application entries; see `RaftNode.propose`.
    @discardableResult
    public func propose(_ payloads: [[UInt8]]) throws(ProposalError) -> (term: Term, indexes: ClosedRange<LogIndex>) {
        try core.propose(payloads)
    }

    /// Proposes one membership change; see `RaftNode.proposeMembershipChange`.
    @discardableResult
    public func proposeMembershipChange(_ change: MembershipChange) throws(ProposalError) -> LogIndex {
        try core.proposeMembershipChange(change)
    }

    public func tick() { core.tick() }

    /// See `RaftNode.leaderReportedDead`.
    public func leaderReportedDead(_ node: NodeID) { core.leaderReportedDead(node) }

    public func step(_ message: Message) { core.step(message) }

    /// Handles every pending Ready, persisting on the calling thread. `send` gets each
    /// outgoing message once it may leave; `beforePersisting` runs after the messages that
    /// may leave before the sync were given to `send`, so that the shell can put them on the
    /// wire first (the leader replicates while its own fsync runs). Returns the application
    /// entries applied during this call, in order.
    @discardableResult
    public func process(send: (Message) -> Void = { _ in }, beforePersisting: () -> Void = {}) throws(LogError) -> [Entry] {
        var applied: [Entry] = []
        while let ready = nextReady() {
            ready.messages.forEach(send)
            if !ready.messages.isEmpty { beforePersisting() }
            try storage.persist(ready)
            ready.messagesAfterPersist.forEach(send)
            applied += try complete(ready)
        }
        return applied
    }

    /// The next Ready, if there is work. The caller sends `messages`, has `storage` persist
    /// it (on another thread if it likes: nothing else touches the storage until `complete`),
    /// sends `messagesAfterPersist`, and then calls `complete`. Proposals made meanwhile ride
    /// on the next Ready: that is the group commit.
    public func nextReady() -> Ready? {
        core.hasReady ? core.ready() : nil
    }

    /// After `ready` is persisted: applies its committed entries, advances the core, and
    /// snapshots if due. Returns the application entries applied.
    public func complete(_ ready: Ready) throws(LogError) -> [Entry] {
        var applied: [Entry] = []
        if let snapshot = ready.snapshot {
            // The leader's snapshot was verified when received; a failure here is a bug.
            do { try machine.restore(from: snapshot.data) } catch { preconditionFailure("restoring a received snapshot failed: \(error)") }
            appliedEntriesSinceSnapshot = 0
            appliedBytesSinceSnapshot = 0
        }
        for entry in ready.committedEntries where entry.kind == .normal {
            machine.apply(entry)
            applied.append(entry)
            appliedEntriesSinceSnapshot += 1
            appliedBytesSinceSnapshot += entry.payloadBytes
        }
        core.advance(ready)
        try snapshotIfDue()
        return applied
    }

    /// The storage this group persists to, for a shell that persists Readys itself.
    public var persistentStorage: any RaftStorage { storage }

    /// Gives the state machine to `body`, e.g. to collect what applying produced.
    public func withMachine<Result>(_ body: (inout Machine) throws -> Result) rethrows -> Result {
        try body(&machine)
    }

    private func snapshotIfDue() throws(LogError) {
        guard appliedEntriesSinceSnapshot >= options.snapshotEveryEntries || appliedBytesSinceSnapshot >= options.snapshotEveryBytes else {
            return
        }
        let snapshot = core.compact(snapshotData: machine.snapshotData(), retainingEntries: options.entriesRetainedAfterSnapshot)
        try storage.saveSnapshot(snapshot, compactTo: core.firstIndex - 1)
        appliedEntriesSinceSnapshot = 0
        appliedBytesSinceSnapshot = 0
    }

    /// A founding or restarted single-voter group elects itself within two election
    /// timeouts; ticks until it has. Returns whether it leads.
    public func campaignAlone() throws(LogError) -> Bool {
        for _ in 0..<(2 * core.config.electionTimeoutTicks + 1) {
            if core.role == .leader { break }
            core.tick()
            try process()
        }
        try process()
        return core.role == .leader
    }
}
