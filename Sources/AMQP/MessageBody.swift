import NIOCore

/// A message body as it arrived: the payloads of its body frames, as slices of the bytes
/// read (no copy).
///
/// At most `partsMax` parts are kept as slices. A body sent in more frames than that
/// (a client with a tiny frame-max, or a hostile one sending one-byte frames) has its
/// remaining parts copied into the last part, so a body never holds more than
/// `partsMax` slices, each of which may pin a read buffer in memory.
///
/// Equality compares the bytes, not how they were split.
public struct MessageBody: Sendable {
    /// The most slices kept. 256 covers 32 MiB in frames of RabbitMQ's default
    /// frame-max (128 KiB), and 1 MiB at the minimum frame-max (4 KiB).
    public static let partsMax = 256

    /// The parts, in order; none is empty.
    public private(set) var parts: [ByteBuffer]

    /// The total size of the parts in bytes.
    public private(set) var byteCount: Int

    /// An empty body.
    public init() {
        self.parts = []
        self.byteCount = 0
    }

    /// A body of one part.
    public init(_ buffer: ByteBuffer) {
        self.init()
        self.append(buffer, bytesStillExpected: 0)
    }

    /// Appends `part`; `bytesStillExpected` (after this part) sizes the copy buffer when
    /// the parts limit is reached.
    mutating func append(_ part: ByteBuffer, bytesStillExpected: Int) {
        guard part.readableBytes > 0 else {
            return
        }
        self.byteCount += part.readableBytes
        guard self.parts.count == Self.partsMax else {
            self.parts.append(part)
            return
        }
        let last = self.parts.count - 1
        self.parts[last].reserveCapacity(minimumWritableBytes: part.readableBytes + bytesStillExpected)
        self.parts[last].writeImmutableBuffer(part)
    }

    /// The body as one buffer: the single part itself when there is one (no copy), else
    /// a copy of all parts.
    public func collected() -> ByteBuffer {
        switch self.parts.count {
        case 0:
            return ByteBuffer()
        case 1:
            return self.parts[0]
        default:
            var buffer = ByteBufferAllocator().buffer(capacity: self.byteCount)
            for part in self.parts {
                buffer.writeImmutableBuffer(part)
            }
            return buffer
        }
    }
}

extension MessageBody {
    /// The body's bytes in one array, copied once from the parts.
    public func bytes() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: byteCount) { destination, initialized in
            for part in parts {
                part.withUnsafeReadableBytes { source in
                    UnsafeMutableRawBufferPointer(destination).baseAddress!.advanced(by: initialized).copyMemory(from: source.baseAddress!, byteCount: source.count)
                    initialized += source.count
                }
            }
        }
    }
}

extension MessageBody: Hashable {
    public static func == (lhs: MessageBody, rhs: MessageBody) -> Bool {
        guard lhs.byteCount == rhs.byteCount else {
            return false
        }
        return lhs.parts.lazy.flatMap(\.readableBytesView).elementsEqual(rhs.parts.lazy.flatMap(\.readableBytesView))
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.byteCount)
        for part in self.parts {
            part.withUnsafeReadableBytes { hasher.combine(bytes: $0) }
        }
    }
}
