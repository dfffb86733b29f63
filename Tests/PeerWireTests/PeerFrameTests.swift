import Raft
import XCTest

@testable import PeerWire

final class PeerFrameTests: XCTestCase {
    private let limits = PeerWireLimits()
    private let membership = Membership(voters: [1, 2, 3], learners: [4])

    /// One message with every kind of body, fields away from their defaults.
    private var everyMessage: [Message] {
        let entries = [
            Entry(term: 7, index: 41, kind: .normal, data: [1, 2, 3]),
            Entry(term: 7, index: 42, kind: .empty, data: []),
            Entry(term: 8, index: 43, kind: .membershipChange, data: membership.encoded()),
        ]
        let chunk = SnapshotChunk(metadata: SnapshotMetadata(index: 40, term: 6, membership: membership), totalBytes: 10, offset: 4, bytes: [9, 9, 9])
        let bodies: [Message.Body] = [
            .preVote(lastIndex: 10, lastTerm: 3), .preVoteResponse(granted: true), .vote(lastIndex: 11, lastTerm: 4, leadershipTransfer: true),
            .voteResponse(granted: false), .append(prevIndex: 40, prevTerm: 6, entries: entries, commit: 39),
            .appendResponse(.success(matchIndex: 43)), .appendResponse(.reject(rejectedIndex: 40, hintIndex: 30, hintTerm: 5)),
            .heartbeat(commit: 38, readContext: 12), .heartbeatResponse(readContext: 12), .snapshotChunk(chunk),
            .snapshotResponse(index: 40, receivedBytes: 7), .timeoutNow, .readIndex(requestID: 99), .readIndexResponse(requestID: 99, index: 43),
        ]
        return bodies.enumerated().map { Message(from: 1, to: 2, term: UInt64(5 + $0.offset), body: $0.element) }
    }

    func testEveryRaftMessageRoundTrips() throws {
        let frame = PeerFrame.raft(group: 3, messages: everyMessage)
        XCTAssertEqual(try PeerFrame(frame: frame.encoded(), limits: limits), frame)
        for message in everyMessage {
            let single = PeerFrame.raft(group: 1, messages: [message])
            XCTAssertEqual(try PeerFrame(frame: single.encoded(), limits: limits), single, "\(message)")
        }
    }

    /// Appends that together pass the receiver's frame bound go in several frames, each
    /// within it, the messages in order; one that alone passes it is left out and counted.
    func testRaftMessagesAreSplitIntoFramesTheReceiverAccepts() throws {
        var small = PeerWireLimits()
        small.frameBytesMax = 4_096
        small.messagesPerFrameMax = 5
        let appends = (1...12).map { i in
            Message(from: 1, to: 2, term: 3, body: .append(prevIndex: UInt64(i), prevTerm: 3,
                                                         entries: [Entry(term: 3, index: UInt64(i + 1), data: Array(repeating: UInt8(i), count: 1_000))],
                                                         commit: 1))
        }
        let tooLarge = Message(from: 1, to: 2, term: 3, body: .append(prevIndex: 0, prevTerm: 0,
                                                                     entries: [Entry(term: 3, index: 1, data: Array(repeating: 0, count: 5_000))], commit: 0))
        let heartbeats = (1...7).map { Message(from: 1, to: 2, term: 3, body: .heartbeat(commit: UInt64($0), readContext: 0)) }
        let messages = appends + [tooLarge] + heartbeats
        let (frames, oversized) = PeerFrame.encodeRaft(group: 9, messages: messages, limits: small)
        XCTAssertEqual(oversized, 1)
        var received: [Message] = []
        for frame in frames {
            XCTAssertLessThanOrEqual(frame.readableBytes - PeerFrame.lengthPrefixBytes, small.frameBytesMax)
            guard case .raft(let group, let batch) = try PeerFrame(frame: Array(frame.readableBytesView), limits: small) else { return XCTFail("not a Raft frame") }
            XCTAssertEqual(group, 9)
            XCTAssertLessThanOrEqual(batch.count, small.messagesPerFrameMax)
            received += batch
        }
        XCTAssertEqual(received, appends + heartbeats)
        XCTAssertGreaterThanOrEqual(frames.count, 4, "12 appends of 1 KB cannot share fewer frames of 4 KiB")
        XCTAssertEqual(try PeerFrame.encodeRaft(group: 1, messages: everyMessage, limits: limits).frames.map { try PeerFrame(frame: Array($0.readableBytesView), limits: limits) },
                       [PeerFrame.raft(group: 1, messages: everyMessage)], "within the bounds, one frame, the same as `raft(group:messages:)`")
    }

