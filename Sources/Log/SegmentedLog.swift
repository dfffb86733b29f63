import Checksum
import Glibc
import Raft

/// The write-ahead log of one Raft group as it was kept before the node's groups shared one
/// (`WriteAheadLog`); read once, to move it there. Append-only segment files `wal-<first index>.seg`,
/// each a header and a run of records `[length u32][crc32c u32][term u64][index u64][kind
/// u8][data]`, the checksum covering the length and everything after it.
///
/// Appends go to the operating system at once and become durable together at `sync()`: one
/// fdatasync per batch, however many entries it holds (group commit). Recovery verifies every
/// record; a torn tail is cut off, anything else damaged stops the node with the file and
/// offset.
final class SegmentedLog {
    struct Options {
        /// A segment is closed and a new one started once it passes this size.
        var segmentBytesMax = 64 << 20
        /// The largest entry payload accepted, so that a corrupt length can never make
        /// recovery allocate without bound.
        var entryBytesMax = 64 << 20
    }

    final class Segment {
        let path: String
        let firstIndex: LogIndex
        let file: FileHandle
        /// Where each entry's record starts, in index order.
        var offsets: [Int] = []
        var size: Int
        var needsSync = false

        init(path: String, firstIndex: LogIndex, file: FileHandle, size: Int) {
            self.path = path
            self.firstIndex = firstIndex
            self.file = file
            self.size = size
        }

        var lastIndex: LogIndex { firstIndex + LogIndex(offsets.count) - 1 }
        var isEmpty: Bool { offsets.isEmpty }
    }

    static let magic: [UInt8] = Array("BWAL".utf8)
    static let version: UInt8 = 1
    /// magic 4, version 1, reserved 3, group id 8, first index 8, crc32c 4.
    static let headerBytes = 28
    /// length 4, crc32c 4.
    static let recordHeaderBytes = 8
    /// term 8, index 8, kind 1.
    static let entryFixedBytes = 17

    let directory: String
    let groupID: UInt64
    let options: Options
    private(set) var segments: [Segment] = []
    private var directoryNeedsSync = false

    var firstIndex: LogIndex? { segments.first(where: { !$0.isEmpty })?.firstIndex }
    var lastIndex: LogIndex? { segments.last(where: { !$0.isEmpty })?.lastIndex }

    private init(directory: String, groupID: UInt64, options: Options) {
        self.directory = directory
        self.groupID = groupID
        self.options = options
    }

    static func segmentName(firstIndex: LogIndex) -> String {
        let digits = String(firstIndex)
        return "wal-" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".seg"
    }

    // MARK: Recovery

    /// Opens the log, verifying every record, and returns the entries it holds in order.
    static func open(directory: String, groupID: UInt64, options: Options = Options()) throws(LogError) -> (SegmentedLog, [Entry]) {
        try FileSystem.createDirectory(directory)
        let log = SegmentedLog(directory: directory, groupID: groupID, options: options)
        let names = try FileSystem.list(directory).filter { $0.hasPrefix("wal-") && $0.hasSuffix(".seg") }
        var entries: [Entry] = []
        for (position, name) in names.enumerated() {
            let isLast = position == names.count - 1
            let path = directory + "/" + name
            guard let segment = try log.recoverSegment(path: path, isLast: isLast, into: &entries) else {
                // A last segment whose header never reached the disk: it held nothing.
                try FileSystem.remove(path)
                log.directoryNeedsSync = true
                continue
            }
            if let previous = log.segments.last, !previous.isEmpty, segment.firstIndex != previous.lastIndex + 1 {
                throw .corruptFile(path: path, reason: "starts at index \(segment.firstIndex), but the previous segment ends at \(previous.lastIndex)")
            }
            log.segments.append(segment)
        }
        if log.directoryNeedsSync { try log.sync() }
        return (log, entries)
    }

