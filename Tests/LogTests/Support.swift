import Glibc
import Raft
import XCTest

@testable import Log

/// Every test gets a fresh data directory under /tmp, removed afterwards. All "random" data
/// comes from `SeededGenerator`, so every run writes the same bytes.
class LogTestCase: XCTestCase {
    /// The data directory: `/tmp/berth-logtests-XXXXXX`.
    var root = ""
    let groupID: UInt64 = 7

    /// Where `DurableStorage` keeps this group's files.
    var groupDirectory: String { DurableStorage.groupDirectory(dataDirectory: root, groupID: groupID) }

    override func setUpWithError() throws {
        try super.setUpWithError()
        var template = Array("/tmp/berth-logtests-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let made else { throw TestFailure("mkdtemp failed: errno \(errno)") }
        root = String(cString: made)
    }

    override func tearDownWithError() throws {
        if !root.isEmpty { Disk.removeTree(root) }
        try super.tearDownWithError()
    }

    func openStorage(segmentBytesMax: Int? = nil) throws(LogError) -> (DurableStorage, DurableStorage.Recovery) {
        var options = DurableStorage.Options()
        if let segmentBytesMax { options.segmentBytesMax = segmentBytesMax }
        return try DurableStorage.open(dataDirectory: root, groupID: groupID, options: options)
    }

    /// Where the node's shared write-ahead log keeps its segments.
    var logDirectory: String { root + "/wal" }

    /// The path of the shared log's segment whose first record is `firstSequence` (the
    /// log numbers its records from 1, so for one group that only ever appended, the first
    /// entry's index), spelled out independently of `SharedSegments.segmentName`: `wal-` + 20
    /// zero-padded digits + `.seg`.
    func segmentPath(_ firstSequence: UInt64) -> String {
        let digits = String(firstSequence)
        return logDirectory + "/wal-" + String(repeating: "0", count: 20 - digits.count) + digits + ".seg"
    }

    /// The first record sequences of the segment files on disk, from their names, in order.
    func segmentFirstIndexes() -> [LogIndex] {
        Disk.list(logDirectory)
            .filter { $0.hasPrefix("wal-") && $0.hasSuffix(".seg") }
            .map { LogIndex($0.dropFirst(4).dropLast(4))! }
    }

    /// Removes the group's files and the shared log, as if the node had never run.
    func removeStorage() {
        Disk.removeTree(groupDirectory)
        Disk.removeTree(logDirectory)
    }

    func snapshotNames() -> [String] {
        Disk.list(groupDirectory).filter { $0.hasPrefix("snapshot-") && $0.hasSuffix(".snap") }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: On-disk layout, computed by the tests themselves

enum Layout {
    /// magic 4, version 1, reserved 3, first sequence 8, crc 4.
    static let segmentHeaderBytes = 20
    /// length 4, crc 4, sequence 8, group 8, term 8, index 8, kind 1.
    static let recordOverheadBytes = 8 + 33

    static func recordBytes(_ entry: Entry) -> Int { recordOverheadBytes + entry.data.count }

    /// Where the record of `entries[position]` starts in a segment holding `entries`.
    static func offset(of position: Int, in entries: [Entry]) -> Int {
        segmentHeaderBytes + entries[..<position].reduce(0) { $0 + recordBytes($1) }
    }

    static func segmentBytes(_ entries: [Entry]) -> Int { offset(of: entries.count, in: entries) }

    /// The first indexes of the segments that appending `entries` to an empty log produces:
    /// a segment takes entries until its size reaches `segmentBytesMax`, the next entry
    /// starts a new one (a segment holds at least one entry).
    static func segmentFirstIndexes(_ entries: [Entry], segmentBytesMax: Int) -> [LogIndex] {
        var firsts: [LogIndex] = []
        var size = 0
        for entry in entries {
            if firsts.isEmpty || size >= segmentBytesMax {
                firsts.append(entry.index)
                size = segmentHeaderBytes
            }
            size += recordBytes(entry)
        }
        return firsts
    }

    /// `entries` split by segment, for the given first indexes.
    static func split(_ entries: [Entry], firsts: [LogIndex]) -> [[Entry]] {
        firsts.enumerated().map { position, first in
            let next = position + 1 < firsts.count ? firsts[position + 1] : LogIndex.max
            return entries.filter { $0.index >= first && $0.index < next }
        }
    }
}

// MARK: Deterministic data

extension SeededGenerator {
    mutating func bytes(_ count: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            var word = next()
            for _ in 0..<min(8, count - bytes.count) {
                bytes.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
        }
        return bytes
    }
}

/// Entries `range`, all of `term`, with `dataBytes` bytes of seeded data each (or a seeded
/// size in `sizes` when given).
func makeEntries(
    _ range: ClosedRange<LogIndex>, term: Term, dataBytes: Int = 100, sizes: ClosedRange<Int>? = nil,
    random: inout SeededGenerator
) -> [Entry] {
    range.map { index in
        let count = sizes.map { Int.random(in: $0, using: &random) } ?? dataBytes
        return Entry(term: term, index: index, kind: .normal, data: random.bytes(count))
    }
}

func makeEntries(_ range: ClosedRange<LogIndex>, term: Term, dataBytes: Int = 100, seed: UInt64) -> [Entry] {
    var random = SeededGenerator(seed: seed)
    return makeEntries(range, term: term, dataBytes: dataBytes, random: &random)
}

func snapshot(index: LogIndex, term: Term, data: [UInt8] = Array("state".utf8), voters: Set<NodeID> = [1, 2, 3], learners: Set<NodeID> = []) -> Snapshot {
    Snapshot(metadata: SnapshotMetadata(index: index, term: term, membership: Membership(voters: voters, learners: learners)), data: data)
}

/// Runs `body`, which must throw, and returns its error.
func logError(_ body: () throws(LogError) -> Void, file: StaticString = #filePath, line: UInt = #line) -> LogError? {
    do {
        try body()
        XCTFail("expected a LogError, nothing was thrown", file: file, line: line)
        return nil
    } catch {
        return error
    }
}

// MARK: Raw file access (plain POSIX, independent of the module's own I/O)

enum Disk {
    static func read(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        precondition(fd >= 0, "open \(path): errno \(errno)")
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            precondition(n >= 0, "read \(path): errno \(errno)")
            if n == 0 { break }
            bytes.append(contentsOf: chunk[..<n])
        }
        return bytes
    }

    static func write(_ bytes: [UInt8], to path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        precondition(fd >= 0, "open \(path): errno \(errno)")
        defer { close(fd) }
        overwrite(fd: fd, at: 0, with: bytes)
    }

    /// Writes `bytes` at `offset`, leaving the rest of the file as it is.
    static func overwrite(_ path: String, at offset: Int, with bytes: [UInt8]) {
        let fd = open(path, O_WRONLY)
        precondition(fd >= 0, "open \(path): errno \(errno)")
        defer { close(fd) }
        overwrite(fd: fd, at: offset, with: bytes)
    }

    private static func overwrite(fd: Int32, at offset: Int, with bytes: [UInt8]) {
        let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        precondition(n == bytes.count, "pwrite: errno \(errno)")
    }

    static func append(_ bytes: [UInt8], to path: String) {
        overwrite(path, at: size(path), with: bytes)
    }

    static func flipByte(_ path: String, at offset: Int) {
        let old = read(path)[offset]
        overwrite(path, at: offset, with: [old ^ 0x5A])
    }

    static func truncate(_ path: String, to length: Int) {
        precondition(Glibc.truncate(path, off_t(length)) == 0, "truncate \(path): errno \(errno)")
    }

    static func size(_ path: String) -> Int {
        var info = stat()
        precondition(stat(path, &info) == 0, "stat \(path): errno \(errno)")
        return Int(info.st_size)
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func list(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func removeTree(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            for name in list(path) { removeTree(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// The number of write-type system calls (write, pwrite, ...) this process has made,
    /// from /proc/self/io; nil where the kernel does not account them.
    static func writeSyscalls() -> Int? {
        guard access("/proc/self/io", R_OK) == 0 else { return nil }
        let text = String(decoding: read("/proc/self/io"), as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix("syscw:") {
            return Int(line.dropFirst(6).trimmingPrefix(while: { $0 == " " }))
        }
        return nil
    }
}
