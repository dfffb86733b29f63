import Broker
import Log
import Raft

/// What a follower behind the leader's log receives, as one run of bytes the Raft core
/// sends in chunks:
///
///     magic "BSNP" | version u8 | reserved 3 | file length u64 |
///     the snapshot's file, as the leader wrote it |
///     every record the snapshot's state refers to, in `BrokerState.RecordCursor` order
///
/// No record says where it goes: the receiver decodes the state from the file first, and
/// that tells it, record by record, which store and position comes next. Every record
/// carries its checksum; the file its own.
enum SnapshotTransfer {
    static let magic: [UInt8] = Array("BSNP".utf8)
    static let version: UInt8 = 1
    static let headerBytes = 16

    static func header(fileBytes: Int) -> [UInt8] {
        var bytes = magic + [version, 0, 0, 0]
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: UInt64(fileBytes) >> (8 * UInt64(i)))) }
        return bytes
    }

    /// The file length a header announces, nil if it is not a header of this version.
    static func fileBytes(inHeader bytes: ArraySlice<UInt8>) -> Int? {
        guard bytes.count == headerBytes, Array(bytes.prefix(4)) == magic, bytes[bytes.startIndex + 4] == version else { return nil }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(bytes[bytes.startIndex + 8 + i]) << (8 * UInt64(i)) }
        return Int(exactly: length)
    }

    enum Failure: Error, CustomStringConvertible {
        case badHeader
        case fileRefused(LogError)
        case stateRefused(BrokerCodecError)
        case recordDamaged(RecordLocation)
        case lengthMismatch(expected: Int, got: Int)

        var description: String {
            switch self {
            case .badHeader: return "a snapshot transfer that does not start with its header"
            case .fileRefused(let error): return "the snapshot file of a transfer was refused: \(error)"
            case .stateRefused(let error): return "the state in a transferred snapshot does not decode: \(error)"
            case .recordDamaged(let location): return "a transferred record is damaged (\(location))"
            case .lengthMismatch(let expected, let got): return "a snapshot transfer of \(got) bytes where its state needs \(expected)"
            }
        }
    }
}

/// The leader's side: the bytes of one snapshot's transfer, read on demand from the
/// snapshot's file and the message store, for a state captured when the snapshot was taken.
/// Reads mostly move forward (the core asks for the next chunks); one that goes back (the
/// chunks in flight sent again) starts again from where one of the last reads started, and
/// only one that goes further back walks the records again from the first: a walk that
/// blocks the loop for seconds at gigabytes, so the reads remembered MUST outnumber the
/// chunks in flight.
final class SnapshotTransferReader {
    /// Where the walk over the records stood when a read started.
    private struct Checkpoint {
        var cursor: BrokerState.RecordCursor
        var current: (start: Int, location: RecordLocation)?
        var nextStart: Int

        /// Whether a read at `offset` can go on from here.
        func serves(_ offset: Int) -> Bool { (current?.start ?? nextStart) <= offset }
    }
    /// How many read starts are kept to go back to.
    private let checkpointsKept: Int

    let reference: SnapshotReference
    private let header: [UInt8]
    private let file: FileHandle
    private let fileBytes: Int
    private let state: BrokerState
    private let store: MessageStore
    private var cursor: BrokerState.RecordCursor
    /// Where the record the cursor returned last begins in the transfer, and that record.
    private var current: (start: Int, location: RecordLocation)?
    /// Where the next record the cursor returns begins.
    private var nextStart: Int
    /// Records the walk has stepped over, counting each again when it goes back over it.
    private(set) var recordsWalked = 0
    /// The walk's state where the last reads started, the most recent last.
    private var checkpoints: [Checkpoint] = []

