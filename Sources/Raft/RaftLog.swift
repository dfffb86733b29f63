/// The in-memory view of one node's log: the point it was compacted to, the entries after
/// it, and how far they are durable, committed and applied. Writes to disk leave through
/// `Ready`; this type only keeps the bookkeeping that decides what goes there.
///
/// Only the latest entries keep their data in memory: once applied, older ones drop it
/// (`evict`), keeping their term, kind and size, and a leader sending them reads them back
/// from disk through its shell (`RaftNode.entriesFetched`).
///
/// Invariants: `applied <= committed`, `applied <= persisted` once no snapshot is pending,
/// `entries[k].index == offsetIndex + 1 + k`, and every entry from `cachedFrom` on has its
/// data, `cachedFrom <= applied + 1`.
struct RaftLog: Sendable {
    /// The entry just before `entries` (the compaction point); (0, 0) for a new log.
    private(set) var offsetIndex: LogIndex
    private(set) var offsetTerm: Term
    private(set) var entries: [Entry] = []
    /// The first entry that has its data in memory; the ones before it are on disk.
    private(set) var cachedFrom: LogIndex
    /// Data bytes of the entries from `cachedFrom` on.
    private(set) var cachedBytes = 0

    private(set) var committed: LogIndex
    /// The state machine has been handed every entry up to here.
    private(set) var applied: LogIndex
    /// Every entry up to here, as it is in `entries`, is durable on this node.
    private(set) var persisted: LogIndex
    /// A snapshot received from the leader that the shell has yet to persist and restore.
    private(set) var pendingSnapshot: SnapshotMetadata?

    init(offsetIndex: LogIndex = 0, offsetTerm: Term = 0) {
        self.offsetIndex = offsetIndex
        self.offsetTerm = offsetTerm
        committed = offsetIndex
        applied = offsetIndex
        persisted = offsetIndex
        cachedFrom = offsetIndex + 1
    }

    var firstIndex: LogIndex { offsetIndex + 1 }
    var lastIndex: LogIndex { offsetIndex + LogIndex(entries.count) }
    var lastTerm: Term { entries.last?.term ?? offsetTerm }

    /// The term at `index`, or nil if it was compacted away or is past the end.
    func term(at index: LogIndex) -> Term? {
        if index == offsetIndex { return offsetTerm }
        guard index > offsetIndex, index <= lastIndex else { return nil }
        return entries[Int(index - offsetIndex - 1)].term
    }

    func matches(index: LogIndex, term: Term) -> Bool {
        self.term(at: index) == term
    }

    /// The entry at `index` with its data; nil if it was compacted away, is past the end,
    /// or has only its metadata in memory.
    func entry(at index: LogIndex) -> Entry? {
        guard index >= cachedFrom, index > offsetIndex, index <= lastIndex else { return nil }
        return entries[Int(index - offsetIndex - 1)]
    }

    /// What the log holds from an index on.
    enum Held: Equatable {
        /// The entries, within the bounds asked (none past the end).
        case entries([Entry])
        /// Behind the compaction point: only a snapshot has them.
        case compacted
        /// On disk only, from `cachedFrom - 1` back: the shell reads them.
        case onDisk
    }

    /// Raft §5.4.1: a candidate's log is at least as up to date as ours.
    func isUpToDate(lastIndex candidateIndex: LogIndex, lastTerm candidateTerm: Term) -> Bool {
        candidateTerm > lastTerm || (candidateTerm == lastTerm && candidateIndex >= lastIndex)
    }

    /// Entries from `index` on, at least one if any exist, within both bounds.
    func entries(from index: LogIndex, countMax: Int, bytesMax: Int) -> Held {
        guard index > offsetIndex else { return .compacted }
        guard index >= cachedFrom else { return .onDisk }
        guard index <= lastIndex else { return .entries([]) }
        let start = Int(index - offsetIndex - 1)
        var end = start
        var bytes = 0
        while end < entries.count, end - start < countMax {
            bytes += entries[end].payloadBytes
            if end > start, bytes > bytesMax { break }
            end += 1
        }
        return .entries(Array(entries[start..<end]))
    }

