import NIOCore
import PeerWire

/// Splits the byte stream into peer frames, joining a long one's pieces (`PeerFramePieces`)
/// and refusing an oversized one from its prefix. The first frames, the handshake's hello
/// and proof, may be only `PeerFrame.handshakeFrameBytesMax` long and never in pieces:
/// nothing larger is buffered from a connection that has not proved itself.
struct PeerFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = PeerFrame
    let limits: PeerWireLimits
    private var framesDecoded = 0
    private var pieces = PieceAssembler()

    init(limits: PeerWireLimits) {
        self.limits = limits
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let prefix = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self) else { return .needMoreData }
        var limits = self.limits
        let handshaking = framesDecoded < PeerFrame.handshakeFrames
        if handshaking { limits.frameBytesMax = min(limits.frameBytesMax, PeerFrame.handshakeFrameBytesMax) }
        let announced = try PeerFramePieces.announced(prefix, limits: limits)
        guard buffer.readableBytes >= PeerFrame.lengthPrefixBytes + announced.length else {
            if !handshaking { context.fireUserInboundEventTriggered(PeerFrameArriving()) }
            return .needMoreData
        }
        buffer.moveReaderIndex(forwardBy: PeerFrame.lengthPrefixBytes)
        let bytes = buffer.readSlice(length: announced.length)!
        switch announced {
        case .frame:
            framesDecoded += 1
            context.fireChannelRead(Self.wrapInboundOut(try PeerFrame(payload: bytes, limits: limits)))
        case .piece(_, let last):
            guard !handshaking else { throw PeerWireError.invalid("a piece of a frame before the handshake") }
            if let payload = try pieces.add(bytes, last: last, limits: limits) {
                framesDecoded += 1
                context.fireChannelRead(Self.wrapInboundOut(try PeerFrame(payload: payload, limits: limits)))
            } else {
                context.fireUserInboundEventTriggered(PeerFrameArriving())
            }
        }
        return .continue
    }
}

/// More of a frame came, not yet all of it: the peer is alive and sending (one large
/// entry can take longer to arrive than an election timeout on a slow machine).
struct PeerFrameArriving {}
