import Glibc
import Synchronization

/// Where a Raft group keeps the bodies of its queued messages: each queue's records (the
/// broker's `MessageRecord`) in a store of their own, `<group directory>/store/<store id>/`,
/// as segment files `<segment>.seg` of `segmentBytes` each. A record's position decides its
/// file (`position / segmentBytes`) and its offset there; the broker decides positions, and
/// every replica holds the same record at the same position, so this store is a plain
/// positional byte store: it keeps no index of its own.
///
/// Writes go to the operating system at once and are durable after `sync()`, which the
/// persister calls before a snapshot that refers to them is written. Space comes back in
/// `reclaim`, driven by a durable snapshot: segments that hold nothing it refers to are
/// deleted, and dead stretches of segments that are mostly dead are punched out, so one
/// old message pins a few kilobytes, not a segment.
///
/// The event loop writes and reads; the persister's threads sync and reclaim: every call
/// may come from any thread.
public final class MessageStore: Sendable {
    public struct Options: Sendable {
        /// MUST equal the broker's `storeSegmentBytes`: positions follow from it.
        public var segmentBytes = 16 << 20
        /// Segment files kept open for reading and writing.
        public var openFilesMax = 256
        /// Records written lately, kept to be read back without a system call: a consumer
        /// that keeps up is served from here.
        public var cacheBytesMax = 8 << 20
        /// The most one read covers when it takes several records that lie close together.
        public var readBytesMax = 1 << 20
        /// The most one write covers when it takes several records that follow one another.
        public var writeBytesMax = 1 << 20
        /// Records that a full disk would not take, kept in memory to be written once there
        /// is room: beyond this, a write fails.
        public var unwrittenBytesMax = 64 << 20
        /// A gap between two records that a batched read reads through rather than split.
        public var readGapBytesMax = 64 << 10
        public init() {}
    }

    /// One segment file of one store.
    struct SegmentKey: Hashable, Sendable {
        var store: UInt64
        var segment: UInt64
    }

    struct RecordKey: Hashable, Sendable {
        var store: UInt64
        var position: UInt64
    }

    /// Where one record is: its store, its position, its length.
    public struct Extent: Hashable, Sendable {
        public var store: UInt64
        public var position: UInt64
        public var bytes: Int

        public init(store: UInt64, position: UInt64, bytes: Int) {
            self.store = store
            self.position = position
            self.bytes = bytes
        }
    }

    /// What one `reclaim` did.
    public struct Reclaimed: Equatable, Sendable {
        public var storesRemoved = 0
        public var segmentsRemoved = 0
        public var bytesPunched = 0
        /// Nothing was done: a snapshot is being received into the store, or a newer one was
        /// installed.
        public var deferred = false
    }

    private struct State {
        var files: [SegmentKey: FileHandle] = [:]
        var lastUse: [SegmentKey: UInt64] = [:]
        var useCounter: UInt64 = 0
        /// Written since the last sync, kept open until synced.
        var dirty: [SegmentKey: FileHandle] = [:]
        var dirtyDirectories: Set<String> = []
        /// Store directories known to exist.
        var stores: Set<UInt64> = []
        var cache = RecordCache()
        /// A segment's live bytes when its dead stretches were last punched.
        var punchedAtLive: [SegmentKey: Int] = [:]
        /// Snapshots being received: reclaim waits, since it would judge by an older state.
        var receiving = 0
        /// The index of the latest snapshot installed into the store: a reclaim by an older
        /// state would take what the installed one needs.
        var installedIndex: UInt64 = 0
        /// Records the disk had no room for, in the order written, until `retryUnwritten`.
        var unwritten: [RecordKey: [UInt8]] = [:]
        var unwrittenOrder: [RecordKey] = []
        var unwrittenBytes = 0
    }

    public let directory: String
    public let options: Options
    private let state: Mutex<State>

    private init(directory: String, options: Options, stores: Set<UInt64>) {
        self.directory = directory
        self.options = options
        var initial = State()
        initial.stores = stores
        state = Mutex(initial)
    }

    public static func storesDirectory(groupDirectory: String) -> String { groupDirectory + "/store" }