    /// Payload bytes of the entries after `start` up to `end`, both within the log.
    func payloadBytes(after start: LogIndex, through end: LogIndex) -> Int {
        precondition(start >= offsetIndex && end <= lastIndex, "(\(start), \(end)] is not in the log (\(offsetIndex), \(lastIndex)]")
        guard end > start else { return 0 }
        return entries[Int(start - offsetIndex)..<Int(end - offsetIndex)].reduce(0) { $0 + $1.payloadBytes }
    }

    /// The terms of the entries in `range`, to check what the shell read back from disk.
    func terms(in range: ClosedRange<LogIndex>) -> [Term]? {
        guard range.lowerBound > offsetIndex, range.upperBound <= lastIndex else { return nil }
        return entries[Int(range.lowerBound - offsetIndex - 1)...Int(range.upperBound - offsetIndex - 1)].map(\.term)
    }

    // MARK: Appending

    /// Appends the leader's entries if our log holds `(prevIndex, prevTerm)`, truncating any
    /// conflicting suffix. Returns the index of the last new entry, or nil on mismatch.
    mutating func maybeAppend(prevIndex: LogIndex, prevTerm: Term, commit: LogIndex, entries new: [Entry]) -> LogIndex? {
        guard matches(index: prevIndex, term: prevTerm) else { return nil }
        let lastNew = prevIndex + LogIndex(new.count)
        if let conflict = firstConflict(in: new) {
            precondition(conflict > committed, "entry \(conflict) conflicts with committed entry (committed=\(committed))")
            append(Array(new[Int(conflict - prevIndex - 1)...]))
        }
        self.commit(to: min(commit, lastNew))
        return lastNew
    }

    /// The index of the first entry of `new` that is missing or has another term here.
    private func firstConflict(in new: [Entry]) -> LogIndex? {
        for entry in new where !matches(index: entry.index, term: entry.term) {
            // An entry at or before the compaction point is committed and so matches.
            if entry.index <= offsetIndex { continue }
            return entry.index
        }
        return nil
    }

    /// Appends entries that start at most one past our end, dropping whatever they replace.
    mutating func append(_ new: [Entry]) {
        guard let first = new.first else { return }
        precondition(first.index > committed, "cannot overwrite committed entry \(first.index) (committed=\(committed))")
        precondition(first.index <= lastIndex + 1, "gap: appending \(first.index) after \(lastIndex)")
        let replaced = Int(first.index - offsetIndex - 1)
        precondition(first.index >= cachedFrom, "appending over entries that dropped their data (\(first.index) < \(cachedFrom))")
        cachedBytes -= entries[replaced...].reduce(0) { $0 + $1.payloadBytes }
        entries.removeSubrange(replaced...)
        entries.append(contentsOf: new)
        cachedBytes += new.reduce(0) { $0 + $1.payloadBytes }
        persisted = min(persisted, first.index - 1)
    }

    /// The largest index at or before `index` whose term is at most `term`, and that term.
    /// Both sides of a rejected append use it to skip whole terms at a time.
    func lastIndex(atOrBefore index: LogIndex, withTermAtMost term: Term) -> (index: LogIndex, term: Term) {
        var candidate = min(index, lastIndex)
        while candidate > offsetIndex {
            let t = self.term(at: candidate)!
            if t <= term { return (candidate, t) }
            candidate -= 1
        }
        return (offsetIndex, offsetTerm)
    }

    // MARK: Commitment and application

    mutating func commit(to index: LogIndex) {
        guard index > committed else { return }
        precondition(index <= lastIndex, "commit \(index) is past the last entry \(lastIndex)")
        committed = index
    }