    /// Reads one segment. Returns nil for a last segment with a torn header.
    private func recoverSegment(path: String, isLast: Bool, into entries: inout [Entry]) throws(LogError) -> Segment? {
        let file = try FileHandle(path: path, flags: O_RDWR)
        let bytes = try file.readAll()
        var header = ByteReader(bytes)
        guard bytes.count >= Self.headerBytes else {
            if isLast { return nil }
            throw .corruptRecord(path: path, offset: 0, reason: "segment header is \(bytes.count) bytes, expected \(Self.headerBytes)")
        }
        let magic = header.read(count: 4)!
        let version = header.read(UInt8.self)!
        _ = header.read(count: 3)
        let group = header.read(UInt64.self)!
        let first = header.read(UInt64.self)!
        let checksum = header.read(UInt32.self)!
        let computed = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<Self.headerBytes - 4])) }
        guard magic == Self.magic, version == Self.version, checksum == computed else {
            if isLast && bytes[Self.headerBytes...].allSatisfy({ $0 == 0 }) { return nil }
            throw .corruptRecord(path: path, offset: 0, reason: "bad segment header")
        }
        guard group == groupID else {
            throw .corruptFile(path: path, reason: "belongs to group \(group), not \(groupID)")
        }
        let segment = Segment(path: path, firstIndex: first, file: file, size: Self.headerBytes)
        var offset = Self.headerBytes
        while offset < bytes.count {
            switch decodeRecord(bytes, at: offset, expectedIndex: first + LogIndex(segment.offsets.count)) {
            case .entry(let entry, let next):
                // Terms never decrease along a Raft log: older records after newer ones are a
                // suffix that should have been cut. Never hand them to the core as current.
                if let previous = entries.last, entry.term < previous.term {
                    throw .corruptRecord(path: path, offset: offset, reason: "term \(entry.term) follows term \(previous.term) at index \(previous.index)")
                }
                entries.append(entry)
                segment.offsets.append(offset)
                offset = next
            case .invalid(let reason, let reachesEnd):
                // A torn tail: the damage is in the last segment and nothing after it was
                // written. Anything else is corruption of data that was acknowledged.
                let restIsZero = bytes[offset...].allSatisfy { $0 == 0 }
                guard isLast && (reachesEnd || restIsZero) else {
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

    private enum Decoded {
        case entry(Entry, next: Int)
        /// `reachesEnd`: the bad record runs to the end of the file, as a torn write does.
        case invalid(String, reachesEnd: Bool)
    }

    private func decodeRecord(_ bytes: [UInt8], at offset: Int, expectedIndex: LogIndex) -> Decoded {
        var reader = ByteReader(bytes, offset: offset)
        guard let length = reader.read(UInt32.self), let checksum = reader.read(UInt32.self) else {
            return .invalid("record header cut short", reachesEnd: true)
        }
        let payloadBytes = Int(length)
        guard payloadBytes >= Self.entryFixedBytes, payloadBytes <= Self.entryFixedBytes + options.entryBytesMax else {
            return .invalid("record length \(length) out of range", reachesEnd: false)
        }
        let end = offset + Self.recordHeaderBytes + payloadBytes
        guard end <= bytes.count else { return .invalid("record runs past the end of the file", reachesEnd: true) }
        let computed = bytes.withUnsafeBytes { raw -> UInt32 in
            let lengthCRC = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[offset..<offset + 4]))
            return CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[offset + 8..<end]), continuing: lengthCRC)
        }
        guard computed == checksum else { return .invalid("checksum mismatch", reachesEnd: end == bytes.count) }
        let term = reader.read(UInt64.self)!
        let index = reader.read(UInt64.self)!
        let kindByte = reader.read(UInt8.self)!
        guard let kind = Entry.Kind(rawValue: kindByte) else { return .invalid("unknown entry kind \(kindByte)", reachesEnd: false) }
        guard index == expectedIndex else { return .invalid("entry \(index) where \(expectedIndex) was expected", reachesEnd: false) }
        let data = Array(bytes[reader.offset..<end])
        return .entry(Entry(term: term, index: index, kind: kind, data: data), next: end)
    }

    // MARK: Reading back

    /// The stored entries of `range`, from its first on: at least one, then as many as fit in
    /// `bytesMax` of payload. Nil if the first is not stored (compacted away, or not written).
    func entries(in range: ClosedRange<LogIndex>, bytesMax: Int) throws(LogError) -> [Entry]? {
        guard let segment = segments.last(where: { !$0.isEmpty && $0.firstIndex <= range.lowerBound }), segment.lastIndex >= range.lowerBound
        else { return nil }
        let first = Int(range.lowerBound - segment.firstIndex)
        let lastIndex = min(range.upperBound, segment.lastIndex)
        // Read record by record up to the byte bound, in one read of the span.
        var end = first
        var bytes = 0
        while end <= Int(lastIndex - segment.firstIndex) {
            let recordEnd = end + 1 < segment.offsets.count ? segment.offsets[end + 1] : segment.size
            let recordBytes = recordEnd - segment.offsets[end] - Self.recordHeaderBytes - Self.entryFixedBytes
            if end > first, bytes + recordBytes > bytesMax { break }
            bytes += recordBytes
            end += 1
        }
        let start = segment.offsets[first]
        let stop = end < segment.offsets.count ? segment.offsets[end] : segment.size
        let span = try segment.file.read(count: stop - start, at: start)
        var entries: [Entry] = []
        var offset = 0
        for slot in first..<end {
            switch decodeRecord(span, at: offset, expectedIndex: segment.firstIndex + LogIndex(slot)) {
            case .entry(let entry, let next):
                entries.append(entry)
                offset = next
            case .invalid(let reason, _):
                throw .corruptRecord(path: segment.path, offset: start + offset, reason: reason)
            }
        }
        return entries
    }

    // MARK: Writing

    /// Writes entries, replacing any stored from `entries.first.index` on. Not durable
    /// until `sync()`.
    func append(_ entries: [Entry]) throws(LogError) {
        guard let first = entries.first else { return }
        if let last = lastIndex, first.index <= last {
            try truncate(from: first.index)
        }
        if let last = lastIndex {
            precondition(first.index == last + 1, "appending \(first.index) after \(last) leaves a gap")
        }
        var pending: [UInt8] = []
        var pendingOffsets: [Int] = []
        var segment = try activeSegment(startingAt: first.index)
        var writeOffset = segment.size
        for entry in entries {
            guard entry.data.count <= options.entryBytesMax else {
                throw .recordTooLarge(bytes: entry.data.count, max: options.entryBytesMax)
            }
            if segment.size + pending.count >= options.segmentBytesMax, !(segment.isEmpty && pendingOffsets.isEmpty) {
                try flush(&pending, offsets: &pendingOffsets, to: segment, at: writeOffset)
                segment = try startSegment(firstIndex: entry.index)
                writeOffset = segment.size
            }
            pendingOffsets.append(writeOffset + pending.count)
            Self.encode(entry, into: &pending)
        }
        try flush(&pending, offsets: &pendingOffsets, to: segment, at: writeOffset)
    }

    private func flush(_ pending: inout [UInt8], offsets: inout [Int], to segment: Segment, at offset: Int) throws(LogError) {
        guard !pending.isEmpty else { return }
        try segment.file.write(pending, at: offset)
        segment.offsets.append(contentsOf: offsets)
        segment.size = offset + pending.count
        segment.needsSync = true
        pending.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
    }

    static func encode(_ entry: Entry, into buffer: inout [UInt8]) {
        let start = buffer.count
        let length = UInt32(entryFixedBytes + entry.data.count)
        buffer.appendLittleEndian(length)
        buffer.appendLittleEndian(UInt32(0))
        buffer.appendLittleEndian(entry.term)
        buffer.appendLittleEndian(entry.index)
        buffer.append(entry.kind.rawValue)
        buffer.append(contentsOf: entry.data)
        let checksum = buffer.withUnsafeBytes { raw -> UInt32 in
            let lengthCRC = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[start..<start + 4]))
            return CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(start + 8)...]), continuing: lengthCRC)
        }
        withUnsafeBytes(of: checksum.littleEndian) { bytes in
            for i in 0..<4 { buffer[start + 4 + i] = bytes[i] }
        }
    }

    private func activeSegment(startingAt index: LogIndex) throws(LogError) -> Segment {
        if let last = segments.last, last.firstIndex <= index, last.size < options.segmentBytesMax || last.isEmpty {
            if last.isEmpty && last.firstIndex != index {
                // An empty segment named for another index cannot take these entries.
                try removeSegment(last)
            } else {
                return last
            }
        }
        return try startSegment(firstIndex: index)
    }

    private func startSegment(firstIndex: LogIndex) throws(LogError) -> Segment {
        // Recovery forgives a torn tail only in the last segment: the one before must be
        // durable before a later one can exist on disk. One extra sync per segment.
        if let previous = segments.last, previous.needsSync {
            try previous.file.syncData()
            previous.needsSync = false
        }
        let path = directory + "/" + Self.segmentName(firstIndex: firstIndex)
        let file = try FileHandle(path: path, flags: O_RDWR | O_CREAT | O_TRUNC)
        var header: [UInt8] = Self.magic
        header.append(Self.version)
        header.append(contentsOf: [0, 0, 0])
        header.appendLittleEndian(groupID)
        header.appendLittleEndian(firstIndex)
        header.appendLittleEndian(CRC32C.checksum(header))
        try file.write(header, at: 0)
        let segment = Segment(path: path, firstIndex: firstIndex, file: file, size: header.count)
        segment.needsSync = true
        segments.append(segment)
        directoryNeedsSync = true
        return segment
    }

    private func removeSegment(_ segment: Segment) throws(LogError) {
        try FileSystem.remove(segment.path)
        segments.removeAll { $0 === segment }
        directoryNeedsSync = true
    }

    /// Drops the entries from `index` on: later segments go, the one holding `index` is cut.
    /// The cut is made durable before anything new is written after it: otherwise a crash
    /// could keep the new records and lose the cut, and the stale suffix would reappear
    /// behind them. Conflicting suffixes are rare, so the extra syncs cost little.
    func truncate(from index: LogIndex) throws(LogError) {
        while let last = segments.last, last.firstIndex > index || (last.isEmpty && last.firstIndex >= index) {
            try removeSegment(last)
        }
        if let segment = segments.last, !segment.isEmpty, index <= segment.lastIndex {
            let keep = Int(index - segment.firstIndex)
            let cut = segment.offsets[keep]
            try segment.file.truncate(to: cut)
            segment.offsets.removeSubrange(keep...)
            segment.size = cut
            try segment.file.syncData()
            segment.needsSync = false
        }
        try syncDirectoryIfNeeded()
    }

    /// Removes the segments whose entries all lie at or before `index` (covered by a
    /// snapshot). The segment holding later entries stays whole.
    func removeSegments(through index: LogIndex) throws(LogError) {
        while let first = segments.first, !first.isEmpty, first.lastIndex <= index {
            try removeSegment(first)
        }
        try syncDirectoryIfNeeded()
    }

    /// Removes every segment: the log restarts after a snapshot received from the leader.
    /// Durable at once, so that no old segment can outlive the crash next to a new one.
    func removeAll() throws(LogError) {
        while let last = segments.last { try removeSegment(last) }
        try syncDirectoryIfNeeded()
    }

    private func syncDirectoryIfNeeded() throws(LogError) {
        guard directoryNeedsSync else { return }
        try FileSystem.syncDirectory(directory)
        directoryNeedsSync = false
    }

    /// Makes every write so far durable: one fdatasync per segment written to (normally
    /// one), and one fsync of the directory if files were created or removed.
    func sync() throws(LogError) {
        for segment in segments where segment.needsSync {
            try segment.file.syncData()
            segment.needsSync = false
        }
        try syncDirectoryIfNeeded()
    }
}
