import Checksum
import LZ4
import Raft

/// One snapshot file, `snapshot-<index>-<term>.snap`:
///
///     version u8 (1) | reserved 3 | crc32c u32 of everything after it |
///     index u64 | term u64 | membership length u32 | membership | data length u64 |
///     the data as one LZ4 frame (with its own content checksum)
///
/// The version byte comes first so that the format can evolve.
public enum SnapshotFile {
    static let version: UInt8 = 1
    /// Snapshots kept on disk: the newest, and one before it in case the newest is damaged.
    static let retained = 2

    static func name(for metadata: SnapshotMetadata) -> String {
        func padded(_ value: UInt64) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
        }
        return "snapshot-\(padded(metadata.index))-\(padded(metadata.term)).snap"
    }

    static func encode(_ snapshot: Snapshot) -> [UInt8] {
        var body: [UInt8] = []
        body.appendLittleEndian(snapshot.metadata.index)
        body.appendLittleEndian(snapshot.metadata.term)
        let membership = snapshot.metadata.membership.encoded()
        body.appendLittleEndian(UInt32(membership.count))
        body.append(contentsOf: membership)
        body.appendLittleEndian(UInt64(snapshot.data.count))
        body.append(contentsOf: LZ4Frame.compress(snapshot.data))
        var bytes: [UInt8] = [version, 0, 0, 0]
        bytes.appendLittleEndian(CRC32C.checksum(body))
        bytes.append(contentsOf: body)
        return bytes
    }

    static func decode(_ bytes: [UInt8], path: String, dataBytesMax: Int) throws(LogError) -> Snapshot {
        var reader = ByteReader(bytes)
        guard let version = reader.read(UInt8.self), reader.read(count: 3) != nil, let checksum = reader.read(UInt32.self) else {
            throw .corruptFile(path: path, reason: "header cut short")
        }
        guard version == Self.version else { throw .corruptFile(path: path, reason: "unknown version \(version)") }
        let computed = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[8...])) }
        guard checksum == computed else { throw .corruptFile(path: path, reason: "checksum mismatch") }
        guard let index = reader.read(UInt64.self), let term = reader.read(UInt64.self),
            let membershipBytes = reader.read(UInt32.self), let encodedMembership = reader.read(count: Int(membershipBytes)),
            let membership = Membership(encoded: encodedMembership), let dataBytes = reader.read(UInt64.self)
        else {
            throw .corruptFile(path: path, reason: "metadata does not decode")
        }
        guard dataBytes <= UInt64(dataBytesMax) else {
            throw .corruptFile(path: path, reason: "data of \(dataBytes) bytes exceeds the limit of \(dataBytesMax)")
        }
        let data: [UInt8]
        do {
            data = try LZ4Frame.decompress(bytes[reader.offset...], maxOutputBytes: Int(dataBytes))
        } catch {
            throw .corruptFile(path: path, reason: "LZ4 frame: \(error)")
        }
        guard data.count == Int(dataBytes) else {
            throw .corruptFile(path: path, reason: "data is \(data.count) bytes, header says \(dataBytes)")
        }
        return Snapshot(metadata: SnapshotMetadata(index: index, term: term, membership: membership), data: data)
    }

    /// Writes atomically and then prunes all but the newest `retained` snapshots.
    static func write(_ snapshot: EncodedSnapshot, directory: String) throws(LogError) {
        try FileSystem.writeAtomically(snapshot.fileBytes, to: directory + "/" + name(for: snapshot.snapshot.metadata), directory: directory)
        let names = try snapshotNames(directory: directory)
        for old in names.dropLast(retained) { try FileSystem.remove(directory + "/" + old) }
        if names.count > retained { try FileSystem.syncDirectory(directory) }
    }

    /// Snapshot file names, oldest first (their names sort by index).
    static func snapshotNames(directory: String) throws(LogError) -> [String] {
        try FileSystem.list(directory).filter { $0.hasPrefix("snapshot-") && $0.hasSuffix(".snap") }
    }

    /// The newest snapshot that verifies, and a note for each newer one that did not. Those
    /// are renamed to `.corrupt`, kept for inspection but no longer counted among the
    /// snapshots retained.
    static func newestValid(directory: String, dataBytesMax: Int) throws(LogError) -> (StoredSnapshot?, warnings: [String]) {
        var warnings: [String] = []
        for name in try snapshotNames(directory: directory).reversed() {
            let path = directory + "/" + name
            do {
                let bytes = try FileHandle(path: path, flags: 0).readAll()
                return (StoredSnapshot(snapshot: try decode(bytes, path: path, dataBytesMax: dataBytesMax), path: path, fileBytes: bytes.count), warnings)
            } catch {
                try FileSystem.rename(path, to: path + ".corrupt")
                try FileSystem.syncDirectory(directory)
                warnings.append("skipped \(error); kept as \(name).corrupt")
            }
        }
        return (nil, warnings)
    }
}

/// A snapshot with the bytes of its file: the compression and the checksum done, which
/// take time and need nothing of the storage, so any thread may make one.
public struct EncodedSnapshot: Sendable {
    public let snapshot: Snapshot
    let fileBytes: [UInt8]

    public init(_ snapshot: Snapshot) {
        self.snapshot = snapshot
        fileBytes = SnapshotFile.encode(snapshot)
    }
}

/// A snapshot as its file holds it: the snapshot, where the file is, and its size (what a
/// follower is sent for it, with whatever the shell adds).
public struct StoredSnapshot: Sendable {
    public var snapshot: Snapshot
    public var path: String
    public var fileBytes: Int
}

extension SnapshotFile {
    /// Where the file of the snapshot at `metadata` is, in a group's directory.
    public static func path(for metadata: SnapshotMetadata, directory: String) -> String {
        directory + "/" + name(for: metadata)
    }

    /// Decodes a snapshot file's bytes, checking them as recovery does.
    public static func decode(fileBytes bytes: [UInt8], path: String) throws(LogError) -> Snapshot {
        try decode(bytes, path: path, dataBytesMax: DurableStorage.Options().snapshotBytesMax)
    }
}

extension EncodedSnapshot {
    /// The size of the snapshot's file.
    public var fileByteCount: Int { fileBytes.count }

    /// The file's bytes, as a follower is sent them.
    public var file: [UInt8] { fileBytes }

    /// A snapshot received as its file's bytes, checked as recovery checks them.
    public init(fileBytes: [UInt8], path: String) throws(LogError) {
        snapshot = try SnapshotFile.decode(fileBytes: fileBytes, path: path)
        self.fileBytes = fileBytes
    }
}