    /// Opens (creating if needed) the store under a group's directory. Nothing is read:
    /// opening costs the same whatever the store holds.
    public static func open(groupDirectory: String, options: Options = Options()) throws(LogError) -> MessageStore {
        precondition(options.segmentBytes > 0 && options.openFilesMax > 0 && options.readBytesMax > 0 && options.writeBytesMax > 0, "invalid store options")
        let directory = storesDirectory(groupDirectory: groupDirectory)
        try FileSystem.createDirectory(directory)
        var stores: Set<UInt64> = []
        for name in try FileSystem.list(directory) {
            if let id = UInt64(name) { stores.insert(id) }
        }
        return MessageStore(directory: directory, options: options, stores: stores)
    }

    func storeDirectory(_ store: UInt64) -> String { directory + "/\(store)" }

    func segmentPath(_ key: SegmentKey) -> String { storeDirectory(key.store) + "/\(key.segment).seg" }

    private func key(_ store: UInt64, _ position: UInt64) -> (SegmentKey, offset: Int) {
        let size = UInt64(options.segmentBytes)
        return (SegmentKey(store: store, segment: position / size), Int(position % size))
    }

    // MARK: Writing

    /// Writes a record at its position. Not durable until `sync()`. On a full disk the
    /// record waits in memory (and reads back from there) until `retryUnwritten` finds room,
    /// as long as those waiting stay within `unwrittenBytesMax`: a record the state refers to
    /// is never lost for want of space, and applying goes on.
    public func write(store: UInt64, position: UInt64, record: [UInt8]) throws(LogError) {
        let recordKey = RecordKey(store: store, position: position)
        if state.withLock({ !$0.unwritten.isEmpty }) {
            // Keep the order: nothing is written past what waits.
            try keepUnwritten(recordKey, record)
            return
        }
        do {
            try writeNow(recordKey, record)
        } catch let error where error.isOutOfSpace {
            try keepUnwritten(recordKey, record)
        }
    }

    /// One record to write: where, and its bytes.
    public typealias PlacedRecord = (store: UInt64, position: UInt64, record: [UInt8])

    /// Writes records at their positions, as `write(store:position:record:)` each would, but
    /// with one system call for each run of records that follow one another in one segment
    /// (the messages of one publish batch into one queue): applying a batch costs a few
    /// writes, not one per message.
    public func write(_ records: [PlacedRecord]) throws(LogError) {
        var start = records.startIndex
        while start < records.endIndex {
            let (segment, offset) = key(records[start].store, records[start].position)
            var end = start + 1
            var runBytes = records[start].record.count
            while end < records.endIndex, records[end].store == records[start].store,
                  records[end].position == records[end - 1].position + UInt64(records[end - 1].record.count),
                  runBytes + records[end].record.count <= options.writeBytesMax,
                  key(records[end].store, records[end].position).0 == segment {
                runBytes += records[end].record.count
                end += 1
            }
            let run = records[start..<end]
            start = end
            guard run.count > 1, !hasUnwritten else {
                for record in run { try write(store: record.store, position: record.position, record: record.record) }
                continue
            }
            do {
                try writeRunNow(run, segment: segment, offset: offset, bytes: runBytes)
            } catch let error where error.isOutOfSpace {
                // Whatever part of the run reached the disk is written again, to the same place.
                for record in run { try write(store: record.store, position: record.position, record: record.record) }
            }
        }
    }

    private func writeRunNow(_ run: ArraySlice<PlacedRecord>, segment: SegmentKey, offset: Int, bytes: Int) throws(LogError) {
        let file = try handle(segment, creating: true)
        var joined: [UInt8] = []
        joined.reserveCapacity(bytes)
        for record in run { joined.append(contentsOf: record.record) }
        try file.write(joined, at: offset)
        state.withLock { state in
            state.dirty[segment] = file
            for record in run {
                state.cache.insert(RecordKey(store: record.store, position: record.position), record.record, bytesMax: options.cacheBytesMax)
            }
        }
    }

