import Checksum
import Raft

/// One record of the shared write-ahead log: `[length u32][crc32c u32][sequence u64][group
/// u64][term u64][index u64][kind u8][data]`, the checksum covering the length and everything
/// after it. `sequence` numbers every record the node writes, across groups and segments, so
/// that recovery sees a lost or misplaced segment as a gap, never as a shorter history.
struct WALRecord: Equatable {
    enum Kind: Equatable {
        case entry(Entry.Kind)
        /// The group's log restarts after `index` (a snapshot received from the leader
        /// replaced it): every earlier record of the group is void.
        case restart
    }

    var sequence: UInt64
    var group: UInt64
    var term: Term
    var index: LogIndex
    var kind: Kind
    var data: [UInt8]

    /// length 4, crc32c 4.
    static let headerBytes = 8
    /// sequence 8, group 8, term 8, index 8, kind 1.
    static let fixedBytes = 33
    /// The kind byte of a restart marker, outside the range of entry kinds.
    static let restartKindByte: UInt8 = 0xFF

    var entry: Entry? {
        guard case .entry(let kind) = kind else { return nil }
        return Entry(term: term, index: index, kind: kind, data: data)
    }

    static func encode(sequence: UInt64, group: UInt64, term: Term, index: LogIndex, kindByte: UInt8, data: [UInt8], into buffer: inout [UInt8]) {
        let start = buffer.count
        buffer.appendLittleEndian(UInt32(fixedBytes + data.count))
        buffer.appendLittleEndian(UInt32(0))
        buffer.appendLittleEndian(sequence)
        buffer.appendLittleEndian(group)
        buffer.appendLittleEndian(term)
        buffer.appendLittleEndian(index)
        buffer.append(kindByte)
        buffer.append(contentsOf: data)
        let checksum = buffer.withUnsafeBytes { raw -> UInt32 in
            let lengthCRC = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[start..<start + 4]))
            return CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(start + 8)...]), continuing: lengthCRC)
        }
        withUnsafeBytes(of: checksum.littleEndian) { bytes in
            for i in 0..<4 { buffer[start + 4 + i] = bytes[i] }
        }
    }

    enum Decoded {
        case record(WALRecord, next: Int)
        /// `reachesEnd`: the bad record runs to the end of the bytes, as a torn write does.
        case invalid(String, reachesEnd: Bool)
    }

    /// Decodes the record at `offset`, checking its length against `dataBytesMax` before
    /// trusting it and its checksum before reading any field.
    static func decode(_ bytes: [UInt8], at offset: Int, dataBytesMax: Int) -> Decoded {
        var reader = ByteReader(bytes, offset: offset)
        guard let length = reader.read(UInt32.self), let checksum = reader.read(UInt32.self) else {
            return .invalid("record header cut short", reachesEnd: true)
        }
        let payloadBytes = Int(length)
        guard payloadBytes >= fixedBytes, payloadBytes <= fixedBytes + dataBytesMax else {
            return .invalid("record length \(length) out of range", reachesEnd: false)
        }
        let end = offset + headerBytes + payloadBytes
        guard end <= bytes.count else { return .invalid("record runs past the end of the file", reachesEnd: true) }
        let computed = bytes.withUnsafeBytes { raw -> UInt32 in
            let lengthCRC = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[offset..<offset + 4]))
            return CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[offset + 8..<end]), continuing: lengthCRC)
        }
        guard computed == checksum else { return .invalid("checksum mismatch", reachesEnd: end == bytes.count) }
        let sequence = reader.read(UInt64.self)!
        let group = reader.read(UInt64.self)!
        let term = reader.read(UInt64.self)!
        let index = reader.read(UInt64.self)!
        let kindByte = reader.read(UInt8.self)!
        let kind: Kind
        if kindByte == restartKindByte {
            kind = .restart
        } else if let entryKind = Entry.Kind(rawValue: kindByte) {
            kind = .entry(entryKind)
        } else {
            return .invalid("unknown record kind \(kindByte)", reachesEnd: false)
        }
        let data = Array(bytes[reader.offset..<end])
        return .record(WALRecord(sequence: sequence, group: group, term: term, index: index, kind: kind, data: data), next: end)
    }
}
