import Raft

/// `RaftStorage` in memory, for simulation: what is durable, and the writes made since the
/// last sync. A crash keeps an arbitrary prefix of the unsynced writes (the rest never
/// reached the disk) and may tear the first lost entries write, so that only some of its
/// entries survive — what a real disk may do to writes that were never synced.
public final class MemoryStorage: RaftStorage {
    enum Write {
        case installSnapshot(Snapshot)
        case entries([Entry])
        case hardState(HardState, commitMustBeDurable: Bool)
        case saveSnapshot(Snapshot, compactTo: LogIndex)
        case compact(through: LogIndex)
    }

    private(set) var hardState = HardState()
    private var latestHardState = HardState()
    /// The snapshot it holds durably, bytes and all.
    public private(set) var snapshot: Snapshot?
    /// Durable entries, contiguous; they may start before the snapshot's index (retained).
    private(set) var entries: [Entry] = []
    private var unsynced: [Write] = []

    public init() {}

    public func append(_ entries: [Entry]) throws(LogError) {
        if !entries.isEmpty { unsynced.append(.entries(entries)) }
    }

    public func setHardState(_ state: HardState, commitMustBeDurable: Bool) throws(LogError) {
        unsynced.append(.hardState(state, commitMustBeDurable: commitMustBeDurable))
    }

    public func installSnapshot(_ encoded: EncodedSnapshot) throws(LogError) {
        unsynced.append(.installSnapshot(encoded.snapshot))
    }

    public func saveSnapshot(_ encoded: EncodedSnapshot, compactTo: LogIndex) throws(LogError) {
        unsynced.append(.saveSnapshot(encoded.snapshot, compactTo: compactTo))
    }

    public func compactLog(through index: LogIndex) throws(LogError) {
        unsynced.append(.compact(through: index))
    }

    public func sync() throws(LogError) {
        for write in unsynced { apply(write) }
        unsynced = []
    }

    public func close() throws(LogError) {
        try sync()
        hardState = latestHardState
    }

    /// Loses what was not synced, except a random prefix; returns a note for traces.
    public func crash(random: inout SeededGenerator) -> String {
        let kept = Int.random(in: 0...unsynced.count, using: &random)
        for write in unsynced.prefix(kept) { apply(write) }
        var note = "kept \(kept)/\(unsynced.count) unsynced writes"
        if kept < unsynced.count, case .entries(let lost) = unsynced[kept], lost.count > 1, Bool.random(using: &random) {
            let torn = Int.random(in: 1..<lost.count, using: &random)
            apply(.entries(Array(lost.prefix(torn))))
            note += ", tore the next after \(torn)/\(lost.count) entries"
        }
        unsynced = []
        latestHardState = hardState
        return note
    }

    /// Reads back durable entries, as `DurableStorage.entries(in:bytesMax:)` does.
    public func entries(in range: ClosedRange<LogIndex>, bytesMax: Int) -> [Entry]? {
        guard let start = entries.first?.index, range.lowerBound >= start, range.lowerBound < start + LogIndex(entries.count) else { return nil }
        var result: [Entry] = []
        var bytes = 0
        for entry in entries[Int(range.lowerBound - start)...] where entry.index <= range.upperBound {
            if !result.isEmpty, bytes + entry.payloadBytes > bytesMax { break }
            bytes += entry.payloadBytes
            result.append(entry)
        }
        return result
    }

    /// What a restarting node reads back: the same shape `DurableStorage.open` returns.
    public func recover() -> RaftNode.RecoveredState {
        let after = snapshot?.metadata.index ?? 0
        let reference = snapshot.map { SnapshotReference(metadata: $0.metadata, bytes: max(1, $0.data.count)) }
        return RaftNode.RecoveredState(hardState: hardState, snapshot: reference, entries: entries.filter { $0.index > after })
    }

    private func apply(_ write: Write) {
        switch write {
        case .installSnapshot(let received):
            snapshot = received
            entries = []
        case .entries(let new):
            guard let first = new.first else { return }
            guard let start = entries.first?.index else {
                let expected = (snapshot?.metadata.index ?? 0) + 1
                precondition(first.index <= expected, "storage: entries start at \(first.index), a gap after \(expected - 1)")
                // Entries covered by the snapshot are never needed again.
                entries = new.filter { $0.index >= expected }
                return
            }
            let lastStored = start + LogIndex(entries.count) - 1
            precondition(first.index <= lastStored + 1, "storage: appending \(first.index) leaves a gap after \(lastStored)")
            if first.index < start {
                entries = new.filter { $0.index >= start }
                return
            }
            entries.removeSubrange(Int(first.index - start)...)
            entries.append(contentsOf: new)
        case .hardState(let state, let commitMustBeDurable):
            latestHardState = state
            if HardStateFile.mustWrite(state, over: hardState, commitMustBeDurable: commitMustBeDurable) { hardState = state }
        case .compact(let index):
            if let start = entries.first?.index, index >= start {
                entries.removeFirst(min(entries.count, Int(index - start + 1)))
            }
        case .saveSnapshot(let own, let compactTo):
            if let current = snapshot, current.metadata.index >= own.metadata.index { return }
            snapshot = own
            if let start = entries.first?.index, compactTo >= start {
                entries.removeFirst(min(entries.count, Int(compactTo - start + 1)))
            }
        }
    }
}
