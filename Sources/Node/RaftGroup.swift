import Log
import Raft

/// The application of a Raft group: deterministic, driven only by committed entries.
public protocol ReplicatedStateMachine {
    /// What `capture()` takes: the state as of the last applied entry, cheap to take (a
    /// copy-on-write value, say), from which `snapshotData(of:)` makes the bytes later, on
    /// another thread, while this machine keeps applying.
    associatedtype Capture: Sendable
    /// MUST be deterministic: every replica applies the same entries in the same order and
    /// must reach the same state.
    mutating func apply(_ entry: Entry)
    /// The state as of the last applied entry, to be turned into bytes later.
    func capture() -> Capture
    /// A capture's snapshot bytes; slow, and safe on any thread.
    static func snapshotData(of capture: Capture) -> [UInt8]
    /// Discards all state and takes the snapshot's.
    mutating func restore(from data: [UInt8]) throws
    /// What a follower receives for a snapshot of the current state besides its file.
    var snapshotTransferExtraBytes: Int { get }
    /// Makes durable what the state refers to outside its snapshot (bodies in a store of
    /// their own); runs before a snapshot is written, since the log that could rebuild them
    /// goes once it is.
    func makeReferencesDurable() throws(LogError)
}

extension ReplicatedStateMachine {
    /// The state as of the last applied entry, as bytes.
    public func snapshotData() -> [UInt8] { Self.snapshotData(of: capture()) }

    /// What a follower receives for a snapshot of the current state besides its file: none,
    /// unless the state refers to data kept elsewhere.
    public var snapshotTransferExtraBytes: Int { 0 }

    /// Nothing outside the snapshot: nothing to make durable.
    public func makeReferencesDurable() throws(LogError) {}
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
        /// ...or once this many payload bytes were, or this many times the latest
        /// snapshot's file, if more: a snapshot costs what its file holds, so for a large
        /// state they come further apart, and their work grows with the state, not with
        /// its square.
        public var snapshotEveryBytes: Int = 64 << 20
        public var snapshotEveryFileMultiple: Int = 4
        /// ...or once this long has passed with anything applied (the shell keeps the time).
        public var snapshotEveryMs: Int64 = 30_000
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
    private var latestSnapshotFileBytes = 0

    public enum StartError: Error {
        case invalidConfig(Config.Invalid)
        case snapshotRejected(any Error)
    }

