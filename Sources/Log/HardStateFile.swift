import Checksum
import Raft

/// The `hardstate` file: version u8, term u64, vote u64 (0: none), commit u64, crc32c u32
/// of what precedes it. Replaced atomically (temporary file, fsync, rename, fsync directory).
enum HardStateFile {
    static let name = "hardstate"
    static let version: UInt8 = 1

    /// Whether a new hard state must be written at the next sync. Term and vote must be
    /// durable before the messages that depend on them; a commit index alone is a hint that
    /// rides along with the next change of term or vote, unless it covers a membership
    /// change about to be applied. `DurableStorage` and `MemoryStorage` both follow this.
    static func mustWrite(_ latest: HardState, over written: HardState, commitMustBeDurable: Bool) -> Bool {
        latest.term != written.term || latest.vote != written.vote || (commitMustBeDurable && latest != written)
    }

    static func encode(_ state: HardState) -> [UInt8] {
        var bytes: [UInt8] = [version]
        bytes.appendLittleEndian(state.term)
        bytes.appendLittleEndian(state.vote ?? 0)
        bytes.appendLittleEndian(state.commit)
        bytes.appendLittleEndian(CRC32C.checksum(bytes))
        return bytes
    }

    static func decode(_ bytes: [UInt8], path: String) throws(LogError) -> HardState {
        guard bytes.count == 29 else { throw .corruptFile(path: path, reason: "\(bytes.count) bytes, expected 29") }
        var reader = ByteReader(bytes)
        let version = reader.read(UInt8.self)!
        guard version == Self.version else { throw .corruptFile(path: path, reason: "unknown version \(version)") }
        let term = reader.read(UInt64.self)!
        let vote = reader.read(UInt64.self)!
        let commit = reader.read(UInt64.self)!
        let checksum = reader.read(UInt32.self)!
        guard checksum == CRC32C.checksum(Array(bytes[0..<25])) else { throw .corruptFile(path: path, reason: "checksum mismatch") }
        return HardState(term: term, vote: vote == 0 ? nil : vote, commit: commit)
    }

    static func write(_ state: HardState, directory: String) throws(LogError) {
        try FileSystem.writeAtomically(encode(state), to: directory + "/" + name, directory: directory)
    }

    /// The stored hard state, or the initial one if none was ever written.
    static func read(directory: String) throws(LogError) -> HardState {
        let path = directory + "/" + name
        guard FileSystem.exists(path) else { return HardState() }
        return try decode(FileHandle(path: path, flags: 0).readAll(), path: path)
    }
}