    func testHandshakeFramesRoundTrip() throws {
        let hello = PeerFrame.hello(node: 42, nonce: Array(repeating: 7, count: PeerFrame.nonceBytes))
        let proof = PeerFrame.proof(mac: Array(repeating: 1, count: PeerFrame.macBytes))
        XCTAssertEqual(try PeerFrame(frame: hello.encoded(), limits: limits), hello)
        XCTAssertEqual(try PeerFrame(frame: proof.encoded(), limits: limits), proof)
        XCTAssertThrowsError(try PeerFrame(frame: PeerFrame.hello(node: 1, nonce: [1, 2]).encoded(), limits: limits))
    }

    func testClientSessionHelloAndSessionReadyRoundTrip() throws {
        let nonce = Array(repeating: UInt8(3), count: PeerFrame.nonceBytes)
        let session = PeerFrame.hello(node: 9, nonce: nonce, purpose: .clientSession(user: "guest"))
        XCTAssertEqual(try PeerFrame(frame: session.encoded(), limits: limits), session)
        XCTAssertEqual(try PeerFrame(frame: PeerFrame.sessionReady.encoded(), limits: limits), .sessionReady)
        XCTAssertNotEqual(LinkPurpose.clientSession(user: "a").encoded(), LinkPurpose.clientSession(user: "b").encoded())
        let tooLong = PeerFrame.hello(node: 9, nonce: nonce, purpose: .clientSession(user: String(repeating: "u", count: 256)))
        XCTAssertThrowsError(try PeerFrame(frame: tooLong.encoded(), limits: limits))
    }

    func testALeaveRequestRoundTripsWithItsGroup() throws {
        let leave = PeerFrame.leave(group: 0x0102_0304_0506_0708)
        let bytes = leave.encoded()
        XCTAssertEqual(try PeerFrame(frame: bytes, limits: limits), leave)
        XCTAssertEqual(bytes.count, 4 + 1 + 1 + 8)
        XCTAssertThrowsError(try PeerFrame(payload: Array(bytes[4..<(bytes.count - 1)]), limits: limits), "a group cut short")
    }

    func testAProposalAndEachOutcomeRoundTripWithTheirRequestNumber() throws {
        let proposal = PeerFrame.proposal(group: 1, request: 0xABCD, command: Array(0..<200))
        XCTAssertEqual(try PeerFrame(frame: proposal.encoded(), limits: limits), proposal)
        for outcome in [ProposalOutcome.applied(index: 77), .notLeading, .refused(code: 404, text: "no user 'bob' — gone")] {
            let frame = PeerFrame.outcome(request: 7, outcome)
            XCTAssertEqual(try PeerFrame(frame: frame.encoded(), limits: limits), frame)
        }
        var small = limits
        small.entryBytesMax = 100
        XCTAssertThrowsError(try PeerFrame(frame: proposal.encoded(), limits: small), "a command past the entry bound") {
            XCTAssertEqual($0 as? PeerWireError, .tooLarge(200, max: 100))
        }
        let long = PeerFrame.outcome(request: 1, .refused(code: 406, text: String(repeating: "x", count: 10_000)))
        guard case .outcome(_, .refused(_, let text)) = try PeerFrame(frame: long.encoded(), limits: limits) else {
            return XCTFail("not a refusal")
        }
        XCTAssertEqual(text.utf8.count, PeerFrame.refusalTextBytesMax, "a refusal's text is cut to its bound, not refused")
    }

