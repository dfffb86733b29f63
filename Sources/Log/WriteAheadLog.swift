import Raft
import Synchronization

/// The write-ahead log that all of a node's Raft groups share, in `<data directory>/wal/`:
/// their entries interleave in one run of segment files (`SharedSegments`), so a sync after
/// appends of many groups is one fdatasync for all of them, and more groups never mean more
/// syncs. Each group keeps its hard state and snapshots in a directory of its own
/// (`DurableStorage`).
///
/// Safe from any thread: every call takes the lock for its whole duration, so calls from
/// several groups' persisters reach the files one after another.
public final class WriteAheadLog: Sendable {
    public struct Options: Sendable {
        public var segmentBytesMax = 64 << 20
        public var entryBytesMax = 64 << 20
        public init() {}
    }

    private struct State {
        let segments: SharedSegments
        /// What recovery found for each group, until the group's storage takes it.
        var recovered: [UInt64: [Entry]]
    }

    public let directory: String
    private let state: Mutex<State>

    public static func directory(dataDirectory: String) -> String { dataDirectory + "/wal" }

    /// Opens (creating if needed) and recovers the log. Throws, naming the file and offset,
    /// on any damage other than a torn tail.
    public static func open(dataDirectory: String, options: Options = Options()) throws(LogError) -> WriteAheadLog {
        try FileSystem.createDirectory(dataDirectory)
        var segmentOptions = SharedSegments.Options()
        segmentOptions.segmentBytesMax = options.segmentBytesMax
        segmentOptions.entryBytesMax = options.entryBytesMax
        let directory = Self.directory(dataDirectory: dataDirectory)
        let (segments, recovered) = try SharedSegments.open(directory: directory, options: segmentOptions)
        return WriteAheadLog(directory: directory, segments: segments, recovered: recovered)
    }

    private init(directory: String, segments: sending SharedSegments, recovered: [UInt64: [Entry]]) {
        self.directory = directory
        state = Mutex(State(segments: segments, recovered: recovered))
    }

    /// The group's entries as recovery found them, handed out once.
    func takeRecovered(group: UInt64) -> [Entry] {
        state.withLock { $0.recovered.removeValue(forKey: group) ?? [] }
    }

    /// Writes the group's entries, replacing any it holds from `entries.first.index` on.
    /// Not durable until `sync()`.
    func append(_ entries: [Entry], group: UInt64) throws(LogError) {
        try state.withLock { (state) throws(LogError) in try state.segments.append(entries, of: group) }
    }

    /// Voids the group's whole log, durably: it restarts after `index`.
    func restart(group: UInt64, after index: LogIndex) throws(LogError) {
        try state.withLock { (state) throws(LogError) in try state.segments.restart(group, after: index) }
    }

    /// The group needs nothing up to `index` any more.
    func compact(group: UInt64, through index: LogIndex) throws(LogError) {
        try state.withLock { (state) throws(LogError) in try state.segments.compact(group, through: index) }
    }

    /// The group's stored entries from `range.lowerBound` on (see `SharedSegments.entries`).
    func entries(group: UInt64, in range: ClosedRange<LogIndex>, bytesMax: Int) throws(LogError) -> [Entry]? {
        try state.withLock { (state) throws(LogError) in try state.segments.entries(of: group, in: range, bytesMax: bytesMax) }
    }

    /// Makes every write so far, of every group, durable.
    public func sync() throws(LogError) {
        try state.withLock { (state) throws(LogError) in try state.segments.sync() }
    }

    /// fdatasyncs so far, for tests of group commit.
    var dataSyncs: Int { state.withLock { $0.segments.dataSyncs } }
}
