/// Reads what `ByteWriter` wrote, checking every length against the bytes left, so a
/// hostile count cannot make it allocate or loop beyond the input's size.
struct ByteReader {
    private let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    var remaining: Int { bytes.count - offset }

    mutating func byte() throws(BrokerCodecError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated(offset: offset) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func bool() throws(BrokerCodecError) -> Bool {
        let at = offset
        switch try byte() {
        case 0: return false
        case 1: return true
        case let other: throw .invalidValue("bool \(other)", offset: at)
        }
    }

    mutating func varint() throws(BrokerCodecError) -> UInt64 {
        let at = offset
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let next = try byte()
            if shift == 63, next > 1 { throw .invalidValue("varint overflows 64 bits", offset: at) }
            value |= UInt64(next & 0x7F) << shift
            if next & 0x80 == 0 { return value }
            shift += 7
            if shift > 63 { throw .invalidValue("varint longer than 10 bytes", offset: at) }
        }
    }

    mutating func signed() throws(BrokerCodecError) -> Int64 {
        let raw = try varint()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// A count of items that each take at least `minimumBytes`: refused if the input could
    /// not possibly hold that many.
    mutating func count(minimumBytes: Int = 1, max: Int = .max) throws(BrokerCodecError) -> Int {
        let at = offset
        let raw = try varint()
        guard raw <= UInt64(Swift.max(remaining, 0) / Swift.max(minimumBytes, 1)) else { throw .truncated(offset: at) }
        guard raw <= UInt64(max) else { throw .limitExceeded("count \(raw) above \(max)", offset: at) }
        return Int(raw)
    }

    /// A number of things that are not in the bytes that follow (a chunk's messages, a
    /// segment's bytes on disk): bounded by `max` alone, where `count` weighs the bytes left.
    mutating func quantity(max: Int) throws(BrokerCodecError) -> Int {
        let at = offset
        let raw = try varint()
        guard raw <= UInt64(max) else { throw .limitExceeded("quantity \(raw) above \(max)", offset: at) }
        return Int(raw)
    }

    mutating func fixed32() throws(BrokerCodecError) -> UInt32 {
        guard remaining >= 4 else { throw .truncated(offset: offset) }
        var value: UInt32 = 0
        for i in 0..<4 { value |= UInt32(bytes[offset + i]) << UInt32(8 * i) }
        offset += 4
        return value
    }

    mutating func fixed64() throws(BrokerCodecError) -> UInt64 {
        guard remaining >= 8 else { throw .truncated(offset: offset) }
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(bytes[offset + i]) << UInt64(8 * i) }
        offset += 8
        return value
    }

    mutating func blob(max: Int = .max) throws(BrokerCodecError) -> [UInt8] {
        let length = try count(max: max)
        defer { offset += length }
        return Array(bytes[offset..<offset + length])
    }

    mutating func string(max: Int = .max) throws(BrokerCodecError) -> String {
        let at = offset
        let raw = try blob(max: max)
        guard let text = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8(offset: at) }
        return text
    }

    mutating func optional<T>(_ read: (inout ByteReader) throws(BrokerCodecError) -> T) throws(BrokerCodecError) -> T? {
        guard try bool() else { return nil }
        return try read(&self)
    }

    mutating func optionalString(max: Int = .max) throws(BrokerCodecError) -> String? {
        try optional { (reader: inout ByteReader) throws(BrokerCodecError) in try reader.string(max: max) }
    }

    mutating func array<T>(
        minimumBytes: Int = 1, max: Int = .max, _ read: (inout ByteReader) throws(BrokerCodecError) -> T
    ) throws(BrokerCodecError) -> [T] {
        let n = try count(minimumBytes: minimumBytes, max: max)
        var result: [T] = []
        result.reserveCapacity(n)
        for _ in 0..<n { result.append(try read(&self)) }
        return result
    }

    func finish() throws(BrokerCodecError) {
        guard remaining == 0 else { throw .trailingBytes(count: remaining) }
    }
}