    func testACountsQueryAndItsAnswerRoundTrip() throws {
        let query = PeerFrame.countsQuery(group: 1, request: 42)
        XCTAssertEqual(try PeerFrame(frame: query.encoded(), limits: limits), query)
        var messages = MessageStats()
        messages.publish = .init(total: 1_000, ratePerSecond: 12.5)
        messages.redeliver = .init(total: 3, ratePerSecond: 0.2)
        var counts = LeaderCounts(connections: 3, channels: 7, queues: [
            QueueCount(vhost: "/", name: "orders", ready: 10, unacknowledged: 4, consumers: 2),
            QueueCount(vhost: "shop", name: "ünïcode", ready: 0, unacknowledged: 0, consumers: 0),
        ], messages: messages)
        for answer in [PeerFrame.counts(request: 42, counts), .counts(request: 43, nil)] {
            XCTAssertEqual(try PeerFrame(frame: answer.encoded(), limits: limits), answer)
        }
        var bytes = PeerFrame.counts(request: 1, counts).encoded()
        bytes[4 + 1 + 1 + 8] = 0  // "not leading", yet counts follow
        XCTAssertThrowsError(try PeerFrame(frame: bytes, limits: limits), "counts from a node that says it does not lead")
        counts.messages.ack.ratePerSecond = .nan
        XCTAssertThrowsError(try PeerFrame(frame: PeerFrame.counts(request: 1, counts).encoded(), limits: limits), "a rate that is not a number")
    }

    func testTheLengthPrefixCountsVersionKindAndPayload() throws {
        let bytes = PeerFrame.proof(mac: Array(repeating: 0, count: 32)).encoded()
        XCTAssertEqual(try PeerFrame.payloadLength(prefix: Array(bytes.prefix(4)), limits: limits), bytes.count - 4)
        XCTAssertEqual(bytes[4], PeerFrame.version)
    }

    func testAnOversizedFrameIsRefusedFromItsPrefixAlone() {
        var small = PeerWireLimits()
        small.frameBytesMax = 1_000
        XCTAssertThrowsError(try PeerFrame.payloadLength(prefix: [0xE9, 0x03, 0, 0], limits: small)) { error in
            XCTAssertEqual(error as? PeerWireError, .tooLarge(1_001, max: 1_000))
        }
    }

    func testUnknownVersionAndKindAreRefused() {
        var bytes = PeerFrame.proof(mac: Array(repeating: 0, count: 32)).encoded()
        bytes[4] = 9
        XCTAssertThrowsError(try PeerFrame(frame: bytes, limits: limits)) { XCTAssertEqual($0 as? PeerWireError, .unknownVersion(9)) }
        bytes[4] = PeerFrame.version
        bytes[5] = 77
        XCTAssertThrowsError(try PeerFrame(frame: bytes, limits: limits)) { XCTAssertEqual($0 as? PeerWireError, .unknownKind(77)) }
    }

    func testACountLargerThanTheInputIsRefusedBeforeAllocating() {
        // A raft frame claiming 4,000 messages with nothing after the count.
        var writer = WireWriter()
        writer.u32(0)
        writer.u8(PeerFrame.version)
        writer.u8(3)
        writer.u64(1)
        writer.u32(4_000)
        writer.setU32(UInt32(writer.count - 4), at: 0)
        XCTAssertThrowsError(try PeerFrame(frame: writer.bytes, limits: limits)) { XCTAssertEqual($0 as? PeerWireError, .truncated) }
    }

    func testEveryTruncationAndRandomGarbageIsAnErrorNotACrash() {
        let bytes = PeerFrame.raft(group: 3, messages: everyMessage).encoded()
        for cut in 0..<bytes.count {
            XCTAssertThrowsError(try PeerFrame(frame: Array(bytes.prefix(cut)), limits: limits), "cut at \(cut)")
        }
        var random = SeededGenerator(seed: 0xFEED)
        var decoded = 0
        for round in 0..<20_000 {
            var input = bytes
            if round % 2 == 0 {
                // Flip a few bytes of a valid frame.
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    input[Int.random(in: 0..<input.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            } else {
                input = (0..<Int.random(in: 0...200, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            }
            if (try? PeerFrame(frame: input, limits: limits)) != nil { decoded += 1 }
        }
        // Some flips land in data bytes and still decode; all that matters is no crash.
        XCTAssertLessThan(decoded, 20_000)
    }
}
