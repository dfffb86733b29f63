import NIOCore

/// Little-endian encoding into a byte buffer, for peer frames: the buffer is what the
/// socket is given, so a body is copied into a frame once and not again to send it.
struct WireWriter {
    private(set) var buffer: ByteBuffer

    init(capacity: Int = 64) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    /// A copy of what was written, as an array (small frames and tests).
    var bytes: [UInt8] { Array(buffer.readableBytesView) }

    var count: Int { buffer.readableBytes }

    mutating func u8(_ value: UInt8) { buffer.writeInteger(value) }
    mutating func bool(_ value: Bool) { buffer.writeInteger(value ? 1 : 0 as UInt8) }

    mutating func u16(_ value: UInt16) { buffer.writeInteger(value, endianness: .little) }
    mutating func u32(_ value: UInt32) { buffer.writeInteger(value, endianness: .little) }
    mutating func u64(_ value: UInt64) { buffer.writeInteger(value, endianness: .little) }

    /// A length (u32) and the bytes.
    mutating func blob(_ value: [UInt8]) {
        u32(UInt32(value.count))
        buffer.writeBytes(value)
    }

    mutating func raw(_ value: [UInt8]) {
        buffer.writeBytes(value)
    }

    mutating func reserve(additional: Int) {
        buffer.reserveCapacity(minimumWritableBytes: additional)
    }

    /// Overwrites four bytes already written (a length or count known only at the end).
    mutating func setU32(_ value: UInt32, at offset: Int) {
        buffer.setInteger(value, at: buffer.readerIndex + offset, endianness: .little)
    }

    /// Drops what was written after `count` bytes, keeping the capacity.
    mutating func truncate(to count: Int) {
        buffer.moveWriterIndex(to: buffer.readerIndex + count)
    }
}

/// The reading side; every read checks what is left, so garbage is an error, never a crash.
struct WireReader {
    private var buffer: ByteBuffer

    /// Reads a frame's payload where it was received: a body is copied out of it once.
    init(_ buffer: ByteBuffer) {
        self.buffer = buffer
    }

    var remaining: Int { buffer.readableBytes }

    mutating func u8() throws(PeerWireError) -> UInt8 { try integer(UInt8.self) }

    mutating func bool() throws(PeerWireError) -> Bool {
        switch try u8() {
        case 0: return false
        case 1: return true
        case let other: throw .invalid("boolean byte \(other)")
        }
    }

    mutating func u16() throws(PeerWireError) -> UInt16 { try integer(UInt16.self) }
    mutating func u32() throws(PeerWireError) -> UInt32 { try integer(UInt32.self) }
    mutating func u64() throws(PeerWireError) -> UInt64 { try integer(UInt64.self) }

    private mutating func integer<T: FixedWidthInteger>(_: T.Type) throws(PeerWireError) -> T {
        guard let value = buffer.readInteger(endianness: .little, as: T.self) else { throw .truncated }
        return value
    }

    /// A length-prefixed byte string of at most `max` bytes.
    mutating func blob(max: Int) throws(PeerWireError) -> [UInt8] {
        let count = Int(try u32())
        guard count <= max else { throw .tooLarge(count, max: max) }
        return try raw(count)
    }

    mutating func raw(_ count: Int) throws(PeerWireError) -> [UInt8] {
        guard count >= 0, let bytes = buffer.readBytes(length: count) else { throw .truncated }
        return bytes
    }

    /// A count of items that each take at least `itemBytesMin`: refused before allocating
    /// if the rest of the input could not hold them.
    mutating func count(max: Int, itemBytesMin: Int) throws(PeerWireError) -> Int {
        let count = Int(try u32())
        guard count <= max else { throw .tooLarge(count, max: max) }
        guard count * itemBytesMin <= remaining else { throw .truncated }
        return count
    }

    func expectEnd() throws(PeerWireError) {
        guard remaining == 0 else { throw .invalid("\(remaining) bytes after the end") }
    }
}

public enum PeerWireError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated
    case tooLarge(Int, max: Int)
    case unknownVersion(UInt8)
    case unknownKind(UInt8)
    case invalid(String)

    public var description: String {
        switch self {
        case .truncated: return "peer frame cut short"
        case .tooLarge(let size, let max): return "peer frame field of \(size) exceeds the limit of \(max)"
        case .unknownVersion(let version): return "unknown peer frame version \(version)"
        case .unknownKind(let kind): return "unknown peer frame kind \(kind)"
        case .invalid(let reason): return "invalid peer frame: \(reason)"
        }
    }
}