    private func writeNow(_ recordKey: RecordKey, _ record: [UInt8]) throws(LogError) {
        let (key, offset) = key(recordKey.store, recordKey.position)
        let file = try handle(key, creating: true)
        try file.write(record, at: offset)
        state.withLock { state in
            // Marked after the write: a sync that takes the mark covers the write.
            state.dirty[key] = file
            state.cache.insert(recordKey, record, bytesMax: options.cacheBytesMax)
        }
    }

    private func keepUnwritten(_ key: RecordKey, _ record: [UInt8]) throws(LogError) {
        let kept = state.withLock { state -> Bool in
            guard state.unwrittenBytes + record.count <= options.unwrittenBytesMax else { return false }
            if state.unwritten.updateValue(record, forKey: key) == nil { state.unwrittenOrder.append(key) }
            state.unwrittenBytes += record.count
            return true
        }
        guard kept else { throw .io(operation: "write", path: storeDirectory(key.store), errno: ENOSPC) }
    }

    /// Whether records wait for room on the disk.
    public var hasUnwritten: Bool { state.withLock { !$0.unwritten.isEmpty } }

    /// Writes what waits for room, in order, as far as the disk now takes it. Returns
    /// whether nothing waits any more.
    @discardableResult
    public func retryUnwritten() throws(LogError) -> Bool {
        while let (key, record) = state.withLock({ state -> (RecordKey, [UInt8])? in
            state.unwrittenOrder.first.flatMap { key in state.unwritten[key].map { (key, $0) } }
        }) {
            do {
                try writeNow(key, record)
            } catch let error where error.isOutOfSpace {
                return false
            }
            state.withLock { state in
                state.unwrittenOrder.removeFirst()
                state.unwritten[key] = nil
                state.unwrittenBytes -= record.count
            }
        }
        return true
    }

    /// Makes every write so far durable: one fdatasync per segment written to, and one fsync
    /// per directory that gained a file. Throws, out of space, while records wait for room:
    /// a snapshot must not refer to them before they are on disk.
    public func sync() throws(LogError) {
        guard try retryUnwritten() else { throw .io(operation: "write", path: directory, errno: ENOSPC) }
        let (files, directories) = state.withLock { state in
            defer {
                state.dirty = [:]
                state.dirtyDirectories = []
            }
            return (Array(state.dirty.values), state.dirtyDirectories.sorted())
        }
        for file in files { try file.syncData() }
        for directory in directories { try FileSystem.syncDirectory(directory) }
    }

    // MARK: Reading

    /// The record at `position` of `store`, `bytes` long.
    public func read(store: UInt64, position: UInt64, bytes: Int) throws(LogError) -> [UInt8] {
        try read([Extent(store: store, position: position, bytes: bytes)])[0]
    }

    /// The records at `extents`, in their order. Records that lie close together in one
    /// segment are read with one system call.
    public func read(_ extents: [Extent]) throws(LogError) -> [[UInt8]] {
        var result = [[UInt8]](repeating: [], count: extents.count)
        var missing: [Int] = []
        state.withLock { state in
            for (index, extent) in extents.enumerated() {
                let key = RecordKey(store: extent.store, position: extent.position)
                if let cached = state.cache.record(key) ?? state.unwritten[key], cached.count == extent.bytes {
                    result[index] = cached
                } else {
                    missing.append(index)
                }
            }
        }
        missing.sort { (extents[$0].store, extents[$0].position) < (extents[$1].store, extents[$1].position) }
        var start = 0
        while start < missing.count {
            let first = extents[missing[start]]
            let (segment, offset) = key(first.store, first.position)
            var end = start + 1
            var runEnd = offset + first.bytes
            while end < missing.count {
                let next = extents[missing[end]]
                let (nextSegment, nextOffset) = key(next.store, next.position)
                guard nextSegment == segment, nextOffset - runEnd <= options.readGapBytesMax,
                    max(runEnd, nextOffset + next.bytes) - offset <= options.readBytesMax
                else { break }
                runEnd = max(runEnd, nextOffset + next.bytes)
                end += 1
            }
            let file = try handle(segment, creating: false)
            let bytes = try file.read(count: runEnd - offset, at: offset)
            for index in missing[start..<end] {
                let extent = extents[index]
                let from = key(extent.store, extent.position).offset - offset
                guard from + extent.bytes <= bytes.count else {
                    throw .corruptRecord(path: segmentPath(segment), offset: from + offset, reason: "a record of \(extent.bytes) bytes runs past the end of the file")
                }
                result[index] = Array(bytes[from..<from + extent.bytes])
            }
            start = end
        }
        return result
    }

