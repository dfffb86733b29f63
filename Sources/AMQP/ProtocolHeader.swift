import NIOCore

/// The 8 bytes a client sends first: "AMQP", then protocol id 0 and version 0-9-1
/// (amqp0-9-1 §4.2.2).
///
/// A server that does not accept what it received answers with `ProtocolHeader.amqp091`
/// and closes the socket; it sends no `connection.close`.
public struct ProtocolHeader: Hashable, Sendable, CustomStringConvertible {
    /// The bytes received: 8 of them, or fewer when they stopped matching "AMQP" early.
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// "AMQP" 0 0 9 1.
    public static let amqp091 = ProtocolHeader(bytes: [0x41, 0x4D, 0x51, 0x50, 0, 0, 9, 1])

    /// The header's size on the wire.
    public static let size = 8

    /// True for exactly the AMQP 0-9-1 header.
    public var isAMQP091: Bool {
        self == Self.amqp091
    }

    /// Reads a protocol header from the front of `buffer`.
    ///
    /// Returns nil, consuming nothing, while fewer than 8 bytes are readable and those
    /// still begin like "AMQP". Otherwise consumes and returns what was received: all 8
    /// bytes, or the prefix that already differs from "AMQP" (say an HTTP request), so
    /// the server answers at once instead of waiting for bytes that may never come.
    /// Check `isAMQP091` on the result.
    public static func read(from buffer: inout ByteBuffer) -> ProtocolHeader? {
        let available = buffer.readableBytesView.prefix(Self.size)
        let nameSize = 4
        for (offset, byte) in available.prefix(nameSize).enumerated() where byte != Self.amqp091.bytes[offset] {
            return ProtocolHeader(bytes: buffer.readBytes(length: offset + 1)!)
        }
        guard available.count == Self.size else {
            return nil
        }
        return ProtocolHeader(bytes: buffer.readBytes(length: Self.size)!)
    }

    /// Appends the header's bytes to `buffer`.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeBytes(self.bytes)
    }

    public var description: String {
        self.bytes.map { byte in
            (0x20..<0x7F).contains(byte) ? String(UnicodeScalar(byte)) : "\\\(byte)"
        }.joined()
    }
}
