import AMQP
import NIOCore
import XCTest

final class FrameParserTests: XCTestCase {
    // MARK: Known answers

    /// connection.tune as RabbitMQ sends it by default, computed by hand from §4.2.3 and
    /// the method's fields: channel-max 2047, frame-max 131072, heartbeat 60.
    static let tuneHex = "01" + "0000" + "0000000c" + "000a" + "001e" + "07ff" + "00020000" + "003c" + "ce"

    func testConnectionTuneKnownAnswer() throws {
        let tune = Frame.method(channel: 0, .connection(.tune(.init(channelMax: 2047, frameMax: 131_072, heartbeat: 60))))
        XCTAssertEqual(try encoded(tune).hex, Self.tuneHex)
        XCTAssertEqual(try parseAll(ByteBuffer(hex: Self.tuneHex)), [tune])
    }

    /// basic.publish to the default exchange with routing key "hello", by hand: ticket 0,
    /// exchange "", routing key "hello", bits 0.
    func testBasicPublishKnownAnswer() throws {
        let hex = "01" + "0001" + "0000000e" + "003c" + "0028" + "0000" + "00" + "0568656c6c6f" + "00" + "ce"
        let publish = Frame.method(channel: 1, .basic(.publish(.init(routingKey: "hello"))))
        XCTAssertEqual(try encoded(publish).hex, hex)
        XCTAssertEqual(try parseAll(ByteBuffer(hex: hex)), [publish])
    }

    /// What pika 1.4.4 sends to open a connection and a channel, declare a quorum queue,
    /// publish "hello world", consume and nack (each `pika.frame.*(...).marshal()`).
    func testPikaSessionKnownAnswers() throws {
        let startOk =
            "01000000000140000a000b0000011c0770726f64756374530000001a50696b6120507974686f6e20436c69656e74204c6962"
            + "7261727908706c6174666f726d530000000d507974686f6e20332e31312e370c6361706162696c69746965734600000"
            + "08c1c61757468656e7469636174696f6e5f6661696c7572655f636c6f736574010a62617369632e6e61636b74011263"
            + "6f6e6e656374696f6e2e626c6f636b6564740116636f6e73756d65725f63616e63656c5f6e6f7469667974011a6578"
            + "6368616e67655f65786368616e67655f62696e64696e67737401127075626c69736865725f636f6e6669726d737401"
            + "0b696e666f726d6174696f6e53000000195365652068747470733a2f2f70696b612e727466642e6f72670776657273"
            + "696f6e5300000005312e342e3405504c41494e0000000c00677565737400677565737405656e5f5553ce"
        let tuneOk = "0100000000000c000a001f07ff00020000003cce"
        let open = "01000000000008000a0028012f0000ce"
        let channelOpen = "010001000000050014000a00ce"
        let queueDeclare =
            "0100010000003b0032000a00000568656c6c6f020000002a0c782d71756575652d74797065530000000671756f72756d0c"
            + "782d6d61782d6c656e67746849000003e8ce"
        let publish = "0100010000000e003c00280000000568656c6c6f01ce"
        let header = "0200010000000e003c0000000000000000000b0000ce"
        let body = "0300010000000b68656c6c6f20776f726c64ce"
        let consume = "01000100000022003c001400000171046374616706000000100a782d7072696f72697479490000000ace"
        let nack = "0100010000000d003c0078000000000000002a01ce"
        let heartbeat = "08000000000000ce"
        let stream = [startOk, tuneOk, open, channelOpen, queueDeclare, publish, header, body, consume, nack, heartbeat]

        let clientProperties: FieldTable = [
            "product": "Pika Python Client Library",
            "platform": "Python 3.11.7",
            "capabilities": .table([
                "authentication_failure_close": .bool(true),
                "basic.nack": .bool(true),
                "connection.blocked": .bool(true),
                "consumer_cancel_notify": .bool(true),
                "exchange_exchange_bindings": .bool(true),
                "publisher_confirms": .bool(true),
            ]),
            "information": "See https://pika.rtfd.org",
            "version": "1.4.4",
        ]
        let expected: [Frame] = [
            .method(
                channel: 0,
                .connection(
                    .startOk(
                        .init(
                            clientProperties: clientProperties,
                            mechanism: "PLAIN",
                            response: Array("\0guest\0guest".utf8),
                            locale: "en_US"
                        )
                    )
                )
            ),
            .method(channel: 0, .connection(.tuneOk(.init(channelMax: 2047, frameMax: 131_072, heartbeat: 60)))),
            .method(channel: 0, .connection(.open(.init(virtualHost: "/")))),
            .method(channel: 1, .channel(.open(.init()))),
            .method(
                channel: 1,
                .queue(.declare(.init(queue: "hello", durable: true, arguments: ["x-queue-type": "quorum", "x-max-length": .int32(1000)])))
            ),
            .method(channel: 1, .basic(.publish(.init(routingKey: "hello", mandatory: true)))),
            .header(channel: 1, ContentHeader(bodySize: 11)),
            .body(channel: 1, ByteBuffer(string: "hello world")),
            .method(channel: 1, .basic(.consume(.init(queue: "q", consumerTag: "ctag", noAck: true, exclusive: true, arguments: ["x-priority": .int32(10)])))),
            .method(channel: 1, .basic(.nack(.init(deliveryTag: 42, multiple: true, requeue: false)))),
            .heartbeat,
        ]
        XCTAssertEqual(try parseAll(ByteBuffer(hex: stream.joined())), expected)
        XCTAssertEqual(try encoded(expected).hex, stream.joined())
    }

