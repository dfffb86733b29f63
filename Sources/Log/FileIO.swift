import CFileSystem
import Glibc

/// A thin layer over POSIX files: every call that can fail throws `LogError.io` naming
/// the operation and the path. No buffering of its own: callers batch their writes. It holds
/// nothing but the descriptor, so several threads may use one (positioned reads and writes
/// need no shared offset).
public final class FileHandle: Sendable {
    public let path: String
    private let fd: Int32

    /// Files it creates are their owner's alone (0600): they hold messages.
    public init(path: String, flags: Int32, mode: mode_t = 0o600) throws(LogError) {
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
        self.path = path
        self.fd = fd
    }

    deinit { Glibc.close(fd) }

    var size: Int {
        get throws(LogError) {
            var info = stat()
            guard fstat(fd, &info) == 0 else { throw .io(operation: "fstat", path: path, errno: errno) }
            return Int(info.st_size)
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(LogError) {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(operation: "write", path: path, errno: errno)
            }
            done += n
        }
    }

    public func write(_ bytes: [UInt8], at offset: Int) throws(LogError) {
        var failure: LogError?
        bytes.withUnsafeBytes { raw in
            do throws(LogError) { try write(raw, at: offset) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    public func readAll() throws(LogError) -> [UInt8] {
        let count = try size
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(operation: "read", path: path, errno: errno)
            }
            if n == 0 { break }
            done += n
        }
        return Array(bytes[..<done])
    }

    /// Reads `count` bytes at `offset`; fewer if the file ends first.
    public func read(count: Int, at offset: Int) throws(LogError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(operation: "read", path: path, errno: errno)
            }
            if n == 0 { break }
            done += n
        }
        if done < count { bytes.removeSubrange(done...) }
        return bytes
    }

    /// Frees the disk blocks of `count` bytes at `offset`, keeping the file's size: reading
    /// them gives zeros. Returns false where the file system cannot (EOPNOTSUPP).
    func punchHole(offset: Int, count: Int) throws(LogError) -> Bool {
        guard count > 0 else { return true }
        if berth_punch_hole(fd, Int64(offset), Int64(count)) == 0 { return true }
        if errno == EOPNOTSUPP { return false }
        throw .io(operation: "fallocate", path: path, errno: errno)
    }

    func truncate(to length: Int) throws(LogError) {
        guard ftruncate(fd, off_t(length)) == 0 else { throw .io(operation: "ftruncate", path: path, errno: errno) }
    }

    /// Data and the metadata needed to read it back (the file's size), not timestamps.
    public func syncData() throws(LogError) {
        guard fdatasync(fd) == 0 else { throw .io(operation: "fdatasync", path: path, errno: errno) }
    }

    func sync() throws(LogError) {
        guard fsync(fd) == 0 else { throw .io(operation: "fsync", path: path, errno: errno) }
    }
}

public enum FileSystem {
    /// Creates the directory and any missing parents, their owner's alone (0700).
    public static func createDirectory(_ path: String) throws(LogError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                throw .io(operation: "mkdir", path: prefix, errno: errno)
            }
        }
    }

    /// Makes a directory's entries (created, renamed, removed files) durable.
    public static func syncDirectory(_ path: String) throws(LogError) {
        let directory = try FileHandle(path: path, flags: O_RDONLY | O_DIRECTORY)
        try directory.sync()
    }

    public static func rename(_ from: String, to: String) throws(LogError) {
        guard Glibc.rename(from, to) == 0 else { throw .io(operation: "rename", path: from, errno: errno) }
    }

    public static func remove(_ path: String) throws(LogError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw .io(operation: "unlink", path: path, errno: errno) }
    }

    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Removes a directory and everything in it (no deeper directories are expected).
    public static func removeDirectory(_ path: String) throws(LogError) {
        guard exists(path) else { return }
        for name in try list(path) { try remove(path + "/" + name) }
        guard rmdir(path) == 0 || errno == ENOENT else { throw .io(operation: "rmdir", path: path, errno: errno) }
    }

    /// The names in a directory, sorted.
    public static func list(_ path: String) throws(LogError) -> [String] {
        guard let directory = opendir(path) else { throw .io(operation: "opendir", path: path, errno: errno) }
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

    /// Writes a whole file so that, after a crash, it exists either with these exact bytes
    /// or not at all: temporary file, fsync, rename, fsync the directory.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, directory: String) throws(LogError) {
        let temporary = path + ".tmp"
        do {
            let file = try FileHandle(path: temporary, flags: O_WRONLY | O_CREAT | O_TRUNC)
            try file.write(bytes, at: 0)
            try file.sync()
        }
        try rename(temporary, to: path)
        try syncDirectory(directory)
    }
}

/// Little-endian encoding helpers for the on-disk formats.
extension Array where Element == UInt8 {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}

struct ByteReader {
    let bytes: [UInt8]
    var offset: Int

    init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }

    mutating func read<T: FixedWidthInteger>(_: T.Type) -> T? {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { return nil }
        var value: T = 0
        for i in 0..<size { value |= T(bytes[offset + i]) << (8 * i) }
        offset += size
        return value
    }

    mutating func read(count: Int) -> [UInt8]? {
        guard count >= 0, remaining >= count else { return nil }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }
}
