import Checksum
import Glibc
import Raft

/// The write-ahead log of one Raft group as it was kept before the node's groups shared one
/// (`WriteAheadLog`), read once on start to move it there: segment files
/// `group-<id>/wal-<first index>.seg`, each a header and a run of records `[length
/// u32][crc32c u32][term u64][index u64][kind u8][data]`, the checksum covering the length
/// and everything after it. Recovery verifies every record as it always did; a torn tail is
/// cut off, anything else damaged stops the node with the file and offset.
final class SegmentedLog {
    struct Options {
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

    private init(directory: String, groupID: UInt64, options: Options) {
        self.directory = directory
        self.groupID = groupID
        self.options = options
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
        try log.syncDirectoryIfNeeded()
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

    // MARK: Removing

    private func removeSegment(_ segment: Segment) throws(LogError) {
        try FileSystem.remove(segment.path)
        segments.removeAll { $0 === segment }
        directoryNeedsSync = true
    }

    /// Removes every segment, once they are moved: durable at once, so that none can outlive
    /// a crash to be moved again over what came after.
    func removeAll() throws(LogError) {
        while let last = segments.last { try removeSegment(last) }
        try syncDirectoryIfNeeded()
    }

    private func syncDirectoryIfNeeded() throws(LogError) {
        guard directoryNeedsSync else { return }
        try FileSystem.syncDirectory(directory)
        directoryNeedsSync = false
    }
}