    /// `chunksInFlight`: how many chunks the core sends ahead of the follower's
    /// acknowledgements (`Config.snapshotChunksInFlightMax`).
    init(
        reference: SnapshotReference, filePath: String, fileBytes: Int, state: BrokerState, store: MessageStore, chunksInFlight: Int
    ) throws(LogError) {
        precondition(reference.bytes == SnapshotTransfer.headerBytes + fileBytes + state.recordBytes, "a transfer's length is its parts'")
        checkpointsKept = 4 * chunksInFlight
        self.reference = reference
        header = SnapshotTransfer.header(fileBytes: fileBytes)
        file = try FileHandle(path: filePath, flags: 0)
        self.fileBytes = fileBytes
        self.state = state
        self.store = store
        cursor = BrokerState.RecordCursor(state)
        nextStart = SnapshotTransfer.headerBytes + fileBytes
    }

    /// The `length` bytes at `offset`.
    func read(offset: Int, length: Int) throws(LogError) -> [UInt8] {
        precondition(offset >= 0 && length >= 0 && offset + length <= reference.bytes, "a read past the transfer's end")
        var bytes: [UInt8] = []
        bytes.reserveCapacity(length)
        var at = offset
        let end = offset + length
        if at < SnapshotTransfer.headerBytes {
            let upTo = min(end, SnapshotTransfer.headerBytes)
            bytes += header[at..<upTo]
            at = upTo
        }
        let recordsStart = SnapshotTransfer.headerBytes + fileBytes
        if at < end, at < recordsStart {
            let upTo = min(end, recordsStart)
            bytes += try file.read(count: upTo - at, at: at - SnapshotTransfer.headerBytes)
            at = upTo
        }
        guard at < end else { return bytes }
        if let current, at < current.start {
            // Back to before the record read last: from the latest checkpoint before `at`,
            // or from the first record.
            let from = checkpoints.filter { $0.serves(at) }.max { $0.nextStart < $1.nextStart }
                ?? Checkpoint(cursor: BrokerState.RecordCursor(state), current: nil, nextStart: recordsStart)
            cursor = from.cursor
            self.current = from.current
            nextStart = from.nextStart
        }
        checkpoints.removeAll { $0.nextStart == nextStart }
        checkpoints.append(Checkpoint(cursor: cursor, current: current, nextStart: nextStart))
        if checkpoints.count > checkpointsKept { checkpoints.removeFirst() }
        // The records that cover [at, end), read together; those before `at` are passed.
        var covering: [(start: Int, location: RecordLocation)] = []
        if let current, current.start + Int(current.location.bytes) > at { covering.append(current) }
        while nextStart < end {
            guard let location = cursor.next(in: state) else { break }
            recordsWalked += 1
            let start = nextStart
            nextStart += Int(location.bytes)
            current = (start, location)
            if nextStart > at { covering.append((start, location)) }
        }
        let records = try store.read(covering.map { MessageStore.Extent(store: $0.location.store, position: $0.location.position, bytes: Int($0.location.bytes)) })
        for (record, piece) in zip(records, covering) {
            let from = max(at, piece.start) - piece.start
            let to = min(end, piece.start + record.count) - piece.start
            bytes += record[from..<to]
            at = piece.start + to
        }
        precondition(bytes.count == length, "the records of a snapshot's transfer ran out at \(at) of \(end)")
        return bytes
    }
}

/// The follower's side: takes a transfer's bytes in order, keeps the file in memory and
/// writes each record to the message store where the transferred state says it goes. Once
/// the last byte is in, the snapshot and its state are ready to install.
final class SnapshotTransferWriter {
    let metadata: SnapshotMetadata
    let totalBytes: Int
    private let store: MessageStore
    private let limits: BrokerLimits
    private let filePath: String
    private var received = 0
    private var head: [UInt8] = []
    private var fileBytes: Int?
    private var file: [UInt8] = []
    private var snapshot: EncodedSnapshot?
    private var state: BrokerState?
    private var cursor: BrokerState.RecordCursor?
    private var record: (location: RecordLocation, bytes: [UInt8])?

