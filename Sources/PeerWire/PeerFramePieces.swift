import NIOCore
import Raft

/// A frame longer than `PeerFramePieces.pieceBytes` crosses a link in pieces, and frames
/// that may overtake it (`Message.mayOvertake`: heartbeats, votes, responses) go between
/// them, as AMQP's frame_max lets a heartbeat pass a large body. Without it a 20 MiB entry
/// holds every heartbeat behind it for as long as it takes to encrypt, send and read, and
/// the followers campaign against a leader that is only busy.
///
/// A piece's length prefix has bit 31 set, and bit 30 too on the frame's last piece; its
/// bytes are the next part of the frame's payload (what follows a whole frame's prefix).
/// Pieces of one frame come in order, one frame at a time; a prefix without bit 31 is a
/// whole frame, as before.
public enum PeerFramePieces {
    /// The most payload bytes in one piece, and the longest frame sent whole: about what a
    /// batch of appends takes (Raft's `appendBytesMax`), so that only a large entry goes in
    /// pieces, and a MiB is encrypted and written in about a millisecond.
    public static let pieceBytes = 1 << 20
    static let pieceBit: UInt32 = 1 << 31
    static let lastPieceBit: UInt32 = 1 << 30
    static let lengthBits: UInt32 = lastPieceBit - 1

    /// What a length prefix announces.
    public enum Announced: Equatable, Sendable {
        case frame(length: Int)
        case piece(length: Int, last: Bool)

        public var length: Int {
            switch self {
            case .frame(let length), .piece(let length, _): length
            }
        }
    }

    /// Reads a prefix (as received, little-endian), refusing at once a length over the limit.
    public static func announced(_ prefix: UInt32, limits: PeerWireLimits) throws(PeerWireError) -> Announced {
        guard prefix & pieceBit != 0 else { return .frame(length: try PeerFrame.payloadLength(announced: prefix, limits: limits)) }
        let length = Int(prefix & lengthBits)
        guard length > 0 else { throw .invalid("a piece of 0 bytes") }
        guard length <= limits.frameBytesMax else { throw .tooLarge(length, max: limits.frameBytesMax) }
        return .piece(length: length, last: prefix & lastPieceBit != 0)
    }

    /// Whether an encoded frame (with its length prefix) goes whole, not in pieces.
    public static func goesWhole(_ encoded: ByteBuffer) -> Bool {
        encoded.readableBytes - PeerFrame.lengthPrefixBytes <= pieceBytes
    }

    /// The prefix of a piece of `length` bytes (at most `pieceBytes`).
    static func prefix(length: Int, last: Bool) -> ByteBuffer {
        precondition(length > 0 && length <= pieceBytes)
        var buffer = ByteBuffer()
        buffer.writeInteger(pieceBit | (last ? lastPieceBit : 0) | UInt32(length), endianness: .little)
        return buffer
    }
}

/// An encoded frame on its way out, a piece at a time; a frame no longer than a piece goes
/// whole. Slices of the one encoded buffer: cutting copies no payload.
public struct OutgoingFrame: Sendable {
    private var payload: ByteBuffer
    private var wholeFrame: ByteBuffer?
    /// The frame's length with its prefix.
    public let encodedBytes: Int

    /// `encoded` as `PeerFrame` encodes it: with its length prefix.
    public init(encoded: ByteBuffer) {
        encodedBytes = encoded.readableBytes
        if PeerFramePieces.goesWhole(encoded) {
            wholeFrame = encoded
            payload = ByteBuffer()
        } else {
            wholeFrame = nil
            payload = encoded.getSlice(at: encoded.readerIndex + PeerFrame.lengthPrefixBytes,
                                       length: encoded.readableBytes - PeerFrame.lengthPrefixBytes)!
        }
    }

    public var isSent: Bool { wholeFrame == nil && payload.readableBytes == 0 }

    /// What to write next, in order: the whole frame, or a piece's prefix and its bytes;
    /// nil once all of it went.
    public mutating func next() -> [ByteBuffer]? {
        if let whole = wholeFrame {
            wholeFrame = nil
            return whole.readableBytes > 0 ? [whole] : nil
        }
        guard payload.readableBytes > 0 else { return nil }
        let length = min(PeerFramePieces.pieceBytes, payload.readableBytes)
        let bytes = payload.readSlice(length: length)!
        return [PeerFramePieces.prefix(length: length, last: payload.readableBytes == 0), bytes]
    }
}

/// The frames waiting to go out on one link, in order, the first perhaps partly sent; at
/// most `bytesMax` of them, so that a peer that does not keep up costs bounded memory (what
/// does not fit is dropped: Raft sends it again).
public struct PeerSendQueue: Sendable {
    private var frames = CircularBuffer<OutgoingFrame>()
    public private(set) var queuedBytes = 0
    public let bytesMax: Int

    public init(bytesMax: Int) {
        self.bytesMax = bytesMax
    }

    public var isEmpty: Bool { frames.isEmpty }

    /// Queues an encoded frame; false, and dropped, if it does not fit.
    public mutating func append(_ encoded: ByteBuffer) -> Bool {
        guard queuedBytes + encoded.readableBytes <= bytesMax else { return false }
        queuedBytes += encoded.readableBytes
        frames.append(OutgoingFrame(encoded: encoded))
        return true
    }

    /// What to write next: the first frame whole, or its next piece.
    public mutating func next() -> [ByteBuffer]? {
        guard !frames.isEmpty else { return nil }
        let write = frames[frames.startIndex].next()
        if frames[frames.startIndex].isSent { queuedBytes -= frames.removeFirst().encodedBytes }
        return write
    }
}

/// Joins the pieces of the frame arriving on a link; whole frames between them are not its
/// business. Holds at most `limits.frameBytesMax` bytes.
public struct PieceAssembler: Sendable {
    private var assembled: ByteBuffer?

    public init() {}

    /// Whether a frame's pieces have begun to arrive and its last has not.
    public var isAssembling: Bool { assembled != nil }

    /// Takes one piece; the frame's payload once its last piece came.
    public mutating func add(_ piece: ByteBuffer, last: Bool, limits: PeerWireLimits) throws(PeerWireError) -> ByteBuffer? {
        var frame = assembled ?? ByteBuffer()
        assembled = nil
        let length = frame.readableBytes + piece.readableBytes
        guard length <= limits.frameBytesMax else { throw .tooLarge(length, max: limits.frameBytesMax) }
        var piece = piece
        frame.writeBuffer(&piece)
        guard last else {
            assembled = frame
            return nil
        }
        guard frame.readableBytes >= 2 else { throw .invalid("frame of \(frame.readableBytes) bytes has no version and kind") }
        return frame
    }
}

extension Message {
    /// Whether the message may reach its peer ahead of those sent before it on the link:
    /// one that carries no entries and no snapshot bytes. Raft takes such messages in any
    /// order (a heartbeat's commit is one the follower acknowledged holding). Appends and
    /// snapshot chunks keep their order: one that passed the one before it would be
    /// refused, and the long one sent again.
    public var mayOvertake: Bool {
        switch body {
        case .append, .snapshotChunk: false
        case .preVote, .preVoteResponse, .vote, .voteResponse, .appendResponse, .heartbeat, .heartbeatResponse,
             .snapshotResponse, .timeoutNow, .readIndex, .readIndexResponse: true
        }
    }
}
