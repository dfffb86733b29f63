import Raft

/// Where a Raft node keeps what must survive a crash. Writes are not durable until `sync()`
/// returns; only then may the shell tell the core (through `advance`) that they are.
public protocol RaftStorage: AnyObject {
    /// Stores entries, replacing any stored from `entries.first.index` on.
    func append(_ entries: [Entry]) throws(LogError)
    /// Records term, vote and commit; term and vote are durable after `sync()`. The commit
    /// index may lag (it is a hint) unless `commitMustBeDurable`.
    func setHardState(_ state: HardState, commitMustBeDurable: Bool) throws(LogError)
    /// A snapshot received from the leader (as its file's bytes) replaces the whole log.
    func installSnapshot(_ encoded: EncodedSnapshot) throws(LogError)
    /// The node's own snapshot, encoded beforehand (on any thread: it needs nothing of the
    /// storage); the log up to `compactTo` is no longer needed.
    func saveSnapshot(_ encoded: EncodedSnapshot, compactTo: LogIndex) throws(LogError)
    /// The log up to `index` is no longer needed (a snapshot covers it).
    func compactLog(through index: LogIndex) throws(LogError)
    /// Makes everything written so far durable: one sync for the whole batch.
    func sync() throws(LogError)
    /// Reads back durable entries from `range.lowerBound` on (at least one, then within
    /// `bytesMax` of payload), for a follower; nil if that one is not stored.
    func entries(in range: ClosedRange<LogIndex>, bytesMax: Int) throws(LogError) -> [Entry]?
    /// A clean shutdown: syncs, and writes the latest commit index too.
    func close() throws(LogError)
}

extension RaftStorage {
    /// Encodes and installs a snapshot received from the leader.
    public func installSnapshot(_ snapshot: Snapshot) throws(LogError) {
        try installSnapshot(EncodedSnapshot(snapshot))
    }

    /// Encodes and saves the node's own snapshot in one go.
    public func saveSnapshot(_ snapshot: Snapshot, compactTo: LogIndex) throws(LogError) {
        try saveSnapshot(EncodedSnapshot(snapshot), compactTo: compactTo)
    }

    /// Records a hard state whose commit index may be written lazily.
    public func setHardState(_ state: HardState) throws(LogError) {
        try setHardState(state, commitMustBeDurable: false)
    }

    /// Persists a Ready's writes in the order its contract gives, with one sync if any of
    /// them must be durable before the Ready's acknowledgements leave. The snapshot pieces
    /// are the shell's to keep; `snapshot` is what they made, given when the Ready installs.
    public func persist(_ ready: Ready, installing snapshot: EncodedSnapshot? = nil) throws(LogError) {
        if let metadata = ready.snapshot {
            guard let snapshot, snapshot.snapshot.metadata == metadata else {
                preconditionFailure("the Ready installs the snapshot at \(metadata.index), but the shell gave \(snapshot.map { "\($0.snapshot.metadata.index)" } ?? "none")")
            }
            try installSnapshot(snapshot)
        }
        try append(ready.entries)
        if let state = ready.hardState { try setHardState(state, commitMustBeDurable: ready.commitMustBeDurable) }
        if ready.mustSync { try sync() }
    }
}
