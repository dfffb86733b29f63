import NIOCore

/// A pure, incremental AMQP 0-9-1 frame parser: bytes in, `Frame`s out.
///
/// Call `parseFrame(from:)` with the bytes read so far; it returns a frame when a whole
/// one is there, or nil when it needs more bytes. It never consumes part of a frame: the
/// bytes of an incomplete frame stay in the buffer. The limits are checked as soon as
/// the 7-byte frame header is readable, so an oversized frame or a channel beyond
/// channel-max is rejected before its payload is waited for or buffered.
///
/// Body frames come out as slices of the buffer (no copy). Method and content header
/// payloads are decoded into values.
///
/// After it throws, the parser is failed: every later call throws the same error. The
/// connection must be closed with that error's reply code.
public struct FrameParser: Sendable {
    /// Where the parser is within the current frame.
    enum State: Sendable {
        /// Waiting for the 7 bytes of a frame header.
        case awaitingHeader
        /// The header at the reader index was checked; waiting for payload and frame end.
        case awaitingPayload(FrameHeader)
        /// An error was thrown; the stream cannot be resynchronised.
        case failed(AMQPError)
    }

    /// A frame header, checked against the limits.
    struct FrameHeader: Sendable {
        var type: FrameType
        var channel: UInt16
        var payloadSize: UInt32

        /// Header, payload and frame-end octet.
        var frameSize: Int {
            Frame.overheadSize + Int(self.payloadSize)
        }
    }

    /// RabbitMQ's default frame-max, 128 KiB.
    public static let frameSizeMaxDefault: UInt32 = 131_072
    /// RabbitMQ's default channel-max.
    public static let channelMaxDefault: UInt16 = 2047

    /// The largest frame accepted, in bytes, counting the 8 bytes of header and frame end
    /// (the spec's frame-max). At least `Frame.sizeMin`. A negotiated frame-max of 0
    /// means "no limit": pass `UInt32.max`. Adjust after `connection.tune-ok`.
    public var frameSizeMax: UInt32 {
        didSet {
            precondition(self.frameSizeMax >= Frame.sizeMin, "frame-max \(self.frameSizeMax) < \(Frame.sizeMin)")
        }
    }

    /// Bytes a frame may run over `frameSizeMax` and still be taken. A server is lenient by
    /// an empty frame's size (`Frame.overheadSize`), as RabbitMQ is: many clients count
    /// frame-max as the payload's bound, not the whole frame's.
    public let oversizeAllowance: UInt32

    /// The highest channel number accepted (channel 0 is always accepted). A negotiated
    /// channel-max of 0 means "no limit": pass `UInt16.max`. Adjust after
    /// `connection.tune-ok`.
    public var channelMax: UInt16

    private(set) var state: State = .awaitingHeader

    public init(
        frameSizeMax: UInt32 = FrameParser.frameSizeMaxDefault,
        channelMax: UInt16 = FrameParser.channelMaxDefault,
        oversizeAllowance: UInt32 = 0
    ) {
        precondition(frameSizeMax >= Frame.sizeMin, "frame-max \(frameSizeMax) < \(Frame.sizeMin)")
        self.frameSizeMax = frameSizeMax
        self.channelMax = channelMax
        self.oversizeAllowance = oversizeAllowance
    }

    /// Lowers the limits to those negotiated in `connection.tune-ok` (the server's parser)
    /// or proposed in `connection.tune` (the client's): each becomes the smaller of its
    /// current value and the peer's, where the peer's 0 means "no limit" and a frame-max
    /// below `Frame.sizeMin` counts as `Frame.sizeMin`. Never raises a limit, so a peer
    /// cannot talk its way past what this side proposed; whether the peer's values were
    /// acceptable at all is for the connection to judge.
    public mutating func applyTuning(channelMax: UInt16, frameSizeMax: UInt32) {
        if channelMax != 0 {
            self.channelMax = min(self.channelMax, channelMax)
        }
        if frameSizeMax != 0 {
            self.frameSizeMax = min(self.frameSizeMax, max(frameSizeMax, Frame.sizeMin))
        }
    }

