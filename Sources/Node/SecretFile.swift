import Glibc

/// A file that holds a secret (the cluster's shared secret, whose reader can join the
/// cluster and speak for any member; a user's password): it must be its owner's alone.
public enum SecretFile {
    public enum Refusal: Error, CustomStringConvertible, Equatable {
        case unreadable(path: String, errno: Int32)
        case empty(path: String)
        /// Group or others may read or write it.
        case exposed(path: String, mode: mode_t)

        public var description: String {
            switch self {
            case .unreadable(let path, let errno):
                return "the secret file \(path) cannot be read: \(String(cString: strerror(errno)))"
            case .empty(let path):
                return "the secret file \(path) is empty"
            case .exposed(let path, let mode):
                return "the secret file \(path) is open to others (mode \(String(mode & 0o777, radix: 8))); only its owner may read it: chmod 600 \(path)"
            }
        }
    }

    /// The secret in `path`, without trailing newlines; refused unless the file is private
    /// to its owner.
    public static func read(_ path: String) throws(Refusal) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .unreadable(path: path, errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .unreadable(path: path, errno: errno) }
        guard info.st_mode & 0o077 == 0 else { throw .exposed(path: path, mode: info.st_mode) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                guard errno == EINTR else { throw .unreadable(path: path, errno: errno) }
                continue
            }
            if n == 0 { break }
            bytes += buffer[..<n]
        }
        while bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
        guard !bytes.isEmpty else { throw .empty(path: path) }
        return bytes
    }
}
