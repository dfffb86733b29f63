import Glibc
import Raft
import Synchronization

/// A Raft group's durable state: its entries in the node's shared write-ahead log, its hard
/// state file and snapshot files in `<data directory>/group-<id>/`.
public final class DurableStorage: RaftStorage, Sendable {
    public struct Options: Sendable {
        /// The segment size of a log of its own (`open(dataDirectory:groupID:options:)`).
        public var segmentBytesMax = 64 << 20
        /// The largest entry of a log of its own, and of one written before groups shared one.
        public var entryBytesMax = 64 << 20
        /// The largest snapshot accepted on load; bounds what recovery decompresses.
        public var snapshotBytesMax = 1 << 32
        public init() {}
    }

    /// What `open` found: the state to restart the Raft core from, the newest snapshot
    /// (its bytes for the state machine, and its file), and notes for the operator. The
    /// core's reference to the snapshot counts its file's bytes, what a follower is sent; a
    /// shell that sends more with them adds that.
    public struct Recovery: Sendable {
        public var state: RaftNode.RecoveredState
        public var snapshot: StoredSnapshot?
        public var warnings: [String]
    }

    /// The group's hard state between calls. The calls come from the shell's persister,
    /// which may use more than one thread: those that touch it, or write a snapshot file,
    /// take the lock for their whole duration; the shared log has a lock of its own.
    private struct State {
        var latestHardState: HardState
        /// Set when a commit index must be durable at the next sync, not merely a hint.
        var hardStateMustBeWritten = false
        var writtenHardState: HardState
    }

    public let directory: String
    public let groupID: UInt64
    /// Shared with the node's other groups.
    public let log: WriteAheadLog
    private let state: Mutex<State>

    private init(directory: String, groupID: UInt64, log: WriteAheadLog, hardState: HardState) {
        self.directory = directory
        self.groupID = groupID
        self.log = log
        state = Mutex(State(latestHardState: hardState, writtenHardState: hardState))
    }

    public static func groupDirectory(dataDirectory: String, groupID: UInt64) -> String {
        dataDirectory + "/group-\(groupID)"
    }

    /// Opens (creating if needed) and recovers the storage of a node's only group, with a
    /// write-ahead log of its own. Throws, naming the file and offset, on any damage other
    /// than a torn tail.
    public static func open(dataDirectory: String, groupID: UInt64, options: Options = Options()) throws(LogError) -> (DurableStorage, Recovery) {
        var logOptions = WriteAheadLog.Options()
        logOptions.segmentBytesMax = options.segmentBytesMax
        logOptions.entryBytesMax = options.entryBytesMax
        let log = try WriteAheadLog.open(dataDirectory: dataDirectory, options: logOptions)
        return try open(dataDirectory: dataDirectory, groupID: groupID, log: log, options: options)
    }

    /// Opens (creating if needed) and recovers a group's storage over the node's shared log.
    public static func open(
        dataDirectory: String, groupID: UInt64, log: WriteAheadLog, options: Options = Options()
    ) throws(LogError) -> (DurableStorage, Recovery) {
        try FileSystem.createDirectory(dataDirectory)
        let directory = groupDirectory(dataDirectory: dataDirectory, groupID: groupID)
        try FileSystem.createDirectory(directory)
        // Leftovers of an atomic write that a crash interrupted: never renamed, never valid.
        for name in try FileSystem.list(directory) where name.hasSuffix(".tmp") {
            try FileSystem.remove(directory + "/" + name)
        }
        let hardState = try HardStateFile.read(directory: directory)
        let (newest, warnings) = try SnapshotFile.newestValid(directory: directory, dataBytesMax: options.snapshotBytesMax)
        let snapshot = newest?.snapshot
        var stored = log.takeRecovered(group: groupID)
        try moveSegmentsOfOneGroup(directory: directory, groupID: groupID, options: options, into: log, stored: &stored)
        let entries = try entriesFollowing(snapshot, stored, groupID: groupID, log: log)
        let storage = DurableStorage(directory: directory, groupID: groupID, log: log, hardState: hardState)
        let reference = newest.map { SnapshotReference(metadata: $0.snapshot.metadata, bytes: $0.fileBytes) }
        return (storage, Recovery(
            state: RaftNode.RecoveredState(hardState: hardState, snapshot: reference, entries: entries), snapshot: newest, warnings: warnings))
    }

