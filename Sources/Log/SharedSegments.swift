import Checksum
import Glibc
import Raft

/// The files and the index behind `WriteAheadLog`, for one thread at a time (the log holds
/// the lock): append-only segment files `wal-<first sequence>.seg`, each a header and a run
/// of `WALRecord`s of any of the node's groups, interleaved as they were written.
///
/// Nothing is ever cut out of a file. A group's conflicting suffix is replaced by writing the
/// new entries after it (on replay, a group's entry at an index it already holds replaces
/// that entry and every later one), and a snapshot received from the leader by a restart
/// marker. Records no group needs any more — replaced, behind a snapshot, before a restart —
/// are dead; the oldest segment is deleted once it holds no live record. Only the oldest: a
/// record that voids an earlier one is always later in the log, so deleting from the front
/// can never bring a voided record back.
final class SharedSegments {
    struct Options {
        /// A segment is closed and a new one started once it passes this size.
        var segmentBytesMax = 64 << 20
        /// The largest entry payload accepted, so that a corrupt length can never make
        /// recovery allocate without bound.
        var entryBytesMax = 64 << 20
    }

    final class Segment {
        let path: String
        let firstSequence: UInt64
        let file: FileHandle
        var size: Int
        /// Records here that a group still needs: while any is, the segment stays.
        var liveRecords = 0
        var needsSync = false

        init(path: String, firstSequence: UInt64, file: FileHandle, size: Int) {
            self.path = path
            self.firstSequence = firstSequence
            self.file = file
            self.size = size
        }
    }

    /// Where one of a group's entries is stored.
    struct Location {
        let segment: Segment
        let offset: Int
        let bytes: Int
    }

    /// A group's live entries, `firstIndex` onwards, in index order.
    struct Group {
        var firstIndex: LogIndex = 0
        var locations: [Location] = []

        var lastIndex: LogIndex? { locations.isEmpty ? nil : firstIndex + LogIndex(locations.count) - 1 }
    }

    static let magic: [UInt8] = Array("BWAL".utf8)
    /// 1 was the log of one group (`SegmentedLog`); 2 is the log groups share.
    static let version: UInt8 = 2
    /// magic 4, version 1, reserved 3, first sequence 8, crc32c 4.
    static let segmentHeaderBytes = 20

    let directory: String
    let options: Options
    private(set) var segments: [Segment] = []
    private var groups: [UInt64: Group] = [:]
    private var nextSequence: UInt64 = 1
    private var directoryNeedsSync = false
    /// fdatasyncs of segments so far: what group commit across groups saves is counted here.
    private(set) var dataSyncs = 0

    private init(directory: String, options: Options) {
        self.directory = directory
        self.options = options
    }

    static func segmentName(firstSequence: UInt64) -> String {
        let digits = String(firstSequence)
        return "wal-" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".seg"
    }

    func lastIndex(of group: UInt64) -> LogIndex? { groups[group]?.lastIndex }

    // MARK: Recovery

    /// Opens the log, verifying every record, and returns each group's live entries in order.
    static func open(directory: String, options: Options) throws(LogError) -> (SharedSegments, [UInt64: [Entry]]) {
        try FileSystem.createDirectory(directory)
        let log = SharedSegments(directory: directory, options: options)
        let names = try FileSystem.list(directory).filter { $0.hasPrefix("wal-") && $0.hasSuffix(".seg") }
        var recovered: [UInt64: [Entry]] = [:]
        for (position, name) in names.enumerated() {
            let path = directory + "/" + name
            guard let segment = try log.recoverSegment(path: path, isLast: position == names.count - 1, into: &recovered) else {
                // A last segment whose header never reached the disk: it held nothing.
                try FileSystem.remove(path)
                log.directoryNeedsSync = true
                continue
            }
            log.segments.append(segment)
        }
        log.removeDeadSegments()
        try log.sync()
        return (log, recovered)
    }