    /// `filePath`: where the snapshot's file will be, named in errors.
    init(metadata: SnapshotMetadata, totalBytes: Int, store: MessageStore, limits: BrokerLimits, filePath: String) {
        self.metadata = metadata
        self.totalBytes = totalBytes
        self.store = store
        self.limits = limits
        self.filePath = filePath
    }

    var isComplete: Bool { received == totalBytes }

    /// Takes the next bytes of the transfer; MUST be given them in order. Bytes it has
    /// taken already are passed over: a retry after the disk was full goes on where the
    /// failed write left off.
    func take(_ piece: SnapshotPiece) throws {
        precondition(piece.metadata == metadata && piece.offset <= received, "transfer bytes out of order")
        if let pending = record, pending.bytes.count == Int(pending.location.bytes) { try write(pending) }
        guard piece.offset + piece.bytes.count > received else { return }
        var bytes = piece.bytes[(received - piece.offset)...]
        while !bytes.isEmpty {
            if fileBytes == nil {
                let taken = bytes.prefix(SnapshotTransfer.headerBytes - head.count)
                head += taken
                bytes = bytes.dropFirst(taken.count)
                received += taken.count
                if head.count == SnapshotTransfer.headerBytes {
                    guard let length = SnapshotTransfer.fileBytes(inHeader: head[...]) else { throw SnapshotTransfer.Failure.badHeader }
                    fileBytes = length
                    file.reserveCapacity(length)
                }
                continue
            }
            if snapshot == nil, let length = fileBytes {
                let taken = bytes.prefix(length - file.count)
                file += taken
                bytes = bytes.dropFirst(taken.count)
                received += taken.count
                if file.count == length { try decodeState() }
                continue
            }
            guard var next = record ?? nextRecord() else {
                throw SnapshotTransfer.Failure.lengthMismatch(expected: received, got: totalBytes)
            }
            let taken = bytes.prefix(Int(next.location.bytes) - next.bytes.count)
            next.bytes += taken
            bytes = bytes.dropFirst(taken.count)
            received += taken.count
            record = next
            if next.bytes.count == Int(next.location.bytes) { try write(next) }
        }
        if isComplete, record != nil || nextRecord() != nil {
            throw SnapshotTransfer.Failure.lengthMismatch(expected: totalBytes + 1, got: totalBytes)
        }
    }

    /// Writes a whole record where the state puts it.
    private func write(_ whole: (location: RecordLocation, bytes: [UInt8])) throws {
        guard MessageRecord.isIntact(whole.bytes) else { throw SnapshotTransfer.Failure.recordDamaged(whole.location) }
        try store.write(store: whole.location.store, position: whole.location.position, record: whole.bytes)
        record = nil
    }

    /// The snapshot received and its state, once complete.
    func finish() -> (snapshot: EncodedSnapshot, state: BrokerState)? {
        guard isComplete, let snapshot, let state else { return nil }
        return (snapshot, state)
    }

    private func decodeState() throws {
        let encoded: EncodedSnapshot
        do { encoded = try EncodedSnapshot(fileBytes: file, path: filePath) } catch { throw SnapshotTransfer.Failure.fileRefused(error) }
        guard encoded.snapshot.metadata == metadata else { throw SnapshotTransfer.Failure.fileRefused(.corruptFile(path: filePath, reason: "another snapshot's file")) }
        var restored = BrokerState(limits: limits)
        do { try restored.restore(from: encoded.snapshot.data) } catch { throw SnapshotTransfer.Failure.stateRefused(error) }
        let expected = SnapshotTransfer.headerBytes + file.count + restored.recordBytes
        guard expected == totalBytes else { throw SnapshotTransfer.Failure.lengthMismatch(expected: expected, got: totalBytes) }
        snapshot = encoded
        state = restored
        cursor = BrokerState.RecordCursor(restored)
        file = []
    }

    private func nextRecord() -> (location: RecordLocation, bytes: [UInt8])? {
        guard let state, cursor != nil, let location = cursor!.next(in: state) else { return nil }
        return (location, [])
    }
}