    // MARK: Files

    private func handle(_ key: SegmentKey, creating: Bool) throws(LogError) -> FileHandle {
        if let open = state.withLock({ state -> FileHandle? in
            guard let file = state.files[key] else { return nil }
            state.useCounter += 1
            state.lastUse[key] = state.useCounter
            return file
        }) {
            return open
        }
        let directory = storeDirectory(key.store)
        let isNewStore = creating && !state.withLock { $0.stores.contains(key.store) }
        if isNewStore { try FileSystem.createDirectory(directory) }
        let path = segmentPath(key)
        let existed = FileSystem.exists(path)
        guard existed || creating else { throw .io(operation: "open", path: path, errno: ENOENT) }
        let file = try FileHandle(path: path, flags: creating ? O_RDWR | O_CREAT : O_RDWR, mode: 0o600)
        return state.withLock { state in
            if isNewStore {
                state.stores.insert(key.store)
                state.dirtyDirectories.insert(self.directory)
            }
            if !existed { state.dirtyDirectories.insert(directory) }
            if let raced = state.files[key] { return raced }
            if state.files.count >= options.openFilesMax, let oldest = state.lastUse.min(by: { $0.value < $1.value })?.key {
                // A file written since the last sync stays open through `dirty`.
                state.files[oldest] = nil
                state.lastUse[oldest] = nil
            }
            state.useCounter += 1
            state.files[key] = file
            state.lastUse[key] = state.useCounter
            return file
        }
    }

    private func forget(_ key: SegmentKey, in state: inout State) {
        state.files[key] = nil
        state.lastUse[key] = nil
        state.dirty[key] = nil
        state.punchedAtLive[key] = nil
    }

    // MARK: Reclaiming

    /// A snapshot is being received: until `endReceiving`, `reclaim` does nothing.
    public func beginReceiving() { state.withLock { $0.receiving += 1 } }

    /// The snapshot being received was dropped, or installed at `installedIndex`.
    public func endReceiving(installedIndex: UInt64? = nil) {
        state.withLock { state in
            state.receiving = max(0, state.receiving - 1)
            if let installedIndex { state.installedIndex = max(state.installedIndex, installedIndex) }
        }
    }