    // MARK: Incremental parsing

    func testIncompleteFramesAreNotConsumed() throws {
        let stream = try encoded(
            .method(channel: 1, .basic(.publish(.init(exchange: "x", routingKey: "k")))),
            .header(channel: 1, ContentHeader(bodySize: 5, properties: BasicProperties(deliveryMode: 2))),
            .body(channel: 1, ByteBuffer(string: "hello")),
            .heartbeat
        )
        let all = try parseAll(stream)
        XCTAssertEqual(all.count, 4)
        for cut in 0...stream.readableBytes {
            var parser = FrameParser()
            var buffer = stream.getSlice(at: 0, length: cut)!
            var frames: [Frame] = []
            var consumed = 0
            while let frame = try parser.parseFrame(from: &buffer) {
                frames.append(frame)
                consumed = cut - buffer.readableBytes
            }
            XCTAssertEqual(cut - buffer.readableBytes, consumed, "a partial frame was consumed at cut \(cut)")
            XCTAssertEqual(frames, Array(all.prefix(frames.count)))
            // The rest arrives: the same parser finishes the stream.
            buffer.writeImmutableBuffer(stream.getSlice(at: cut, length: stream.readableBytes - cut)!)
            while let frame = try parser.parseFrame(from: &buffer) {
                frames.append(frame)
            }
            XCTAssertEqual(frames, all, "cut at \(cut)")
            XCTAssertEqual(buffer.readableBytes, 0)
        }
    }

