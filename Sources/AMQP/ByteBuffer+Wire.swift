import NIOCore

// The 0-9-1 wire primitives (amqp0-9-1 §4.2.5): big-endian integers, shortstr (one
// length octet, at most 255 bytes of UTF-8) and longstr (four length octets, any bytes).
// Reads throw 502 SYNTAX_ERROR (with no method attached yet) instead of returning nil,
// so decoders read top to bottom with `try`.

extension ByteBuffer {
    mutating func readOctet() throws(AMQPError) -> UInt8 {
        try self.readWireInteger()
    }

    mutating func readShort() throws(AMQPError) -> UInt16 {
        try self.readWireInteger()
    }

    mutating func readLong() throws(AMQPError) -> UInt32 {
        try self.readWireInteger()
    }

    mutating func readLongLong() throws(AMQPError) -> UInt64 {
        try self.readWireInteger()
    }

    private mutating func readWireInteger<Integer: FixedWidthInteger>() throws(AMQPError) -> Integer {
        guard let value = self.readInteger(endianness: .big, as: Integer.self) else {
            throw AMQPError.syntaxError(.truncated, method: nil)
        }
        return value
    }

    /// Reads a shortstr, which must be valid UTF-8.
    mutating func readShortString() throws(AMQPError) -> String {
        let length = Int(try self.readOctet())
        guard self.readableBytes >= length else {
            throw AMQPError.syntaxError(.truncated, method: nil)
        }
        let string = self.withUnsafeReadableBytes { bytes in
            String(validating: UnsafeRawBufferPointer(rebasing: bytes.prefix(length)), as: UTF8.self)
        }
        guard let string else {
            throw AMQPError.syntaxError(.shortStringNotUTF8, method: nil)
        }
        self.moveReaderIndex(forwardBy: length)
        return string
    }

    /// Reads a longstr as owned bytes (it is small and often kept: mechanisms, responses,
    /// table values), so it does not pin the frame's buffer in memory.
    mutating func readLongString() throws(AMQPError) -> [UInt8] {
        let length = try self.readLong()
        guard let bytes = self.readBytes(length: Int(length)) else {
            throw AMQPError.syntaxError(.truncated, method: nil)
        }
        return bytes
    }

    /// Writes a shortstr; fails when its UTF-8 is longer than 255 bytes.
    mutating func writeShortString(_ string: String) throws(AMQPError) {
        let byteCount = string.utf8.count
        guard byteCount <= ShortString.byteCountMax else {
            throw AMQPError.syntaxError(.shortStringTooLong(byteCount: byteCount), method: nil)
        }
        self.writeInteger(UInt8(byteCount))
        self.writeString(string)
    }

    mutating func writeLongString(_ bytes: [UInt8]) {
        precondition(bytes.count <= UInt32.max, "a longstr holds at most 4 GiB, got \(bytes.count) bytes")
        self.writeInteger(UInt32(bytes.count))
        self.writeBytes(bytes)
    }

    /// Writes a 32-bit length placeholder, runs `body`, then sets the length to the number
    /// of bytes `body` wrote.
    mutating func writeLengthPrefixed32(_ body: (inout ByteBuffer) throws(AMQPError) -> Void) throws(AMQPError) {
        let lengthIndex = self.writerIndex
        self.writeInteger(UInt32(0))
        try body(&self)
        let length = self.writerIndex - lengthIndex - 4
        precondition(length <= UInt32.max, "a length-prefixed field holds at most 4 GiB, got \(length) bytes")
        self.setInteger(UInt32(length), at: lengthIndex)
    }
}