    /// Frees what a durable snapshot no longer refers to. `cursors` holds every store the
    /// snapshot's state has, with the position its next record would take; `visitLive`
    /// calls its argument for every record the state refers to (it is called twice). The
    /// stores of queues deleted by then (ids up to `snapshotIndex`, the ids of later queues
    /// being larger) go whole; a segment wholly before its store's cursor goes once nothing
    /// in it is live, and one less than half live has its dead stretches punched out.
    public func reclaim(
        snapshotIndex: UInt64, cursors: [UInt64: UInt64], visitLive: ((Extent) -> Void) -> Void
    ) throws(LogError) -> Reclaimed {
        var done = Reclaimed()
        guard state.withLock({ $0.receiving == 0 && $0.installedIndex <= snapshotIndex }) else {
            done.deferred = true
            return done
        }
        let segmentBytes = UInt64(options.segmentBytes)
        // Stores of queues that are gone.
        for store in state.withLock({ $0.stores.sorted() }) where store <= snapshotIndex && cursors[store] == nil {
            state.withLock { state in
                for key in state.files.keys.filter({ $0.store == store }) { forget(key, in: &state) }
                for key in state.dirty.keys.filter({ $0.store == store }) { forget(key, in: &state) }
                state.cache.removeAll { $0.store == store }
                state.stores.remove(store)
                state.dirtyDirectories.insert(directory)
            }
            try FileSystem.removeDirectory(storeDirectory(store))
            done.storesRemoved += 1
        }
        // Live bytes per sealed segment (wholly before its store's cursor).
        var live: [SegmentKey: Int] = [:]
        visitLive { extent in
            guard let cursor = cursors[extent.store], extent.position / segmentBytes < cursor / segmentBytes else { return }
            live[SegmentKey(store: extent.store, segment: extent.position / segmentBytes), default: 0] += extent.bytes
        }
        var punchable: Set<SegmentKey> = []
        for (store, cursor) in cursors.sorted(by: { $0.key < $1.key }) {
            let path = storeDirectory(store)
            guard FileSystem.exists(path) else { continue }
            for name in try FileSystem.list(path) {
                guard name.hasSuffix(".seg"), let segment = UInt64(name.dropLast(4)), segment < cursor / segmentBytes else { continue }
                let key = SegmentKey(store: store, segment: segment)
                let liveBytes = live[key] ?? 0
                if liveBytes == 0 {
                    state.withLock { state in
                        forget(key, in: &state)
                        state.dirtyDirectories.insert(path)
                    }
                    try FileSystem.remove(segmentPath(key))
                    done.segmentsRemoved += 1
                } else if UInt64(liveBytes) * 2 < segmentBytes,
                    state.withLock({ $0.punchedAtLive[key].map { liveBytes * 4 < $0 * 3 } ?? true })
                {
                    punchable.insert(key)
                }
            }
        }
        guard !punchable.isEmpty else { return done }
        var extents: [SegmentKey: [(offset: Int, bytes: Int)]] = [:]
        visitLive { extent in
            let key = SegmentKey(store: extent.store, segment: extent.position / segmentBytes)
            guard punchable.contains(key) else { return }
            extents[key, default: []].append((Int(extent.position % segmentBytes), extent.bytes))
        }
        for key in punchable.sorted(by: { ($0.store, $0.segment) < ($1.store, $1.segment) }) {
            done.bytesPunched += try punchDeadStretches(key, live: (extents[key] ?? []).sorted { $0.offset < $1.offset })
            state.withLock { $0.punchedAtLive[key] = extents[key]?.reduce(0) { $0 + $1.bytes } ?? 0 }
        }
        return done
    }

    /// Punches out every whole block between the live records of a segment; returns the
    /// bytes freed (on a file system that cannot punch, none).
    private func punchDeadStretches(_ key: SegmentKey, live: [(offset: Int, bytes: Int)]) throws(LogError) -> Int {
        let block = 4_096
        let file = try handle(key, creating: false)
        let size = try file.size
        var freed = 0
        var deadFrom = 0
        for extent in live + [(offset: size, bytes: 0)] {
            let start = (deadFrom + block - 1) / block * block
            let end = extent.offset / block * block
            if end > start {
                guard try file.punchHole(offset: start, count: end - start) else { return freed }
                freed += end - start
            }
            deadFrom = max(deadFrom, extent.offset + extent.bytes)
        }
        return freed
    }
}

/// The records written lately, oldest out first once they pass the byte bound.
struct RecordCache {
    private var records: [MessageStore.RecordKey: [UInt8]] = [:]
    private var order: [MessageStore.RecordKey] = []
    private var head = 0
    private var bytes = 0

    mutating func insert(_ key: MessageStore.RecordKey, _ record: [UInt8], bytesMax: Int) {
        guard record.count <= bytesMax / 4 else { return }
        if let old = records.updateValue(record, forKey: key) {
            bytes -= old.count
        } else {
            order.append(key)
        }
        bytes += record.count
        while bytes > bytesMax, head < order.count {
            if let evicted = records.removeValue(forKey: order[head]) { bytes -= evicted.count }
            head += 1
        }
        if head > 4_096, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }

    func record(_ key: MessageStore.RecordKey) -> [UInt8]? { records[key] }

    mutating func removeAll(where doomed: (MessageStore.RecordKey) -> Bool) {
        for key in records.keys where doomed(key) {
            if let removed = records.removeValue(forKey: key) { bytes -= removed.count }
        }
    }
}
