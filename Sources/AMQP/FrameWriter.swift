import NIOCore

/// Encodes frames into bytes: the inverse of `FrameParser`.
public enum FrameWriter {
    /// Appends `frame`, header to frame-end octet, to `buffer`.
    ///
    /// Fails with 502 SYNTAX_ERROR when a field cannot be encoded (a shortstr longer than
    /// 255 bytes, tables nested deeper than `FieldTable.nestingDepthMax`); `buffer` is
    /// then left as it was. The frame is not checked against a frame-max: split bodies
    /// with `bodyFrames(channel:body:frameSizeMax:)`.
    public static func writeFrame(_ frame: Frame, into buffer: inout ByteBuffer) throws(AMQPError) {
        let start = buffer.writerIndex
        buffer.writeInteger(frame.type.rawValue)
        buffer.writeInteger(frame.channel)
        let sizeIndex = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        do throws(AMQPError) {
            switch frame {
            case .method(_, let method):
                try method.encode(into: &buffer)
            case .header(_, let header):
                try header.encode(into: &buffer)
            case .body(_, let body):
                buffer.writeImmutableBuffer(body)
            case .heartbeat:
                break
            }
        } catch {
            buffer.moveWriterIndex(to: start)
            throw error
        }
        let payloadSize = buffer.writerIndex - sizeIndex - 4
        precondition(payloadSize <= UInt32.max, "a frame payload holds at most 4 GiB, got \(payloadSize) bytes")
        buffer.setInteger(UInt32(payloadSize), at: sizeIndex)
        buffer.writeInteger(Frame.endOctet)
    }

    /// `frames` encoded one after another into one buffer; fails as `writeFrame(_:into:)`.
    public static func encoded(_ frames: [Frame], allocator: ByteBufferAllocator) throws(AMQPError) -> ByteBuffer {
        // Room for the bodies and a little for each method and header; the buffer grows past it.
        let bytes = frames.reduce(0) { total, frame in
            if case .body(_, let body) = frame { return total + body.readableBytes + Frame.overheadSize }
            return total + 128
        }
        var buffer = allocator.buffer(capacity: bytes)
        for frame in frames { try writeFrame(frame, into: &buffer) }
        return buffer
    }

    /// The body frames that carry `body` on `channel` when frames may be at most
    /// `frameSizeMax` bytes: slices of `body` (no copy) of at most `frameSizeMax` − 8
    /// bytes each. An empty body takes no frame.
    public static func bodyFrames(channel: UInt16, body: ByteBuffer, frameSizeMax: UInt32) -> [Frame] {
        precondition(frameSizeMax >= Frame.sizeMin, "frame-max \(frameSizeMax) < \(Frame.sizeMin)")
        let partSizeMax = Int(frameSizeMax) - Frame.overheadSize
        var rest = body
        var frames: [Frame] = []
        frames.reserveCapacity((rest.readableBytes + partSizeMax - 1) / partSizeMax)
        while rest.readableBytes > 0 {
            let part = rest.readSlice(length: min(partSizeMax, rest.readableBytes))!
            frames.append(.body(channel: channel, part))
        }
        return frames
    }

    /// Appends a whole message on `channel`: the content-bearing method, a content header
    /// with the body size and `properties`, and `body` in frames that fit `frameSizeMax`.
    ///
    /// On failure (see `writeFrame(_:into:)`) `buffer` is left as it was.
    public static func writeContent(
        channel: UInt16,
        method: ContentMethod,
        properties: BasicProperties,
        body: ByteBuffer,
        frameSizeMax: UInt32,
        into buffer: inout ByteBuffer
    ) throws(AMQPError) {
        let partSizeMax = try writeContentStart(channel: channel, method: method, properties: properties,
                                                bodySize: body.readableBytes, frameSizeMax: frameSizeMax, into: &buffer)
        var rest = body
        while rest.readableBytes > 0 {
            let part = rest.readSlice(length: min(partSizeMax, rest.readableBytes))!
            writeBodyFrame(channel: channel, bytes: part.readableBytes, into: &buffer) { $0.writeImmutableBuffer(part) }
        }
    }

    /// The same, for a body held as bytes: they are copied once, into `buffer`.
    public static func writeContent(
        channel: UInt16,
        method: ContentMethod,
        properties: BasicProperties,
        body: [UInt8],
        frameSizeMax: UInt32,
        into buffer: inout ByteBuffer
    ) throws(AMQPError) {
        let partSizeMax = try writeContentStart(channel: channel, method: method, properties: properties,
                                                bodySize: body.count, frameSizeMax: frameSizeMax, into: &buffer)
        var start = 0
        while start < body.count {
            let end = min(start + partSizeMax, body.count)
            writeBodyFrame(channel: channel, bytes: end - start, into: &buffer) { $0.writeBytes(body[start..<end]) }
            start = end
        }
    }

    /// Appends the method and the content header; returns the most body bytes a frame holds.
    private static func writeContentStart(
        channel: UInt16, method: ContentMethod, properties: BasicProperties, bodySize: Int, frameSizeMax: UInt32,
        into buffer: inout ByteBuffer
    ) throws(AMQPError) -> Int {
        precondition(frameSizeMax >= Frame.sizeMin, "frame-max \(frameSizeMax) < \(Frame.sizeMin)")
        let start = buffer.writerIndex
        let header = ContentHeader(classID: method.classID, bodySize: UInt64(bodySize), properties: properties)
        do throws(AMQPError) {
            try Self.writeFrame(.method(channel: channel, method.method), into: &buffer)
            try Self.writeFrame(.header(channel: channel, header), into: &buffer)
        } catch {
            buffer.moveWriterIndex(to: start)
            throw error
        }
        return Int(frameSizeMax) - Frame.overheadSize
    }

    /// Appends one body frame of `bytes` bytes, which `writePart` appends; unlike other
    /// frames it cannot fail to encode.
    private static func writeBodyFrame(channel: UInt16, bytes: Int, into buffer: inout ByteBuffer, _ writePart: (inout ByteBuffer) -> Void) {
        precondition(bytes <= UInt32.max, "a frame payload holds at most 4 GiB")
        buffer.writeInteger(FrameType.body.rawValue)
        buffer.writeInteger(channel)
        buffer.writeInteger(UInt32(bytes))
        writePart(&buffer)
        buffer.writeInteger(Frame.endOctet)
    }
}
