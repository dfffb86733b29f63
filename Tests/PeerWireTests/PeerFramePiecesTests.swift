import NIOCore
import Raft
import XCTest

@testable import PeerWire

/// A frame longer than a piece goes out in pieces that join back into the same frame, no
/// piece and no joined frame beyond its bound; frames that may overtake are the ones Raft
/// takes in any order.
final class PeerFramePiecesTests: XCTestCase {
    private let limits = PeerWireLimits()

    private func longAppend(bytes: Int) -> PeerFrame {
        let entry = Entry(term: 2, index: 9, data: (0..<bytes).map { UInt8(truncatingIfNeeded: $0 * 7) })
        return .raft(group: 1, messages: [Message(from: 1, to: 2, term: 2, body: .append(prevIndex: 8, prevTerm: 2, entries: [entry], commit: 8))])
    }

    /// Reads what a sender wrote the way the receiver does: whole frames and joined pieces.
    private func receive(_ writes: [[ByteBuffer]], limits: PeerWireLimits) throws -> [PeerFrame] {
        var stream = ByteBuffer()
        for write in writes { for var buffer in write { stream.writeBuffer(&buffer) } }
        var assembler = PieceAssembler()
        var frames: [PeerFrame] = []
        while let prefix = stream.readInteger(endianness: .little, as: UInt32.self) {
            let announced = try PeerFramePieces.announced(prefix, limits: limits)
            let bytes = try XCTUnwrap(stream.readSlice(length: announced.length), "the stream ends inside a frame")
            switch announced {
            case .frame: frames.append(try PeerFrame(payload: bytes, limits: limits))
            case .piece(_, let last):
                if let payload = try assembler.add(bytes, last: last, limits: limits) { frames.append(try PeerFrame(payload: payload, limits: limits)) }
            }
        }
        XCTAssertFalse(assembler.isAssembling, "a frame's last piece never came")
        return frames
    }

    func testALongFrameGoesInPiecesThatJoinIntoTheSameFrame() throws {
        let frame = longAppend(bytes: 3 * PeerFramePieces.pieceBytes + 1_000)
        var outgoing = OutgoingFrame(encoded: frame.encodedBuffer())
        var writes: [[ByteBuffer]] = []
        while let write = outgoing.next() { writes.append(write) }
        XCTAssertTrue(outgoing.isSent)
        XCTAssertEqual(writes.count, 4)
        for write in writes {
            XCTAssertEqual(write.count, 2, "a piece's prefix and its bytes")
            XCTAssertLessThanOrEqual(write[1].readableBytes, PeerFramePieces.pieceBytes)
        }
        XCTAssertEqual(try receive(writes, limits: limits), [frame])
    }

    func testAFrameNoLongerThanAPieceGoesWholeAsBefore() throws {
        let frame = longAppend(bytes: 1_000)
        var outgoing = OutgoingFrame(encoded: frame.encodedBuffer())
        let write = try XCTUnwrap(outgoing.next())
        XCTAssertEqual(write, [frame.encodedBuffer()])
        XCTAssertNil(outgoing.next())
    }

    /// A heartbeat written between two pieces of a long append arrives whole, and the
    /// append after it, intact.
    func testAWholeFrameBetweenPiecesArrivesBeforeTheLongOne() throws {
        let long = longAppend(bytes: 2 * PeerFramePieces.pieceBytes)
        let heartbeat = PeerFrame.raft(group: 1, messages: [Message(from: 1, to: 2, term: 2, body: .heartbeat(commit: 8, readContext: 3))])
        var outgoing = OutgoingFrame(encoded: long.encodedBuffer())
        var writes = [try XCTUnwrap(outgoing.next()), [heartbeat.encodedBuffer()]]
        while let write = outgoing.next() { writes.append(write) }
        XCTAssertEqual(try receive(writes, limits: limits), [heartbeat, long])
    }

