import Checksum

/// How a queued message is kept on disk, in its queue's store: one record,
///
///     payload length u32 | crc32c u32 of the payload | payload
///
/// where the payload is a version byte, then the message (exchange, routing key,
/// properties, body) in the log's encoding; integers little-endian. The broker makes the
/// records and decides where each goes (`Queue.place`); the node writes them and reads them
/// back (`MessageReader`). Positions follow from the committed log alone, so every replica
/// holds the same record at the same position, and a snapshot names records by position.
public enum MessageRecord {
    /// The length and the checksum before the payload.
    public static let headerBytes = 8
    static let version: UInt8 = 1

    public static func encode(_ message: Message) -> [UInt8] {
        var payload = ByteWriter(capacity: headerBytes + message.body.count + 64)
        payload.fixed32(0)
        payload.fixed32(0)
        payload.byte(version)
        payload.message(message)
        let checksum = payload.bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[headerBytes...])) }
        payload.setFixed32(UInt32(payload.bytes.count - headerBytes), at: 0)
        payload.setFixed32(checksum, at: 4)
        return payload.bytes
    }

    /// Whether a record is whole: as long as its header says, and its checksum holds.
    public static func isIntact(_ record: [UInt8]) -> Bool {
        (try? check(record)) != nil
    }

    /// Throws unless the record is as long as its header says and its checksum holds.
    private static func check(_ record: [UInt8]) throws(BrokerCodecError) {
        guard record.count >= headerBytes else { throw .truncated(offset: record.count) }
        var length: UInt32 = 0
        var checksum: UInt32 = 0
        for i in 0..<4 {
            length |= UInt32(record[i]) << (8 * UInt32(i))
            checksum |= UInt32(record[4 + i]) << (8 * UInt32(i))
        }
        guard Int(length) == record.count - headerBytes else {
            throw .invalidValue("record of \(record.count) bytes says its payload is \(length)", offset: 0)
        }
        let computed = record.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[headerBytes...])) }
        guard computed == checksum else { throw .invalidValue("record checksum mismatch", offset: 4) }
    }

    /// The message a record holds. Throws on a record that is cut short, longer than its
    /// header says, fails its checksum, or does not decode: damage on disk.
    public static func decode(_ record: [UInt8], limits: BrokerLimits) throws(BrokerCodecError) -> Message {
        try check(record)
        var reader = ByteReader(Array(record[headerBytes...]))
        let version = try reader.byte()
        guard version == Self.version else { throw .unsupportedVersion(version) }
        let message = try reader.message(limits: limits)
        try reader.finish()
        return message
    }
}

/// Where one record is: the store of its queue, its position there, and its length.
public struct RecordLocation: Hashable, Sendable, CustomStringConvertible {
    /// The queue's store (`Queue.storeID`).
    public var store: UInt64
    public var position: UInt64
    public var bytes: UInt32

    public init(store: UInt64, position: UInt64, bytes: UInt32) {
        self.store = store
        self.position = position
        self.bytes = bytes
    }

    public var description: String { "store \(store) at \(position) (\(bytes) bytes)" }
}

/// A record the broker made, for the node to write before it applies the next command.
public struct RecordWrite: Equatable, Sendable {
    public var location: RecordLocation
    public var record: [UInt8]

    public init(location: RecordLocation, record: [UInt8]) {
        self.location = location
        self.record = record
    }
}

/// The records the broker had written, read back: the node's message store, read-only to
/// the broker. Applying reads a message only to dead-letter it. Every record a queue still
/// holds MUST be readable; a store that cannot read one is damaged, and the node stops.
public protocol MessageReader {
    func record(at location: RecordLocation) -> [UInt8]
}
