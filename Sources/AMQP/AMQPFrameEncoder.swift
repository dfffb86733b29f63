import NIOCore

/// The NIO encoder: writes protocol headers and frames with `FrameWriter`.
public struct AMQPFrameEncoder: MessageToByteEncoder {
    /// What the encoder takes.
    public enum Outbound: Hashable, Sendable {
        /// A protocol header: the client's opening, or a server's answer to a wrong one.
        case protocolHeader(ProtocolHeader)
        /// A frame.
        case frame(Frame)
        /// Frames already encoded with `FrameWriter` (a whole message, say), written as they are.
        case encoded(ByteBuffer)
    }

    public typealias OutboundIn = Outbound

    public init() {}

    public func encode(data: Outbound, out: inout ByteBuffer) throws {
        switch data {
        case .protocolHeader(let header):
            header.write(into: &out)
        case .frame(let frame):
            try FrameWriter.writeFrame(frame, into: &out)
        case .encoded(let bytes):
            out.writeImmutableBuffer(bytes)
        }
    }
}
