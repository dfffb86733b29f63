import Glibc

/// Damage to a stopped node's write-ahead log that recovery must refuse: one flipped byte in
/// a record that is not the last of the log, so it cannot pass for a torn tail. The segment
/// layout is the shared log's (`wal/wal-<first record>.seg`: a 20-byte header, then records of
/// a 4-byte little-endian length, a 4-byte checksum and that many bytes).
enum LogCorruption {
    static let segmentHeaderBytes = 20
    static let recordHeaderBytes = 8

    struct Flipped: Sendable, CustomStringConvertible {
        var path: String
        /// Where the damaged record starts: what the node must name.
        var recordOffset: Int
        var byteOffset: Int

        var fileName: String { String(path.split(separator: "/").last ?? "") }
        var description: String { "\(path): record at offset \(recordOffset) (byte \(byteOffset) flipped)" }
    }

    enum Failure: Error, CustomStringConvertible {
        case noRecordToDamage(String)
        case io(String)

        var description: String {
            switch self {
            case .noRecordToDamage(let directory): return "no log record before the tail under \(directory)"
            case .io(let text): return text
            }
        }
    }

    /// Flips a byte inside a record drawn from `random` among those with a record after them,
    /// in the node's newest segments first.
    static func flipByte(under dataDirectory: String, random: inout SeededGenerator) throws -> Flipped {
        let candidates = try candidates(under: dataDirectory)
        guard !candidates.isEmpty else { throw Failure.noRecordToDamage(dataDirectory) }
        let chosen = candidates[random.below(candidates.count)]
        // A byte of the record's sequence number, inside what the checksum covers.
        let byteOffset = chosen.offset + recordHeaderBytes + 3
        try flip(path: chosen.path, at: byteOffset)
        return Flipped(path: chosen.path, recordOffset: chosen.offset, byteOffset: byteOffset)
    }

    /// The records that may be damaged: those of the newest segment holding one that has a
    /// record after it (in the same or a later segment), since the last is the tail.
    static func candidates(under dataDirectory: String) throws -> [(path: String, offset: Int)] {
        let segments = findFiles(under: dataDirectory) { $0.hasPrefix("wal-") && $0.hasSuffix(".seg") }.sorted()
        for (position, path) in segments.enumerated().reversed() {
            let offsets = try recordOffsets(path)
            let notTail = position == segments.count - 1 ? offsets.dropLast() : offsets[...]
            if !notTail.isEmpty { return notTail.map { (path, $0) } }
        }
        return []
    }

    /// Where each whole record of a segment starts.
    static func recordOffsets(_ path: String) throws -> [Int] {
        let bytes = try readFile(path)
        var offsets: [Int] = []
        var offset = segmentHeaderBytes
        while offset + recordHeaderBytes <= bytes.count {
            let length = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2]) << 16 | Int(bytes[offset + 3]) << 24
            let end = offset + recordHeaderBytes + length
            guard length > 0, end <= bytes.count else { break }
            offsets.append(offset)
            offset = end
        }
        return offsets
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        guard let file = fopen(path, "rb") else { throw Failure.io("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return bytes
    }

    private static func flip(path: String, at offset: Int) throws {
        let descriptor = open(path, O_RDWR)
        guard descriptor >= 0 else { throw Failure.io("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var byte: UInt8 = 0
        guard pread(descriptor, &byte, 1, off_t(offset)) == 1 else { throw Failure.io("cannot read \(path) at \(offset)") }
        byte ^= 0xFF
        guard pwrite(descriptor, &byte, 1, off_t(offset)) == 1, fsync(descriptor) == 0 else { throw Failure.io("cannot write \(path) at \(offset)") }
    }

    /// Every regular file below `directory` whose name passes `matching`.
    static func findFiles(under directory: String, matching: (String) -> Bool) -> [String] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var found: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            let path = directory + "/" + name
            if Int32(entry.pointee.d_type) == Int32(DT_DIR) {
                found += findFiles(under: path, matching: matching)
            } else if matching(name) {
                found.append(path)
            }
        }
        return found
    }
}
