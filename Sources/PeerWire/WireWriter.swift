/// Little-endian encoding into a byte array, for peer frames.
struct WireWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 64) {
        bytes.reserveCapacity(capacity)
    }

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }

    mutating func u16(_ value: UInt16) { integer(value) }
    mutating func u32(_ value: UInt32) { integer(value) }
    mutating func u64(_ value: UInt64) { integer(value) }

    private mutating func integer<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A length (u32) and the bytes.
    mutating func blob(_ value: [UInt8]) {
        u32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func raw(_ value: [UInt8]) {
        bytes.append(contentsOf: value)
    }
}

/// The reading side; every read checks what is left, so garbage is an error, never a crash.
struct WireReader {
    let bytes: [UInt8]
    private(set) var offset: Int

    init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }

    mutating func u8() throws(PeerWireError) -> UInt8 {
        guard remaining >= 1 else { throw .truncated }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func bool() throws(PeerWireError) -> Bool {
        switch try u8() {
        case 0: return false
        case 1: return true
        case let other: throw .invalid("boolean byte \(other)")
        }
    }

    mutating func u16() throws(PeerWireError) -> UInt16 { try integer() }
    mutating func u32() throws(PeerWireError) -> UInt32 { try integer() }
    mutating func u64() throws(PeerWireError) -> UInt64 { try integer() }

    private mutating func integer<T: FixedWidthInteger>() throws(PeerWireError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw .truncated }
        var value: T = 0
        for i in 0..<size { value |= T(bytes[offset + i]) << (8 * i) }
        offset += size
        return value
    }

    /// A length-prefixed byte string of at most `max` bytes.
    mutating func blob(max: Int) throws(PeerWireError) -> [UInt8] {
        let count = Int(try u32())
        guard count <= max else { throw .tooLarge(count, max: max) }
        return try raw(count)
    }

    mutating func raw(_ count: Int) throws(PeerWireError) -> [UInt8] {
        guard count >= 0, remaining >= count else { throw .truncated }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
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