    /// Starts from what storage recovered: `snapshot` (its bytes) restores the machine, and
    /// the core's reference to it gains what the machine sends with it. A node with nothing
    /// stored and `bootstrapVoters` founds a new group with those voters.
    public init(
        config: Config, storage: any RaftStorage, recovered: RaftNode.RecoveredState, snapshot: Snapshot?, machine: Machine,
        bootstrapVoters: Set<NodeID>? = nil, options: Options = Options()
    ) throws(StartError) {
        precondition(snapshot?.metadata == recovered.snapshot?.metadata, "the snapshot's bytes must be the recovered snapshot's")
        self.storage = storage
        self.options = options
        self.machine = machine
        if let snapshot {
            do { try self.machine.restore(from: snapshot.data) } catch { throw .snapshotRejected(error) }
        }
        var recovered = recovered
        recovered.snapshot?.bytes += self.machine.snapshotTransferExtraBytes
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
    @discardableResult
    public func leaderReportedDead(_ node: NodeID) -> Bool { core.leaderReportedDead(node) }

    /// See `RaftNode.heardFrom`.
    public func heardFrom(_ node: NodeID) { core.heardFrom(node) }

    public func step(_ message: Message) { core.step(message) }

    /// Handles every pending Ready, persisting on the calling thread. `send` gets each
    /// outgoing message once it may leave; `beforePersisting` runs after the messages that
    /// may leave before the sync were given to `send`, so that the shell can put them on the
    /// wire first (the leader replicates while its own fsync runs); `snapshotSaved` gets each
    /// snapshot taken once it is durable and the log behind it gone. Returns the application
    /// entries applied during this call, in order.
    @discardableResult
    public func process(
        send: (Message) -> Void = { _ in }, beforePersisting: () -> Void = {},
        snapshotSaved: (SnapshotCapture) throws(LogError) -> Void = { _ in }
    ) throws(LogError) -> [Entry] {
        var applied: [Entry] = []
        while let ready = nextReady() {
            precondition(ready.snapshotPieces.isEmpty && ready.snapshot == nil && ready.entryFetches.isEmpty,
                         "a group with followers is driven by its node's shell, not by process()")
            ready.messages.forEach(send)
            if !ready.messages.isEmpty { beforePersisting() }
            try storage.persist(ready)
            ready.messagesAfterPersist.forEach(send)
            applied += apply(ready)
            advance(ready)
            if let capture = try snapshotIfDue() { try snapshotSaved(capture) }
        }
        return applied
    }

    /// The next Ready, if there is work. The caller sends `messages`, has it persisted (on
    /// another thread if it likes: see `Persister`), sends `messagesAfterPersist`, applies
    /// it (`apply`) and calls `advance`. Proposals made meanwhile ride on the next Ready:
    /// that is the group commit.
    public func nextReady() -> Ready? {
        core.hasReady ? core.ready() : nil
    }

    /// See `RaftNode.takeEntryFetches()`.
    public func takeEntryFetches() -> [EntryFetch] { core.takeEntryFetches() }

    /// See `RaftNode.entriesFetched(_:entries:)`.
    public func entriesFetched(_ fetch: EntryFetch, entries: [Entry]) { core.entriesFetched(fetch, entries: entries) }

    /// See `RaftNode.entriesFetchFailed(_:)`.
    public func entriesFetchFailed(_ fetch: EntryFetch) { core.entriesFetchFailed(fetch) }

    /// See `RaftNode.snapshotUnavailable(index:)`.
    public func snapshotUnavailable(index: LogIndex) { core.snapshotUnavailable(index: index) }

    /// See `RaftNode.abandonIncomingSnapshot()`.
    public func abandonIncomingSnapshot() { core.abandonIncomingSnapshot() }

    /// Messages that may leave now, while a Ready is being persisted (see
    /// `RaftNode.takeMessages`).
    public func takeMessages() -> [Message] {
        core.takeMessages()
    }

    /// Whether `apply` may run before the Ready is persisted. Its committed entries are
    /// durable here already; but a snapshot from the leader is restored only once it is on
    /// disk, and entries that include a membership change only once their commit index is.
    public static func appliesBeforePersisting(_ ready: Ready) -> Bool {
        ready.snapshot == nil && !ready.commitMustBeDurable
    }

    /// The machine takes a snapshot installed from the leader (`body` restores it); MUST
    /// come before `apply` of the Ready that installs it.
    public func installSnapshot(_ body: (inout Machine) -> Void) {
        body(&machine)
        appliedEntriesSinceSnapshot = 0
        appliedBytesSinceSnapshot = 0
    }

    /// Applies the Ready's committed entries (its snapshot, if any, installed before with
    /// `installSnapshot`). Returns the application entries applied.
    public func apply(_ ready: Ready) -> [Entry] {
        var applied: [Entry] = []
        machineIsAhead = !ready.committedEntries.isEmpty
        for entry in ready.committedEntries where entry.kind == .normal {
            machine.apply(entry)
            applied.append(entry)
            appliedEntriesSinceSnapshot += 1
            appliedBytesSinceSnapshot += entry.payloadBytes
        }
        return applied
    }

    /// After `ready` is persisted and applied: advances the core.
    public func advance(_ ready: Ready) {
        core.advance(ready)
        machineIsAhead = false
    }

    /// The machine applied entries whose Ready the core has not yet advanced past: a
    /// snapshot now would hold more than its index says.
    public private(set) var machineIsAhead = false

    /// Whether a snapshot may be captured now: no Ready is outstanding, no snapshot from the
    /// leader waits to be installed (either way the log may have moved past what is
    /// applied), and the machine has applied nothing the core has not advanced past.
    public var mayCaptureSnapshot: Bool { !core.readyOutstanding && !core.snapshotAwaitsInstall && !machineIsAhead }

    /// The storage this group persists to in `process`.
    public var persistentStorage: any RaftStorage { storage }

    /// Gives the state machine to `body`, e.g. to collect what applying produced.
    public func withMachine<Result>(_ body: (inout Machine) throws -> Result) rethrows -> Result {
        try body(&machine)
    }

    // MARK: Snapshots

    /// A snapshot taken but not yet persisted: where it sits in the log and the state.
    public struct SnapshotCapture: Sendable {
        public var metadata: SnapshotMetadata
        public var state: Machine.Capture

        /// The snapshot's bytes; slow: for the persister's thread.
        public func snapshot() -> Snapshot {
            Snapshot(metadata: metadata, data: Machine.snapshotData(of: state))
        }

        /// What a follower receives for it: its file, `fileBytes` long, and what the machine
        /// sends with it.
        public func reference(fileBytes: Int) -> SnapshotReference {
            SnapshotReference(metadata: metadata, bytes: fileBytes + transferExtraBytes)
        }

        let transferExtraBytes: Int
    }

    /// Whether the log applied since the last snapshot has passed its threshold, or
    /// anything was applied and `elapsedMs` since the last snapshot passed its interval.
    public func snapshotIsDue(elapsedMs: Int64) -> Bool {
        appliedEntriesSinceSnapshot >= options.snapshotEveryEntries
            || appliedBytesSinceSnapshot >= max(options.snapshotEveryBytes, options.snapshotEveryFileMultiple * latestSnapshotFileBytes)
            || (appliedEntriesSinceSnapshot > 0 && elapsedMs >= options.snapshotEveryMs)
    }

    /// Captures the state as of the applied index, for the shell to persist and then hand to
    /// `recordSnapshot`. MUST be invoked only when `mayCaptureSnapshot`: the machine and the
    /// core then agree on what is applied.
    public func captureSnapshot() -> SnapshotCapture {
        precondition(mayCaptureSnapshot, "a snapshot captured while a Ready is outstanding, a snapshot awaits install, or the machine is ahead of the core")
        let metadata = core.snapshotMetadataAtApplied
        appliedEntriesSinceSnapshot = 0
        appliedBytesSinceSnapshot = 0
        return SnapshotCapture(metadata: metadata, state: machine.capture(), transferExtraBytes: machine.snapshotTransferExtraBytes)
    }

    /// A captured snapshot could not be written (the disk is full): another is due at once.
    public func snapshotFailed() {
        appliedEntriesSinceSnapshot = max(appliedEntriesSinceSnapshot, options.snapshotEveryEntries)
    }

    /// A captured snapshot is on disk, its file `fileBytes` long: the core drops the log
    /// behind it. Returns up to where it did, for the storage to drop too, or nil if it did
    /// not (see `RaftNode.compact(with:retainingEntries:)`).
    @discardableResult
    public func recordSnapshot(_ capture: SnapshotCapture, fileBytes: Int) -> LogIndex? {
        latestSnapshotFileBytes = fileBytes
        let snapshot = capture.reference(fileBytes: fileBytes)
        return core.compact(with: snapshot, retainingEntries: options.entriesRetainedAfterSnapshot) ? core.firstIndex - 1 : nil
    }

    private func snapshotIfDue() throws(LogError) -> SnapshotCapture? {
        guard mayCaptureSnapshot, snapshotIsDue(elapsedMs: 0) else { return nil }
        let capture = captureSnapshot()
        let encoded = EncodedSnapshot(capture.snapshot())
        try machine.makeReferencesDurable()
        try storage.saveSnapshot(encoded, compactTo: 0)
        if let compacted = recordSnapshot(capture, fileBytes: encoded.fileByteCount) {
            try storage.compactLog(through: compacted)
        }
        return capture
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