    func testPiecesJoiningBeyondTheFrameLimitAreRefused() throws {
        var small = limits
        small.frameBytesMax = PeerFramePieces.pieceBytes + 100
        var outgoing = OutgoingFrame(encoded: longAppend(bytes: 2 * PeerFramePieces.pieceBytes).encodedBuffer())
        var writes: [[ByteBuffer]] = []
        while let write = outgoing.next() { writes.append(write) }
        XCTAssertThrowsError(try receive(writes, limits: small)) { error in
            guard case PeerWireError.tooLarge(_, let max) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(max, small.frameBytesMax)
        }
    }

    func testAPieceLongerThanTheFrameLimitIsRefusedFromItsPrefix() {
        var small = limits
        small.frameBytesMax = 1_000
        XCTAssertThrowsError(try PeerFramePieces.announced(PeerFramePieces.pieceBit | 1_001, limits: small))
        XCTAssertThrowsError(try PeerFramePieces.announced(PeerFramePieces.pieceBit, limits: small), "a piece of no bytes")
        XCTAssertEqual(try PeerFramePieces.announced(PeerFramePieces.pieceBit | PeerFramePieces.lastPieceBit | 1_000, limits: small),
                       .piece(length: 1_000, last: true))
        XCTAssertEqual(try PeerFramePieces.announced(1_000, limits: small), .frame(length: 1_000))
    }

    /// The queue gives out its frames in order, the first piece by piece, and holds no more
    /// than its bound: a frame that does not fit is dropped, and room comes back once the
    /// frame before it has gone.
    func testTheSendQueueKeepsOrderAndItsBound() throws {
        let long = longAppend(bytes: 2 * PeerFramePieces.pieceBytes).encodedBuffer()
        let short = longAppend(bytes: 10).encodedBuffer()
        var queue = PeerSendQueue(bytesMax: long.readableBytes + short.readableBytes)
        XCTAssertTrue(queue.append(long))
        XCTAssertTrue(queue.append(short))
        XCTAssertFalse(queue.append(short), "over the bound")
        XCTAssertEqual(queue.queuedBytes, long.readableBytes + short.readableBytes)
        var writes: [[ByteBuffer]] = []
        while let write = queue.next() { writes.append(write) }
        XCTAssertEqual(writes.count, 4, "three pieces, then the short frame whole")
        XCTAssertEqual(writes.last, [short])
        XCTAssertTrue(queue.isEmpty)
        XCTAssertEqual(queue.queuedBytes, 0)
        XCTAssertTrue(queue.append(short))
    }

    func testOnlyMessagesWithoutEntriesOrSnapshotBytesMayOvertake() {
        let membership = Membership(voters: [1, 2, 3], learners: [])
        let chunk = SnapshotChunk(metadata: SnapshotMetadata(index: 4, term: 1, membership: membership), totalBytes: 3, offset: 0, bytes: [1, 2, 3])
        let ordered: [Message.Body] = [.append(prevIndex: 1, prevTerm: 1, entries: [], commit: 1), .snapshotChunk(chunk)]
        let overtaking: [Message.Body] = [
            .preVote(lastIndex: 1, lastTerm: 1), .preVoteResponse(granted: true), .vote(lastIndex: 1, lastTerm: 1, leadershipTransfer: false),
            .voteResponse(granted: true), .appendResponse(.success(matchIndex: 1)), .heartbeat(commit: 1, readContext: 0),
            .heartbeatResponse(readContext: 0), .snapshotResponse(index: 4, receivedBytes: 3), .timeoutNow,
            .readIndex(requestID: 1), .readIndexResponse(requestID: 1, index: 1),
        ]
        for body in ordered { XCTAssertFalse(Message(from: 1, to: 2, term: 1, body: body).mayOvertake, "\(body)") }
        for body in overtaking { XCTAssertTrue(Message(from: 1, to: 2, term: 1, body: body).mayOvertake, "\(body)") }
    }
}
