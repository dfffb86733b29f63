import Raft

/// One node's disk: what is durable, and writes made since the last sync. A crash keeps an
/// arbitrary prefix of the unsynced writes (the rest never reached the platter), and may tear
/// the first lost entries write so that only some of its entries survive.
struct SimulatedDisk {
    enum Write {
        /// A snapshot received from the leader replaces the whole log.
        case installSnapshot(Snapshot)
        /// Replaces the stored entries from `entries.first.index` on.
        case entries([Entry])
        case hardState(HardState)
        /// The node's own snapshot; the log before `compactTo` may go.
        case compact(Snapshot, compactTo: LogIndex)
    }

    private(set) var hardState = HardState()
    private(set) var snapshot: Snapshot?
    /// Durable entries, contiguous; they may start before the snapshot's index (retained).
    private(set) var entries: [Entry] = []
    private(set) var unsynced: [Write] = []

    mutating func write(_ write: Write) {
        unsynced.append(write)
    }

    mutating func sync() {
        for write in unsynced { apply(write) }
        unsynced = []
    }

    /// Loses what was not synced, except a random prefix; returns a note for the trace.
    mutating func crash(random: inout SeededGenerator) -> String {
        let kept = Int.random(in: 0...unsynced.count, using: &random)
        for write in unsynced.prefix(kept) { apply(write) }
        var note = "kept \(kept)/\(unsynced.count) unsynced writes"
        if kept < unsynced.count, case .entries(let lost) = unsynced[kept], lost.count > 1, Bool.random(using: &random) {
            let torn = Int.random(in: 1..<lost.count, using: &random)
            apply(.entries(Array(lost.prefix(torn))))
            note += ", tore the next after \(torn)/\(lost.count) entries"
        }
        unsynced = []
        return note
    }

    private mutating func apply(_ write: Write) {
        switch write {
        case .installSnapshot(let received):
            snapshot = received
            entries = []
        case .entries(let new):
            guard let first = new.first else { return }
            let start = entries.first?.index ?? first.index
            let lastStored = start + LogIndex(entries.count) - 1
            if entries.isEmpty {
                let expected = (snapshot?.metadata.index ?? 0) + 1
                precondition(first.index <= expected, "disk: entries start at \(first.index), a gap after \(expected - 1)")
                // Entries covered by the snapshot are never needed again.
                entries = new.filter { $0.index >= expected }
                return
            }
            precondition(first.index <= lastStored + 1, "disk: appending \(first.index) leaves a gap after \(lastStored)")
            if first.index < start {
                entries = new.filter { $0.index >= start }
                return
            }
            entries.removeSubrange(Int(first.index - start)...)
            entries.append(contentsOf: new)
        case .hardState(let state):
            hardState = state
        case .compact(let own, let compactTo):
            if let current = snapshot, current.metadata.index >= own.metadata.index { return }
            snapshot = own
            if let start = entries.first?.index, compactTo >= start {
                entries.removeFirst(min(entries.count, Int(compactTo - start + 1)))
            }
        }
    }

    /// What a restarting node reads back.
    func recover() -> RaftNode.RecoveredState {
        let after = snapshot?.metadata.index ?? 0
        return RaftNode.RecoveredState(hardState: hardState, snapshot: snapshot, entries: entries.filter { $0.index > after })
    }
}
