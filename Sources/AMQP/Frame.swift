import NIOCore

// The AMQP module: a pure AMQP 0-9-1 codec (RabbitMQ's dialect), with no I/O, clock or
// threads. Bytes become `Frame`s in `FrameParser`; one `ContentAssembler` per channel
// turns frames into `AssembledMethod`s (a method, with its content header and body when
// it carries content); `FrameWriter` turns frames back into bytes. `AMQPFrameDecoder` and
// `AMQPFrameEncoder` are the thin NIO handlers around them. Bad input is an `AMQPError`
// carrying the reply code to close with, never a crash.
//
// Glossary (one word, one meaning):
// - frame: the unit on the wire: a method, content header, content body or heartbeat.
// - method: a frame's decoded command, e.g. basic.publish (`Method`).
// - content: the content header and the body frames that follow a content-bearing method.
// - body: the message bytes that content body frames carry (`MessageBody`).
// - channel: the 16-bit number multiplexing a connection; 0 is the connection itself.
// - frame-max: the largest frame in bytes, the 8 bytes of header and frame end included.

/// One AMQP 0-9-1 frame (amqp0-9-1 §4.2.3): a 7-byte header (type octet, channel short,
/// payload size long), the payload, and the frame-end octet 0xCE.
public enum Frame: Hashable, Sendable {
    /// A method frame.
    case method(channel: UInt16, Method)
    /// A content header frame.
    case header(channel: UInt16, ContentHeader)
    /// A content body frame. The payload is a slice of the bytes read, not a copy.
    case body(channel: UInt16, ByteBuffer)
    /// A heartbeat frame (always on channel 0, with an empty payload).
    case heartbeat

    /// The channel the frame travels on.
    public var channel: UInt16 {
        switch self {
        case .method(let channel, _), .header(let channel, _), .body(let channel, _): channel
        case .heartbeat: 0
        }
    }

    /// The frame type octet.
    public var type: FrameType {
        switch self {
        case .method: .method
        case .header: .header
        case .body: .body
        case .heartbeat: .heartbeat
        }
    }

    /// Header (7 bytes) and frame-end (1 byte): what a frame adds to its payload.
    public static let overheadSize = 8
    /// The size of the frame header: type, channel, payload size.
    public static let headerSize = 7
    /// The octet that ends every frame.
    public static let endOctet: UInt8 = 0xCE
    /// The smallest frame-max a peer may negotiate (the spec's frame-min-size). Frames
    /// up to this size are accepted before tuning.
    public static let sizeMin: UInt32 = 4096
}

/// The frame type octet.
public enum FrameType: UInt8, Hashable, Sendable {
    case method = 1
    case header = 2
    case body = 3
    case heartbeat = 8
}
