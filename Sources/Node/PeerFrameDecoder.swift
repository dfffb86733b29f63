import NIOCore
import PeerWire

/// Splits the byte stream into peer frames, refusing an oversized one from its prefix. The
/// first frames, the handshake's hello and proof, may be only
/// `PeerFrame.handshakeFrameBytesMax` long: nothing larger is buffered from a connection
/// that has not proved itself.
struct PeerFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = PeerFrame
    let limits: PeerWireLimits
    private var framesDecoded = 0

    init(limits: PeerWireLimits) {
        self.limits = limits
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let announced = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self) else { return .needMoreData }
        var limits = self.limits
        if framesDecoded < PeerFrame.handshakeFrames { limits.frameBytesMax = min(limits.frameBytesMax, PeerFrame.handshakeFrameBytesMax) }
        let length = try PeerFrame.payloadLength(announced: announced, limits: limits)
        guard buffer.readableBytes >= PeerFrame.lengthPrefixBytes + length else {
            if framesDecoded >= PeerFrame.handshakeFrames { context.fireUserInboundEventTriggered(PeerFrameArriving()) }
            return .needMoreData
        }
        buffer.moveReaderIndex(forwardBy: PeerFrame.lengthPrefixBytes)
        let payload = buffer.readSlice(length: length)!
        framesDecoded += 1
        context.fireChannelRead(Self.wrapInboundOut(try PeerFrame(payload: payload, limits: limits)))
        return .continue
    }
}

/// More of a frame came, not yet all of it: the peer is alive and sending (one large
/// entry can take longer to arrive than an election timeout on a slow machine).
struct PeerFrameArriving {}
