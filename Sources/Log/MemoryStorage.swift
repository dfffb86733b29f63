import Raft

/// A node's disk in memory, for simulation, shared by its groups as the write-ahead log is
/// (`WriteAheadLog`): what each group holds durably, and the writes of every group since the
/// last sync, in the order made. A sync by any group makes them all durable. A crash keeps an
/// arbitrary prefix of the unsynced writes (the rest never reached the disk), across groups,
/// and may tear the first lost entries write, so that only some of its entries survive —
/// what a real disk may do to writes that were never synced.
public final class MemoryDisk {
    enum Write {
        case installSnapshot(Snapshot)
        case entries([Entry])
        case hardState(HardState, commitMustBeDurable: Bool)
        case saveSnapshot(Snapshot, compactTo: LogIndex)
        case compact(through: LogIndex)
    }

    /// One group's durable state.
    struct Group {
        var hardState = HardState()
        var latestHardState = HardState()
        /// The snapshot it holds durably, bytes and all.
        var snapshot: Snapshot?
        /// Durable entries, contiguous; they may start before the snapshot's index (retained).
        var entries: [Entry] = []
    }

    private(set) var groups: [UInt64: Group] = [:]
    private var unsynced: [(group: UInt64, write: Write)] = []

    public init() {}

    /// The storage of one group on this disk.
    public func storage(group: UInt64) -> MemoryStorage { MemoryStorage(disk: self, group: group) }

    func record(_ write: Write, of group: UInt64) { unsynced.append((group, write)) }

    func sync() {
        for (group, write) in unsynced { apply(write, to: group) }
        unsynced = []
    }

    func close(group: UInt64) {
        sync()
        groups[group, default: Group()].hardState = groups[group, default: Group()].latestHardState
    }

    /// Loses what was not synced, of every group, except a random prefix; returns a note for
    /// traces.
    public func crash(random: inout SeededGenerator) -> String {
        let kept = Int.random(in: 0...unsynced.count, using: &random)
        for (group, write) in unsynced.prefix(kept) { apply(write, to: group) }
        var note = "kept \(kept)/\(unsynced.count) unsynced writes"
        if kept < unsynced.count, case .entries(let lost) = unsynced[kept].write, lost.count > 1, Bool.random(using: &random) {
            let torn = Int.random(in: 1..<lost.count, using: &random)
            apply(.entries(Array(lost.prefix(torn))), to: unsynced[kept].group)
            note += ", tore the next after \(torn)/\(lost.count) entries"
        }
        unsynced = []
        for id in groups.keys { groups[id]!.latestHardState = groups[id]!.hardState }
        return note
    }

    private func apply(_ write: Write, to id: UInt64) {
        var group = groups.removeValue(forKey: id) ?? Group()
        group.apply(write)
        groups[id] = group
    }
}

extension MemoryDisk.Group {
    fileprivate mutating func apply(_ write: MemoryDisk.Write) {
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

/// `RaftStorage` in memory, for simulation: one group's view of a `MemoryDisk`, alone on it
/// unless made with `MemoryDisk.storage(group:)`.
public final class MemoryStorage: RaftStorage {
    public let disk: MemoryDisk
    public let group: UInt64

    public convenience init() { self.init(disk: MemoryDisk(), group: 1) }

    init(disk: MemoryDisk, group: UInt64) {
        self.disk = disk
        self.group = group
    }

    private var durable: MemoryDisk.Group { disk.groups[group] ?? MemoryDisk.Group() }
    /// The snapshot it holds durably, bytes and all.
    public var snapshot: Snapshot? { durable.snapshot }
    var entries: [Entry] { durable.entries }

    public func append(_ entries: [Entry]) throws(LogError) {
        if !entries.isEmpty { disk.record(.entries(entries), of: group) }
    }

    public func setHardState(_ state: HardState, commitMustBeDurable: Bool) throws(LogError) {
        disk.record(.hardState(state, commitMustBeDurable: commitMustBeDurable), of: group)
    }

    public func installSnapshot(_ encoded: EncodedSnapshot) throws(LogError) {
        disk.record(.installSnapshot(encoded.snapshot), of: group)
    }

    public func saveSnapshot(_ encoded: EncodedSnapshot, compactTo: LogIndex) throws(LogError) {
        disk.record(.saveSnapshot(encoded.snapshot, compactTo: compactTo), of: group)
    }

    public func compactLog(through index: LogIndex) throws(LogError) {
        disk.record(.compact(through: index), of: group)
    }

    /// Makes the writes of every group on the disk durable, as one sync of the shared log does.
    public func sync() throws(LogError) { disk.sync() }

    public func close() throws(LogError) { disk.close(group: group) }

    /// Loses what was not synced on the whole disk (see `MemoryDisk.crash`).
    public func crash(random: inout SeededGenerator) -> String { disk.crash(random: &random) }

    /// Reads back durable entries, as `DurableStorage.entries(in:bytesMax:)` does.
    public func entries(in range: ClosedRange<LogIndex>, bytesMax: Int) -> [Entry]? {
        let entries = self.entries
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
        let durable = self.durable
        let (snapshot, hardState, entries) = (durable.snapshot, durable.hardState, durable.entries)
        let after = snapshot?.metadata.index ?? 0
        let reference = snapshot.map { SnapshotReference(metadata: $0.metadata, bytes: max(1, $0.data.count)) }
        return RaftNode.RecoveredState(hardState: hardState, snapshot: reference, entries: entries.filter { $0.index > after })
    }
}
