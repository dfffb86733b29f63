import Glibc

/// Why the log refused to start or to write. Corruption names the file and the byte offset,
/// so an operator can see exactly what was found, and the node never silently drops a
/// record it had acknowledged.
public enum LogError: Error, Equatable, CustomStringConvertible {
    case io(operation: String, path: String, errno: Int32)
    case corruptRecord(path: String, offset: Int, reason: String)
    case corruptFile(path: String, reason: String)
    case gap(reason: String)
    case recordTooLarge(bytes: Int, max: Int)

    /// A write the disk refused for want of space (ENOSPC, or EDQUOT for a quota).
    public var isOutOfSpace: Bool {
        if case .io(_, _, let code) = self { return code == ENOSPC || code == EDQUOT }
        return false
    }

    public var description: String {
        switch self {
        case .io(let operation, let path, let errno): return "\(operation) \(path) failed: errno \(errno)"
        case .corruptRecord(let path, let offset, let reason): return "corrupt record in \(path) at offset \(offset): \(reason)"
        case .corruptFile(let path, let reason): return "corrupt file \(path): \(reason)"
        case .gap(let reason): return "log does not follow its snapshot: \(reason)"
        case .recordTooLarge(let bytes, let max): return "record of \(bytes) bytes exceeds the limit of \(max)"
        }
    }
}