    /// Whether committed entries, durable here, wait to be handed to the state machine.
    var hasCommittedEntriesToApply: Bool {
        pendingSnapshot == nil && min(committed, persisted) > applied
    }

    /// Committed entries not yet handed to the state machine, only those durable here.
    func committedEntriesToApply(bytesMax: Int) -> [Entry] {
        guard hasCommittedEntriesToApply else { return [] }
        let upTo = min(committed, persisted)
        guard case .entries(let toApply) = entries(from: applied + 1, countMax: Int(upTo - applied), bytesMax: bytesMax) else {
            preconditionFailure("entries after the applied index \(applied) are not in memory")
        }
        return toApply
    }

    /// Drops the data of applied entries, oldest first, until at most `bytesMax` remain in
    /// memory. They are on disk: they were applied, so persisted.
    mutating func evict(keepingBytes bytesMax: Int) {
        while cachedBytes > bytesMax, cachedFrom <= applied, cachedFrom <= lastIndex {
            let slot = Int(cachedFrom - offsetIndex - 1)
            cachedBytes -= entries[slot].payloadBytes
            entries[slot] = entries[slot].droppingData()
            cachedFrom += 1
        }
    }

    mutating func appliedTo(_ index: LogIndex) {
        precondition(index <= committed && index >= applied, "applied \(index) out of range (\(applied), \(committed)]")
        applied = index
    }

    // MARK: Durability

    /// Entries the shell has not yet been asked to persist.
    var unstableEntries: ArraySlice<Entry> {
        let start = Int(max(persisted, offsetIndex) - offsetIndex)
        return entries[start...]
    }

    /// The shell persisted entries up to `(index, term)`; ignored if they were replaced since.
    mutating func stableTo(index: LogIndex, term: Term) {
        guard index > persisted, matches(index: index, term: term) else { return }
        persisted = index
    }

    // MARK: Snapshots

    /// Replaces the whole log by a snapshot from the leader.
    mutating func restore(_ meta: SnapshotMetadata) {
        precondition(meta.index > committed, "restoring snapshot \(meta.index) at or before commit \(committed)")
        offsetIndex = meta.index
        offsetTerm = meta.term
        entries = []
        cachedFrom = meta.index + 1
        cachedBytes = 0
        committed = meta.index
        persisted = min(persisted, meta.index)
        pendingSnapshot = meta
    }

    /// The shell persisted `snapshot` (a Ready's) and restored its state machine from it.
    /// A newer snapshot restored meanwhile stays pending, for the next Ready to install.
    mutating func snapshotInstalled(_ snapshot: SnapshotMetadata) {
        if pendingSnapshot == snapshot { pendingSnapshot = nil }
        persisted = max(persisted, snapshot.index)
        applied = max(applied, snapshot.index)
    }

    /// Drops the entries up to `index`, which the application has captured in a snapshot.
    mutating func compact(to index: LogIndex) {
        guard index > offsetIndex else { return }
        precondition(index <= applied, "compacting to \(index) past applied \(applied)")
        offsetTerm = term(at: index)!
        let dropped = Int(index - offsetIndex)
        cachedBytes -= entries[..<dropped].reduce(0) { $0 + ($1.index >= cachedFrom ? $1.payloadBytes : 0) }
        entries.removeFirst(dropped)
        offsetIndex = index
        cachedFrom = max(cachedFrom, index + 1)
    }

    /// Sets the state recovered from disk on restart.
    mutating func recover(entries recovered: [Entry], commit: LogIndex) {
        precondition(entries.isEmpty, "recover on a log that already has entries")
        if let first = recovered.first {
            precondition(first.index == offsetIndex + 1, "recovered entries start at \(first.index), expected \(offsetIndex + 1)")
        }
        entries = recovered
        cachedBytes = recovered.reduce(0) { $0 + $1.payloadBytes }
        persisted = lastIndex
        committed = max(offsetIndex, min(commit, lastIndex))
    }
}
