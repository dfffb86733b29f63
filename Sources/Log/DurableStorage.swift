import Glibc
import Raft
import Synchronization

/// A Raft group's durable state in `<data directory>/group-<id>/`: the segmented log, the
/// hard state file and the snapshot files.
public final class DurableStorage: RaftStorage, Sendable {
    public struct Options: Sendable {
        public var segmentBytesMax = 64 << 20
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

    /// What the storage holds between calls. The calls come from the shell's persister,
    /// which may use more than one thread, so each takes the lock for its whole duration.
    private struct State {
        let log: SegmentedLog
        var latestHardState: HardState
        /// Set when a commit index must be durable at the next sync, not merely a hint.
        var hardStateMustBeWritten = false
        var writtenHardState: HardState
    }

    public let directory: String
    private let state: Mutex<State>

    private init(directory: String, log: sending SegmentedLog, hardState: HardState) {
        self.directory = directory
        state = Mutex(State(log: log, latestHardState: hardState, writtenHardState: hardState))
    }

    public static func groupDirectory(dataDirectory: String, groupID: UInt64) -> String {
        dataDirectory + "/group-\(groupID)"
    }

    /// Opens (creating if needed) and recovers the group's storage. Throws, naming the file
    /// and offset, on any damage other than a torn tail.
    public static func open(dataDirectory: String, groupID: UInt64, options: Options = Options()) throws(LogError) -> (DurableStorage, Recovery) {
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
        var logOptions = SegmentedLog.Options()
        logOptions.segmentBytesMax = options.segmentBytesMax
        logOptions.entryBytesMax = options.entryBytesMax
        let (log, stored) = try SegmentedLog.open(directory: directory, groupID: groupID, options: logOptions)
        let entries = try entriesFollowing(snapshot, stored, log: log)
        let storage = DurableStorage(directory: directory, log: log, hardState: hardState)
        let reference = newest.map { SnapshotReference(metadata: $0.snapshot.metadata, bytes: $0.fileBytes) }
        return (storage, Recovery(
            state: RaftNode.RecoveredState(hardState: hardState, snapshot: reference, entries: entries), snapshot: newest, warnings: warnings))
    }

    /// The stored entries that continue the snapshot's history. A log that does not reach
    /// the snapshot, or holds another term at its index, was superseded by a snapshot from
    /// the leader (a crash came before the old segments were removed) and is dropped.
    private static func entriesFollowing(_ snapshot: Snapshot?, _ stored: [Entry], log: SegmentedLog) throws(LogError) -> [Entry] {
        let base = snapshot?.metadata.index ?? 0
        guard let first = stored.first, let last = stored.last else { return [] }
        if first.index > base + 1 {
            throw .gap(reason: "the log starts at \(first.index) but the snapshot ends at \(base)")
        }
        if first.index == base + 1 { return stored }
        if last.index >= base, stored[Int(base - first.index)].term == snapshot?.metadata.term {
            return Array(stored[Int(base - first.index + 1)...])
        }
        try log.removeAll()
        try log.sync()
        return []
    }

    public func append(_ entries: [Entry]) throws(LogError) {
        try state.withLock { (state) throws(LogError) in try state.log.append(entries) }
    }

    public func setHardState(_ hardState: HardState, commitMustBeDurable: Bool) throws(LogError) {
        state.withLock { state in
            state.latestHardState = hardState
            state.hardStateMustBeWritten = state.hardStateMustBeWritten || commitMustBeDurable
        }
    }

    public func installSnapshot(_ encoded: EncodedSnapshot) throws(LogError) {
        try state.withLock { (state) throws(LogError) in
            try SnapshotFile.write(encoded, directory: directory)
            try state.log.removeAll()
        }
    }

    public func saveSnapshot(_ encoded: EncodedSnapshot, compactTo: LogIndex) throws(LogError) {
        try state.withLock { (state) throws(LogError) in
            try SnapshotFile.write(encoded, directory: directory)
            try state.log.removeSegments(through: compactTo)
        }
    }

    public func compactLog(through index: LogIndex) throws(LogError) {
        try state.withLock { (state) throws(LogError) in try state.log.removeSegments(through: index) }
    }

    /// Reads back stored entries for a follower (see `SegmentedLog.entries(in:bytesMax:)`).
    public func entries(in range: ClosedRange<LogIndex>, bytesMax: Int) throws(LogError) -> [Entry]? {
        try state.withLock { (state) throws(LogError) in try state.log.entries(in: range, bytesMax: bytesMax) }
    }

    public func sync() throws(LogError) {
        try state.withLock { (state) throws(LogError) in try Self.sync(&state, directory: directory) }
    }

    private static func sync(_ state: inout State, directory: String) throws(LogError) {
        try state.log.sync()
        if HardStateFile.mustWrite(state.latestHardState, over: state.writtenHardState, commitMustBeDurable: state.hardStateMustBeWritten) {
            try HardStateFile.write(state.latestHardState, directory: directory)
            state.writtenHardState = state.latestHardState
        }
        state.hardStateMustBeWritten = false
    }

    /// Syncs and writes the latest commit index too, for a clean shutdown.
    public func close() throws(LogError) {
        try state.withLock { (state) throws(LogError) in
            try Self.sync(&state, directory: directory)
            if state.latestHardState != state.writtenHardState {
                try HardStateFile.write(state.latestHardState, directory: directory)
                state.writtenHardState = state.latestHardState
            }
        }
    }
}
