import NIOCore

/// The NIO decoder: loops over a `FrameParser`, after reading the protocol header first
/// when it is the server's.
///
/// On the server side it emits the client's protocol header, whatever it is, as
/// `.protocolHeader`; when that is not `ProtocolHeader.amqp091` the server writes the
/// right one and closes, and the decoder ignores any further bytes. When it passes a
/// `connection.tune-ok` (server side) or `connection.tune` (client side), it lowers the
/// parser's limits with `FrameParser.applyTuning`.
public struct AMQPFrameDecoder: ByteToMessageDecoder {
    /// What the decoder emits.
    public enum Inbound: Hashable, Sendable {
        /// The protocol header the client sent (server side only, and only first).
        case protocolHeader(ProtocolHeader)
        /// A frame.
        case frame(Frame)
    }

    public typealias InboundOut = Inbound

    /// Which end of the connection the decoder reads for.
    public enum Role: Hashable, Sendable {
        /// Reads what a client sends: a protocol header, then frames.
        case server
        /// Reads what a server sends: frames only.
        case client
    }

    private enum State {
        case awaitingProtocolHeader
        case parsingFrames
        /// A wrong protocol header came; the connection is being closed.
        case discarding
    }

    private let role: Role
    private var state: State
    private var parser: FrameParser

    /// - Parameters:
    ///   - frameSizeMax: the frame-max this side proposes (its ceiling before and after tuning).
    ///   - channelMax: the channel-max this side proposes.
    public init(
        role: Role,
        frameSizeMax: UInt32 = FrameParser.frameSizeMaxDefault,
        channelMax: UInt16 = FrameParser.channelMaxDefault
    ) {
        self.role = role
        self.state = role == .server ? .awaitingProtocolHeader : .parsingFrames
        self.parser = FrameParser(
            frameSizeMax: frameSizeMax, channelMax: channelMax, oversizeAllowance: role == .server ? UInt32(Frame.overheadSize) : 0)
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        switch self.state {
        case .awaitingProtocolHeader:
            guard let header = ProtocolHeader.read(from: &buffer) else {
                return .needMoreData
            }
            self.state = header.isAMQP091 ? .parsingFrames : .discarding
            context.fireChannelRead(Self.wrapInboundOut(.protocolHeader(header)))
            return .continue
        case .parsingFrames:
            guard let frame = try self.parser.parseFrame(from: &buffer) else {
                return .needMoreData
            }
            self.tune(after: frame)
            context.fireChannelRead(Self.wrapInboundOut(.frame(frame)))
            return .continue
        case .discarding:
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        while try self.decode(context: context, buffer: &buffer) == .continue {}
        // A partial frame at the end of the stream is dropped with the connection.
        return .needMoreData
    }

    private mutating func tune(after frame: Frame) {
        switch (self.role, frame) {
        case (.server, .method(0, .connection(.tuneOk(let tune)))):
            self.parser.applyTuning(channelMax: tune.channelMax, frameSizeMax: tune.frameMax)
        case (.client, .method(0, .connection(.tune(let tune)))):
            self.parser.applyTuning(channelMax: tune.channelMax, frameSizeMax: tune.frameMax)
        case (.server, _), (.client, _):
            break
        }
    }
}