    /// Moves a log written before groups shared one (`SegmentedLog`'s segments in the group's
    /// directory) into the shared log, durably, then deletes it. A crash part way leaves the
    /// old segments, and the move is made again over whatever of it reached the shared log.
    private static func moveSegmentsOfOneGroup(
        directory: String, groupID: UInt64, options: Options, into log: WriteAheadLog, stored: inout [Entry]
    ) throws(LogError) {
        guard try FileSystem.list(directory).contains(where: { $0.hasPrefix("wal-") && $0.hasSuffix(".seg") }) else { return }
        var oldOptions = SegmentedLog.Options()
        oldOptions.entryBytesMax = options.entryBytesMax
        let (old, entries) = try SegmentedLog.open(directory: directory, groupID: groupID, options: oldOptions)
        if let first = entries.first {
            try log.append(entries, group: groupID)
            try log.sync()
            stored = stored.filter { $0.index < first.index } + entries
        }
        try old.removeAll()
    }

    /// The stored entries that continue the snapshot's history. A log that does not reach
    /// the snapshot, or holds another term at its index, was superseded by a snapshot from
    /// the leader (a crash came before the log was restarted) and is dropped; what the
    /// snapshot covers is compacted away.
    private static func entriesFollowing(_ snapshot: Snapshot?, _ stored: [Entry], groupID: UInt64, log: WriteAheadLog) throws(LogError) -> [Entry] {
        let base = snapshot?.metadata.index ?? 0
        guard let first = stored.first, let last = stored.last else { return [] }
        if first.index > base + 1 {
            throw .gap(reason: "the log starts at \(first.index) but the snapshot ends at \(base)")
        }
        if first.index == base + 1 { return stored }
        if last.index >= base, stored[Int(base - first.index)].term == snapshot?.metadata.term {
            try log.compact(group: groupID, through: base)
            return Array(stored[Int(base - first.index + 1)...])
        }
        try log.restart(group: groupID, after: base)
        return []
    }

    /// The shared log orders its calls itself: nothing of this group's own state is read.
    public func append(_ entries: [Entry]) throws(LogError) {
        try log.append(entries, group: groupID)
    }

    public func setHardState(_ hardState: HardState, commitMustBeDurable: Bool) throws(LogError) {
        state.withLock { state in
            state.latestHardState = hardState
            state.hardStateMustBeWritten = state.hardStateMustBeWritten || commitMustBeDurable
        }
    }

    public func installSnapshot(_ encoded: EncodedSnapshot) throws(LogError) {
        try state.withLock { (_) throws(LogError) in
            try SnapshotFile.write(encoded, directory: directory)
            try log.restart(group: groupID, after: encoded.snapshot.metadata.index)
        }
    }

    public func saveSnapshot(_ encoded: EncodedSnapshot, compactTo: LogIndex) throws(LogError) {
        try state.withLock { (_) throws(LogError) in
            try SnapshotFile.write(encoded, directory: directory)
            try log.compact(group: groupID, through: compactTo)
        }
    }

    public func compactLog(through index: LogIndex) throws(LogError) {
        try log.compact(group: groupID, through: index)
    }

    /// Reads back stored entries for a follower (see `SharedSegments.entries(of:in:bytesMax:)`).
    public func entries(in range: ClosedRange<LogIndex>, bytesMax: Int) throws(LogError) -> [Entry]? {
        try log.entries(group: groupID, in: range, bytesMax: bytesMax)
    }

    public func sync() throws(LogError) {
        try state.withLock { (state) throws(LogError) in try sync(&state) }
    }

    /// One sync of the shared log makes every group's appends so far durable; the hard
    /// state is this group's own.
    private func sync(_ state: inout State) throws(LogError) {
        try log.sync()
        if HardStateFile.mustWrite(state.latestHardState, over: state.writtenHardState, commitMustBeDurable: state.hardStateMustBeWritten) {
            try HardStateFile.write(state.latestHardState, directory: directory)
            state.writtenHardState = state.latestHardState
        }
        state.hardStateMustBeWritten = false
    }

    /// Syncs and writes the latest commit index too, for a clean shutdown.
    public func close() throws(LogError) {
        try state.withLock { (state) throws(LogError) in
            try sync(&state)
            if state.latestHardState != state.writtenHardState {
                try HardStateFile.write(state.latestHardState, directory: directory)
                state.writtenHardState = state.latestHardState
            }
        }
    }
}