    func testBodyIsASliceOfTheInputNotACopy() throws {
        var buffer = try encoded(.body(channel: 1, ByteBuffer(string: "payload")))
        let inputBase = buffer.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress!) }
        var parser = FrameParser()
        guard case .body(_, let body) = try parser.parseFrame(from: &buffer) else {
            return XCTFail("no body")
        }
        let bodyBase = body.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress!) }
        XCTAssertEqual(bodyBase, inputBase + 7)
        XCTAssertEqual(body, ByteBuffer(string: "payload"))
    }

    // MARK: Limits, from the header alone

    func testFrameOfExactlyFrameMaxIsAccepted() throws {
        let parser = FrameParser(frameSizeMax: 4096)
        let body = ByteBuffer(repeating: 7, count: 4096 - 8)
        XCTAssertEqual(try parseAll(encoded(.body(channel: 1, body)), parser: parser), [.body(channel: 1, body)])
    }

    func testOversizeFrameIsRejectedFromItsHeaderAlone() {
        var parser = FrameParser(frameSizeMax: 4096)
        var header = ByteBuffer(hex: "03 0001 00000ff9")  // 4089 + 8 > 4096; no payload sent.
        XCTAssertThrowsError(try parser.parseFrame(from: &header)) { error in
            XCTAssertEqual(error as? AMQPError, .frameTooLarge(payloadSize: 4089, frameSizeMax: 4096))
            XCTAssertEqual((error as? AMQPError)?.replyCode, .frameError)
        }
    }

    /// A server takes a payload of frame-max bytes (the frame 8 over), as RabbitMQ does for
    /// the many clients that count frame-max as the payload's bound; one byte more is
    /// refused. A client's parser (no allowance) stays strict.
    func testAServerAllowsAFrameOverFrameMaxByAnEmptyFramesSize() throws {
        let lenient = FrameParser(frameSizeMax: 4096, oversizeAllowance: UInt32(Frame.overheadSize))
        let body = ByteBuffer(repeating: 7, count: 4096)
        XCTAssertEqual(try parseAll(encoded(.body(channel: 1, body)), parser: lenient), [.body(channel: 1, body)])
        var tooLong = lenient
        var header = ByteBuffer(hex: "03 0001 00001001")  // 4097 + 8 > 4096 + 8.
        XCTAssertThrowsError(try tooLong.parseFrame(from: &header)) { error in
            XCTAssertEqual(error as? AMQPError, .frameTooLarge(payloadSize: 4097, frameSizeMax: 4096))
        }
        var strict = FrameParser(frameSizeMax: 4096)
        var overByOne = ByteBuffer(hex: "03 0001 00000ff9")
        XCTAssertThrowsError(try strict.parseFrame(from: &overByOne))
    }

    func testChannelAboveChannelMaxIsRejectedFromTheHeaderAlone() {
        var parser = FrameParser(channelMax: 10)
        var header = ByteBuffer(hex: "01 000b 00000004")
        XCTAssertThrowsError(try parser.parseFrame(from: &header)) { error in
            XCTAssertEqual(error as? AMQPError, .channelOutOfRange(channel: 11, channelMax: 10))
            XCTAssertEqual((error as? AMQPError)?.replyCode, .channelError)
        }
        var atMax = ByteBuffer(hex: "01 000a 00000004")
        var parserAtMax = FrameParser(channelMax: 10)
        XCTAssertNil(try parserAtMax.parseFrame(from: &atMax))
    }

    func testTuningLowersLimitsOnly() {
        var parser = FrameParser(frameSizeMax: 131_072, channelMax: 2047)
        parser.applyTuning(channelMax: 0, frameSizeMax: 0)
        XCTAssertEqual(parser.frameSizeMax, 131_072)
        XCTAssertEqual(parser.channelMax, 2047)
        parser.applyTuning(channelMax: 4000, frameSizeMax: 1_000_000)
        XCTAssertEqual(parser.frameSizeMax, 131_072)
        XCTAssertEqual(parser.channelMax, 2047)
        parser.applyTuning(channelMax: 100, frameSizeMax: 10)
        XCTAssertEqual(parser.frameSizeMax, Frame.sizeMin)
        XCTAssertEqual(parser.channelMax, 100)
    }

    // MARK: Rejections

    func testBadFrameEndIsRejected() {
        let error = assertThrowsAMQPError(.frameError) { try parseAll(ByteBuffer(hex: "08 0000 00000000 cd")) }
        XCTAssertEqual(error, .frameEndInvalid(0xCD))
    }

    func testUnknownFrameTypeIsRejectedFromItsFirstOctets() {
        var parser = FrameParser()
        var buffer = ByteBuffer(hex: "04 0000 00000000")
        XCTAssertThrowsError(try parser.parseFrame(from: &buffer)) { error in
            XCTAssertEqual(error as? AMQPError, .frameTypeUnknown(4))
        }
    }

    func testHeartbeatOnAChannelOrWithPayloadIsRejected() {
        var error = assertThrowsAMQPError(.frameError) { try parseAll(ByteBuffer(hex: "08 0001 00000000 ce")) }
        XCTAssertEqual(error, .heartbeatInvalid(channel: 1, payloadSize: 0))
        error = assertThrowsAMQPError(.frameError) { try parseAll(ByteBuffer(hex: "08 0000 00000001 00 ce")) }
        XCTAssertEqual(error, .heartbeatInvalid(channel: 0, payloadSize: 1))
    }

    func testContentOnChannelZeroIsRejected() {
        let error = assertThrowsAMQPError(.unexpectedFrame) { try parseAll(ByteBuffer(hex: "03 0000 00000001 00 ce")) }
        XCTAssertEqual(error, .unexpectedFrame(.contentOnChannelZero, channel: 0))
    }

    func testContentHeaderForAClassWithoutContentIsRejected() {
        let error = assertThrowsAMQPError(.unexpectedFrame) {
            try parseAll(encoded(.header(channel: 1, ContentHeader(classID: 50, bodySize: 0))))
        }
        XCTAssertEqual(error, .unexpectedFrame(.contentHeaderClassMismatch(expected: 60, received: 50), channel: 1))
    }

    func testContentHeaderWithWeightIsRejected() {
        let error = assertThrowsAMQPError(.unexpectedFrame) {
            try parseAll(encoded(.header(channel: 1, ContentHeader(weight: 1, bodySize: 0))))
        }
        XCTAssertEqual(error, .unexpectedFrame(.contentHeaderWeightNonZero(1), channel: 1))
    }

    func testUnknownMethodIsNotImplemented() {
        // access.request (30.10), which current clients no longer send, and basic.99.
        var error = assertThrowsAMQPError(.notImplemented) { try parseAll(ByteBuffer(hex: "01 0001 00000004 001e 000a ce")) }
        XCTAssertEqual(error, .methodUnknown(MethodID(classID: 30, methodID: 10)))
        XCTAssertEqual(error?.classID, 30)
        XCTAssertEqual(error?.methodID, 10)
        error = assertThrowsAMQPError(.notImplemented) { try parseAll(ByteBuffer(hex: "01 0001 00000004 003c 0063 ce")) }
        XCTAssertEqual(error, .methodUnknown(MethodID(classID: 60, methodID: 99)))
    }

    func testMethodFrameTooShortForItsIDsIsRejected() {
        let error = assertThrowsAMQPError(.syntaxError) { try parseAll(ByteBuffer(hex: "01 0001 00000003 003c 00 ce")) }
        XCTAssertEqual(error, .syntaxError(.truncated, method: nil))
    }

    func testMethodsOnTheWrongChannelAreRejected() {
        var error = assertThrowsAMQPError(.commandInvalid) {
            try parseAll(encoded(.method(channel: 1, .connection(.closeOk))))
        }
        XCTAssertEqual(error, .methodOnWrongChannel(MethodID(classID: 10, methodID: 51), channel: 1))
        error = assertThrowsAMQPError(.commandInvalid) { try parseAll(encoded(.method(channel: 0, .channel(.open(.init()))))) }
        XCTAssertEqual(error, .methodOnWrongChannel(MethodID(classID: 20, methodID: 10), channel: 0))
    }

    func testFailedParserKeepsFailing() throws {
        var parser = FrameParser()
        var bad = ByteBuffer(hex: "08 0000 00000000 00")
        XCTAssertThrowsError(try parser.parseFrame(from: &bad))
        var good = try encoded(.heartbeat)
        XCTAssertThrowsError(try parser.parseFrame(from: &good)) { error in
            XCTAssertEqual(error as? AMQPError, .frameEndInvalid(0))
        }
    }
}