    /// Parses the next frame from `buffer`.
    ///
    /// - Returns: the frame, with its bytes consumed; or nil when `buffer` does not yet
    ///   hold a whole frame, with nothing consumed.
    /// - Throws: `AMQPError` for a frame that breaks the protocol.
    public mutating func parseFrame(from buffer: inout ByteBuffer) throws(AMQPError) -> Frame? {
        switch self.state {
        case .failed(let error):
            throw error
        case .awaitingHeader:
            guard let header = try self.checkedHeader(peekingAt: buffer) else {
                return nil
            }
            self.state = .awaitingPayload(header)
            return try self.parsePayload(of: header, from: &buffer)
        case .awaitingPayload(let header):
            return try self.parsePayload(of: header, from: &buffer)
        }
    }

    /// Reads and checks the frame header at the reader index without consuming it.
    private mutating func checkedHeader(peekingAt buffer: ByteBuffer) throws(AMQPError) -> FrameHeader? {
        guard
            let typeOctet = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
            let channel = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt16.self),
            let payloadSize = buffer.getInteger(at: buffer.readerIndex + 3, as: UInt32.self)
        else {
            return nil
        }
        guard let type = FrameType(rawValue: typeOctet) else {
            throw self.fail(.frameTypeUnknown(typeOctet))
        }
        guard UInt64(payloadSize) + UInt64(Frame.overheadSize) <= UInt64(self.frameSizeMax) + UInt64(self.oversizeAllowance) else {
            throw self.fail(.frameTooLarge(payloadSize: payloadSize, frameSizeMax: self.frameSizeMax))
        }
        guard channel <= self.channelMax else {
            throw self.fail(.channelOutOfRange(channel: channel, channelMax: self.channelMax))
        }
        switch type {
        case .heartbeat:
            guard channel == 0, payloadSize == 0 else {
                throw self.fail(.heartbeatInvalid(channel: channel, payloadSize: payloadSize))
            }
        case .header, .body:
            guard channel != 0 else {
                throw self.fail(.unexpectedFrame(.contentOnChannelZero, channel: channel))
            }
        case .method:
            break
        }
        return FrameHeader(type: type, channel: channel, payloadSize: payloadSize)
    }

    /// Consumes and decodes the frame whose header was checked, once all of it is there.
    private mutating func parsePayload(of header: FrameHeader, from buffer: inout ByteBuffer) throws(AMQPError)
        -> Frame?
    {
        guard buffer.readableBytes >= header.frameSize else {
            return nil
        }
        let endOctet = buffer.getInteger(at: buffer.readerIndex + header.frameSize - 1, as: UInt8.self)!
        guard endOctet == Frame.endOctet else {
            throw self.fail(.frameEndInvalid(endOctet))
        }
        buffer.moveReaderIndex(forwardBy: Frame.headerSize)
        var payload = buffer.readSlice(length: Int(header.payloadSize))!
        buffer.moveReaderIndex(forwardBy: 1)
        self.state = .awaitingHeader

        do throws(AMQPError) {
            return try Self.decode(payload: &payload, of: header)
        } catch {
            throw self.fail(error)
        }
    }

    private static func decode(payload: inout ByteBuffer, of header: FrameHeader) throws(AMQPError) -> Frame {
        switch header.type {
        case .method:
            let method = try Method.decode(from: &payload)
            guard method.isConnectionMethod == (header.channel == 0) else {
                throw AMQPError.methodOnWrongChannel(method.id, channel: header.channel)
            }
            return .method(channel: header.channel, method)
        case .header:
            return .header(channel: header.channel, try ContentHeader.decode(from: &payload, channel: header.channel))
        case .body:
            return .body(channel: header.channel, payload)
        case .heartbeat:
            return .heartbeat
        }
    }

    private mutating func fail(_ error: AMQPError) -> AMQPError {
        self.state = .failed(error)
        return error
    }
}