    /// Reads one segment into the index and `recovered`. Returns nil for a last segment
    /// with a torn header.
    private func recoverSegment(path: String, isLast: Bool, into recovered: inout [UInt64: [Entry]]) throws(LogError) -> Segment? {
        let file = try FileHandle(path: path, flags: O_RDWR)
        let bytes = try file.readAll()
        guard bytes.count >= Self.segmentHeaderBytes else {
            if isLast { return nil }
            throw .corruptRecord(path: path, offset: 0, reason: "segment header is \(bytes.count) bytes, expected \(Self.segmentHeaderBytes)")
        }
        var header = ByteReader(bytes)
        let magic = header.read(count: 4)!
        let version = header.read(UInt8.self)!
        _ = header.read(count: 3)
        let first = header.read(UInt64.self)!
        let checksum = header.read(UInt32.self)!
        let computed = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<Self.segmentHeaderBytes - 4])) }
        guard magic == Self.magic, version == Self.version, checksum == computed else {
            if isLast && bytes[Self.segmentHeaderBytes...].allSatisfy({ $0 == 0 }) { return nil }
            throw .corruptRecord(path: path, offset: 0, reason: "bad segment header")
        }
        // The first segment may start anywhere (older ones were deleted); later ones go on
        // from the one before.
        if !segments.isEmpty, first != nextSequence {
            throw .corruptFile(path: path, reason: "starts at record \(first), but the previous segment ends at record \(nextSequence - 1)")
        }
        nextSequence = first
        let segment = Segment(path: path, firstSequence: first, file: file, size: Self.segmentHeaderBytes)
        var offset = Self.segmentHeaderBytes
        while offset < bytes.count {
            switch WALRecord.decode(bytes, at: offset, dataBytesMax: options.entryBytesMax) {
            case .record(let record, let next) where record.sequence == nextSequence:
                try replay(record, at: Location(segment: segment, offset: offset, bytes: next - offset), into: &recovered)
                nextSequence += 1
                offset = next
            case .record(let record, _):
                throw .corruptRecord(path: path, offset: offset, reason: "record \(record.sequence) where \(nextSequence) was expected")
            case .invalid(let reason, let reachesEnd):
                // A torn tail: the damage is in the last segment and nothing after it was
                // written. Anything else is corruption of data that was acknowledged.
                guard isLast && (reachesEnd || bytes[offset...].allSatisfy({ $0 == 0 })) else {
                    throw .corruptRecord(path: path, offset: offset, reason: reason)
                }
                try file.truncate(to: offset)
                try file.syncData()
                segment.size = offset
                return segment
            }
        }
        segment.size = offset
        return segment
    }

    private func replay(_ record: WALRecord, at location: Location, into recovered: inout [UInt64: [Entry]]) throws(LogError) {
        guard let entry = record.entry else {
            voidAll(of: record.group, restartingAfter: record.index)
            recovered[record.group] = []
            return
        }
        var entries = recovered[record.group] ?? []
        if let last = lastIndex(of: record.group) {
            guard entry.index <= last + 1 else {
                throw .corruptRecord(path: location.segment.path, offset: location.offset, reason: "entry \(entry.index) of group \(record.group) follows its entry \(last)")
            }
            let kept = void(of: record.group, from: entry.index)
            entries.removeSubrange(kept...)
        }
        // Terms never decrease along a Raft log: an older term after a newer one would be a
        // suffix that should have been replaced. Never hand it to the core as current.
        if let previous = entries.last, entry.term < previous.term {
            throw .corruptRecord(path: location.segment.path, offset: location.offset, reason: "term \(entry.term) follows term \(previous.term) at index \(previous.index) of group \(record.group)")
        }
        add(location, for: record.group, index: entry.index)
        entries.append(entry)
        recovered[record.group] = entries
    }

    // MARK: The index

    private func add(_ location: Location, for group: UInt64, index: LogIndex) {
        if groups[group, default: Group()].locations.isEmpty { groups[group, default: Group()].firstIndex = index }
        groups[group, default: Group()].locations.append(location)
        location.segment.liveRecords += 1
    }

    /// Voids the group's entries from `index` on; returns how many it keeps.
    @discardableResult
    private func void(of group: UInt64, from index: LogIndex) -> Int {
        guard let stored = groups[group], let last = stored.lastIndex, index <= last else { return groups[group]?.locations.count ?? 0 }
        let kept = index <= stored.firstIndex ? 0 : Int(index - stored.firstIndex)
        for location in stored.locations[kept...] { location.segment.liveRecords -= 1 }
        groups[group]!.locations.removeSubrange(kept...)
        return kept
    }

    private func voidAll(of group: UInt64, restartingAfter index: LogIndex) {
        for location in groups[group]?.locations ?? [] { location.segment.liveRecords -= 1 }
        groups[group] = Group(firstIndex: index + 1)
    }

    /// Deletes the oldest segments while they hold nothing live; the active one stays.
    private func removeDeadSegments() {
        while segments.count > 1, segments[0].liveRecords == 0 {
            // One that cannot be unlinked stays, and the later ones with it: a segment left
            // behind a deleted one would be a gap at the next start.
            guard (try? FileSystem.remove(segments[0].path)) != nil else { return }
            segments.removeFirst()
            directoryNeedsSync = true
        }
    }

    // MARK: Reading back

    /// The group's stored entries of `range`, from its first on: at least one, then as many
    /// as fit in `bytesMax` of payload. Nil if the first is not stored (compacted away, or
    /// not written).
    func entries(of group: UInt64, in range: ClosedRange<LogIndex>, bytesMax: Int) throws(LogError) -> [Entry]? {
        guard let stored = groups[group], let last = stored.lastIndex, range.lowerBound >= stored.firstIndex, range.lowerBound <= last
        else { return nil }
        let firstSlot = Int(range.lowerBound - stored.firstIndex)
        let lastSlot = Int(min(range.upperBound, last) - stored.firstIndex)
        var chosen: [Location] = []
        var payloadBytes = 0
        for slot in firstSlot...lastSlot {
            let location = stored.locations[slot]
            let dataBytes = location.bytes - WALRecord.headerBytes - WALRecord.fixedBytes
            if !chosen.isEmpty, payloadBytes + dataBytes > bytesMax { break }
            payloadBytes += dataBytes
            chosen.append(location)
        }
        var entries: [Entry] = []
        entries.reserveCapacity(chosen.count)
        var runStart = 0
        while runStart < chosen.count {
            // One read per run of records in one segment; other groups' records in between
            // are read past, unless they are most of the span.
            var runEnd = runStart + 1
            var runBytes = chosen[runStart].bytes
            while runEnd < chosen.count, chosen[runEnd].segment === chosen[runStart].segment {
                let span = chosen[runEnd].offset + chosen[runEnd].bytes - chosen[runStart].offset
                if span > 2 * (runBytes + chosen[runEnd].bytes) + (64 << 10) { break }
                runBytes += chosen[runEnd].bytes
                runEnd += 1
            }
            let segment = chosen[runStart].segment
            let spanStart = chosen[runStart].offset
            let span = try segment.file.read(count: chosen[runEnd - 1].offset + chosen[runEnd - 1].bytes - spanStart, at: spanStart)
            for location in chosen[runStart..<runEnd] {
                let expected = range.lowerBound + LogIndex(entries.count)
                guard case .record(let record, _) = WALRecord.decode(span, at: location.offset - spanStart, dataBytesMax: options.entryBytesMax),
                    record.group == group, let entry = record.entry, entry.index == expected
                else {
                    throw .corruptRecord(path: segment.path, offset: location.offset, reason: "not entry \(expected) of group \(group) as indexed")
                }
                entries.append(entry)
            }
            runStart = runEnd
        }
        return entries
    }

    // MARK: Writing

    /// Writes the group's entries, replacing any it holds from `entries.first.index` on,
    /// with one write per segment they go to. Not durable until `sync()`.
    func append(_ entries: [Entry], of group: UInt64) throws(LogError) {
        guard let first = entries.first else { return }
        var bytes = 0
        for entry in entries {
            guard entry.data.count <= options.entryBytesMax else { throw .recordTooLarge(bytes: entry.data.count, max: options.entryBytesMax) }
            bytes += WALRecord.headerBytes + WALRecord.fixedBytes + entry.data.count
        }
        void(of: group, from: first.index)
        if let last = lastIndex(of: group) {
            precondition(first.index == last + 1, "appending \(first.index) after \(last) of group \(group) leaves a gap")
        }
        var segment = try activeSegment()
        var pending: [UInt8] = []
        pending.reserveCapacity(min(bytes, options.segmentBytesMax))
        var locations: [Location] = []
        locations.reserveCapacity(entries.count)
        var firstPending = first.index
        for entry in entries {
            if segment.size + pending.count >= options.segmentBytesMax, segment.size + pending.count > Self.segmentHeaderBytes {
                try flush(&pending, &locations, of: group, from: firstPending, to: segment)
                firstPending = entry.index
                segment = try startSegment()
            }
            let start = pending.count
            WALRecord.encode(
                sequence: nextSequence + UInt64(locations.count), group: group, term: entry.term, index: entry.index,
                kindByte: entry.kind.rawValue, data: entry.data, into: &pending)
            locations.append(Location(segment: segment, offset: segment.size + start, bytes: pending.count - start))
        }
        try flush(&pending, &locations, of: group, from: firstPending, to: segment)
    }

    /// Writes what `append` encoded for one segment; the index takes the entries, and the
    /// records their sequence numbers, once they are written.
    private func flush(_ pending: inout [UInt8], _ locations: inout [Location], of group: UInt64, from index: LogIndex, to segment: Segment) throws(LogError) {
        guard !pending.isEmpty else { return }
        try segment.file.write(pending, at: segment.size)
        segment.size += pending.count
        segment.needsSync = true
        segment.liveRecords += locations.count
        nextSequence += UInt64(locations.count)
        // Out of the dictionary while it grows, so that its locations are not copied.
        var stored = groups.removeValue(forKey: group) ?? Group()
        if stored.locations.isEmpty { stored.firstIndex = index }
        stored.locations.append(contentsOf: locations)
        groups[group] = stored
        pending.removeAll(keepingCapacity: true)
        locations.removeAll(keepingCapacity: true)
    }

    /// Voids the group's whole log: it restarts after `index` (a snapshot received from the
    /// leader replaced it). Durable at once, so that no voided entry can outlive a crash
    /// next to the new snapshot.
    func restart(_ group: UInt64, after index: LogIndex) throws(LogError) {
        voidAll(of: group, restartingAfter: index)
        try writeRestart(of: group, after: index)
        removeDeadSegments()
        try sync()
    }

    /// The group needs nothing up to `index` any more (a snapshot covers it).
    func compact(_ group: UInt64, through index: LogIndex) throws(LogError) {
        guard let stored = groups[group], !stored.locations.isEmpty, index >= stored.firstIndex else { return }
        let dropped = min(stored.locations.count, Int(index - stored.firstIndex) + 1)
        for location in stored.locations[..<dropped] { location.segment.liveRecords -= 1 }
        groups[group]!.locations.removeFirst(dropped)
        groups[group]!.firstIndex += LogIndex(dropped)
        removeDeadSegments()
        try syncDirectoryIfNeeded()
    }

    /// Writes a restart marker, which voids what came before it rather than being live.
    private func writeRestart(of group: UInt64, after index: LogIndex) throws(LogError) {
        let segment = try activeSegment()
        var record: [UInt8] = []
        WALRecord.encode(sequence: nextSequence, group: group, term: 0, index: index, kindByte: WALRecord.restartKindByte, data: [], into: &record)
        try segment.file.write(record, at: segment.size)
        segment.size += record.count
        segment.needsSync = true
        nextSequence += 1
    }

    private func activeSegment() throws(LogError) -> Segment {
        if let last = segments.last, last.size < options.segmentBytesMax { return last }
        return try startSegment()
    }

    private func startSegment() throws(LogError) -> Segment {
        // Recovery forgives a torn tail only in the last segment: the one before must be
        // durable before a later one can exist on disk. One extra sync per segment.
        if let previous = segments.last, previous.needsSync {
            try previous.file.syncData()
            previous.needsSync = false
            dataSyncs += 1
        }
        let path = directory + "/" + Self.segmentName(firstSequence: nextSequence)
        let file = try FileHandle(path: path, flags: O_RDWR | O_CREAT | O_TRUNC)
        var header: [UInt8] = Self.magic
        header.append(Self.version)
        header.append(contentsOf: [0, 0, 0])
        header.appendLittleEndian(nextSequence)
        header.appendLittleEndian(CRC32C.checksum(header))
        try file.write(header, at: 0)
        let segment = Segment(path: path, firstSequence: nextSequence, file: file, size: header.count)
        segment.needsSync = true
        segments.append(segment)
        directoryNeedsSync = true
        return segment
    }

    private func syncDirectoryIfNeeded() throws(LogError) {
        guard directoryNeedsSync else { return }
        try FileSystem.syncDirectory(directory)
        directoryNeedsSync = false
    }

    /// Makes every write so far, of every group, durable: one fdatasync per segment written
    /// to (normally one), and one fsync of the directory if files were created or removed.
    func sync() throws(LogError) {
        for segment in segments where segment.needsSync {
            try segment.file.syncData()
            segment.needsSync = false
            dataSyncs += 1
        }
        try syncDirectoryIfNeeded()
    }
}
