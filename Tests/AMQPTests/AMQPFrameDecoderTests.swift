import AMQP
import NIOCore
import NIOEmbedded
import NIOTestUtils
import XCTest

final class AMQPFrameDecoderTests: XCTestCase {
    static let sampleFrames: [Frame] = [
        .method(channel: 0, .connection(.tune(.init(channelMax: 2047, frameMax: 131_072, heartbeat: 60)))),
        .method(channel: 1, .basic(.publish(.init(exchange: "amq.topic", routingKey: "a.b.c", mandatory: true)))),
        .header(channel: 1, ContentHeader(bodySize: 5, properties: BasicProperties(headers: FieldTableTests.everyType, deliveryMode: 2))),
        .body(channel: 1, ByteBuffer(string: "hello")),
        .body(channel: 7, ByteBuffer(repeating: 0xCE, count: 300)),  // Frame-end octets inside a payload.
        .method(channel: 2, .basic(.deliver(.init(consumerTag: "ctag", deliveryTag: 99, redelivered: true, exchange: "", routingKey: "q")))),
        .method(channel: 3, .confirm(.select(.init(noWait: true)))),
        .heartbeat,
    ]

    /// NIOTestUtils' verifier: every frame alone, fed byte by byte, and all at once.
    func testDecoderVerifier() throws {
        let pairs = try Self.sampleFrames.map { frame in
            (try encoded(frame), [AMQPFrameDecoder.Inbound.frame(frame)])
        }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) {
            AMQPFrameDecoder(role: .client)
        }
    }

    /// Every pika vector through the verifier too.
    func testDecoderVerifierWithPikaVectors() throws {
        let pairs = pikaMethodVectors.map { vector in
            (ByteBuffer(hex: vector.bytes), [AMQPFrameDecoder.Inbound.frame(.method(channel: vector.channel, vector.method))])
        }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) {
            AMQPFrameDecoder(role: .client)
        }
    }

    /// A whole stream cut into random chunks decodes to the same frames (seeded).
    func testShuffledChunkFeeding() throws {
        let stream = try encoded(Self.sampleFrames)
        var random = SplitMix64(seed: 0xA11CE)
        for _ in 0..<50 {
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(AMQPFrameDecoder(role: .client)))
            var offset = 0
            while offset < stream.readableBytes {
                let length = min(Int.random(in: 1...40, using: &random), stream.readableBytes - offset)
                try channel.writeInbound(stream.getSlice(at: offset, length: length)!)
                offset += length
            }
            var frames: [Frame] = []
            while let inbound = try channel.readInbound(as: AMQPFrameDecoder.Inbound.self) {
                guard case .frame(let frame) = inbound else {
                    return XCTFail("unexpected \(inbound)")
                }
                frames.append(frame)
            }
            XCTAssertEqual(frames, Self.sampleFrames)
            XCTAssertTrue(try channel.finish().isClean)
        }
    }

    // MARK: Protocol header (server side)

    func testServerReadsTheProtocolHeaderFirst() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(AMQPFrameDecoder(role: .server)))
        for byte in ProtocolHeader.amqp091.bytes {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
        }
        try channel.writeInbound(try encoded(.heartbeat))
        XCTAssertEqual(try channel.readInbound(as: AMQPFrameDecoder.Inbound.self), .protocolHeader(.amqp091))
        XCTAssertEqual(try channel.readInbound(as: AMQPFrameDecoder.Inbound.self), .frame(.heartbeat))
        XCTAssertTrue(try channel.finish().isClean)
    }

    func testServerReportsAWrongProtocolHeaderAndIgnoresTheRest() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(AMQPFrameDecoder(role: .server)))
        try channel.writeInbound(ByteBuffer(hex: "414d5150 01010009") )  // AMQP 0-9 (0-8 style)
        try channel.writeInbound(ByteBuffer(string: "anything at all"))
        let inbound = try channel.readInbound(as: AMQPFrameDecoder.Inbound.self)
        XCTAssertEqual(inbound, .protocolHeader(ProtocolHeader(bytes: [0x41, 0x4D, 0x51, 0x50, 1, 1, 0, 9])))
        XCTAssertNil(try channel.readInbound(as: AMQPFrameDecoder.Inbound.self))
        _ = try channel.finish()
    }

    func testServerAppliesTheClientsTuneOk() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(AMQPFrameDecoder(role: .server)))
        var input = ByteBuffer()
        ProtocolHeader.amqp091.write(into: &input)
        try FrameWriter.writeFrame(.method(channel: 0, .connection(.tuneOk(.init(channelMax: 5, frameMax: 4096)))), into: &input)
        try channel.writeInbound(input)
        XCTAssertNotNil(try channel.readInbound(as: AMQPFrameDecoder.Inbound.self))
        XCTAssertNotNil(try channel.readInbound(as: AMQPFrameDecoder.Inbound.self))
        XCTAssertThrowsError(try channel.writeInbound(ByteBuffer(hex: "01 0006 00000004"))) { error in
            XCTAssertEqual(error as? AMQPError, .channelOutOfRange(channel: 6, channelMax: 5))
        }
    }

    // MARK: Rejections, one per error, through the whole inbound path

    func testDecoderRejectsOversizeFrameFromItsHeaderAlone() throws {
        let channel = try makeAssemblingChannel(frameSizeMax: 4096)
        // Seven bytes: a body frame announcing 1 GiB. Nothing more is ever sent.
        self.assertInboundError(channel, ByteBuffer(hex: "03 0001 40000000"), .frameError,
                                .frameTooLarge(payloadSize: 1 << 30, frameSizeMax: 4096))
    }

    func testDecoderRejectsBadFrameEnd() throws {
        var bytes = try encoded(.method(channel: 1, .basic(.qosOk)))
        bytes.setInteger(UInt8(0x00), at: bytes.writerIndex - 1)
        self.assertInboundError(try makeAssemblingChannel(), bytes, .frameError, .frameEndInvalid(0))
    }

    func testDecoderRejectsUnknownFrameType() throws {
        self.assertInboundError(try makeAssemblingChannel(), ByteBuffer(hex: "02 0001"), nil, nil)  // Incomplete: fine.
        self.assertInboundError(try makeAssemblingChannel(), ByteBuffer(hex: "09 0001 00000000 ce"), .frameError, .frameTypeUnknown(9))
    }

    func testDecoderRejectsUnknownMethod() throws {
        self.assertInboundError(try makeAssemblingChannel(), ByteBuffer(hex: "01 0001 00000004 003c 00c8 ce"), .notImplemented,
                                .methodUnknown(MethodID(classID: 60, methodID: 200)))
    }

    func testDecoderRejectsBadFieldType() throws {
        self.assertInboundError(try makeAssemblingChannel(), FieldTableTests.queueDeclare(tableHex: "01 61 7a 00"), .syntaxError,
                                .syntaxError(.fieldTypeUnknown(UInt8(ascii: "z")), method: MethodID(classID: 50, methodID: 10)))
    }

    func testDecoderRejectsChannelOverMax() throws {
        self.assertInboundError(try makeAssemblingChannel(channelMax: 100), try encoded(.method(channel: 101, .channel(.open(.init())))),
                                .channelError, .channelOutOfRange(channel: 101, channelMax: 100))
    }

    func testDecoderRejectsContentFramesOutOfOrder() throws {
        let bytes = try encoded(
            .method(channel: 1, .basic(.publish(.init()))),
            .body(channel: 1, ByteBuffer(string: "body before header"))
        )
        self.assertInboundError(try makeAssemblingChannel(), bytes, .unexpectedFrame,
                                .unexpectedFrame(.contentBodyWithoutHeader, channel: 1))
    }

    func testDecoderRejectsMethodInTheMiddleOfContent() throws {
        let bytes = try encoded(
            .method(channel: 1, .basic(.publish(.init()))),
            .header(channel: 1, ContentHeader(bodySize: 10)),
            .method(channel: 1, .basic(.ack(.init())))
        )
        self.assertInboundError(try makeAssemblingChannel(), bytes, .unexpectedFrame,
                                .unexpectedFrame(.methodDuringContent(MethodID(classID: 60, methodID: 80)), channel: 1))
    }

    func testDecoderRejectsBodyLargerThanDeclared() throws {
        let bytes = try encoded(
            .method(channel: 1, .basic(.publish(.init()))),
            .header(channel: 1, ContentHeader(bodySize: 3)),
            .body(channel: 1, ByteBuffer(string: "four"))
        )
        self.assertInboundError(try makeAssemblingChannel(), bytes, .frameError,
                                .bodyExceedsDeclaredSize(channel: 1, bodySize: 3, received: 4))
    }

    func testDecoderRejectsMessageLargerThanMax() throws {
        let bytes = try encoded(
            .method(channel: 1, .basic(.publish(.init()))),
            .header(channel: 1, ContentHeader(bodySize: 1 << 40))
        )
        self.assertInboundError(try makeAssemblingChannel(messageSizeMax: 1 << 20), bytes, .preconditionFailed,
                                .messageTooLarge(bodySize: 1 << 40, messageSizeMax: 1 << 20, method: MethodID(classID: 60, methodID: 40)))
    }

    func testDecoderRejectsInvalidHeartbeat() throws {
        self.assertInboundError(try makeAssemblingChannel(), ByteBuffer(hex: "08 0003 00000000 ce"), .frameError,
                                .heartbeatInvalid(channel: 3, payloadSize: 0))
    }

    func testDecoderRejectsTrailingBytes() throws {
        self.assertInboundError(try makeAssemblingChannel(), ByteBuffer(hex: "01 0001 00000005 003c 000b 00 ce"), .syntaxError,
                                .syntaxError(.trailingBytes(count: 1), method: MethodID(classID: 60, methodID: 11)))
    }

    func testDecoderAssemblesAWholeMessage() throws {
        let channel = try makeAssemblingChannel()
        let body = ByteBuffer(repeating: 0x42, count: 10_000)
        var bytes = ByteBuffer()
        try FrameWriter.writeContent(
            channel: 4,
            method: .publish(.init(routingKey: "r")),
            properties: BasicProperties(messageID: "m"),
            body: body,
            frameSizeMax: 4096,
            into: &bytes
        )
        try channel.writeInbound(bytes)
        let assembled = try channel.readInbound(as: AssembledMethod.self)
        guard case .content(.publish(let publish), let header, let received) = assembled else {
            return XCTFail("no message: \(String(describing: assembled))")
        }
        XCTAssertEqual(publish.routingKey, "r")
        XCTAssertEqual(header.properties.messageID, "m")
        XCTAssertEqual(received.parts.map(\.readableBytes), [4088, 4088, 1824])
        XCTAssertEqual(received.collected(), body)
        XCTAssertTrue(try channel.finish().isClean)
    }

    // MARK: Helpers

    private func assertInboundError(
        _ channel: EmbeddedChannel,
        _ bytes: ByteBuffer,
        _ replyCode: ReplyCode?,
        _ expected: AMQPError?,
        file: StaticString = #filePath,
        line: UInt = #line
    ) {
        do {
            try channel.writeInbound(bytes)
            XCTAssertNil(replyCode, "no error thrown", file: file, line: line)
        } catch let error as AMQPError {
            XCTAssertEqual(error.replyCode, replyCode, file: file, line: line)
            XCTAssertEqual(error, expected, file: file, line: line)
        } catch {
            XCTFail("not an AMQPError: \(error)", file: file, line: line)
        }
        _ = try? channel.finish()
    }
}
