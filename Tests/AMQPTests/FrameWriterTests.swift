import AMQP
import NIOCore
import XCTest

final class FrameWriterTests: XCTestCase {
    func testBodyIsSplitIntoFramesOfFrameMaxMinusEight() {
        let body = ByteBuffer(repeating: 1, count: 10_000)
        let frames = FrameWriter.bodyFrames(channel: 3, body: body, frameSizeMax: 4096)
        XCTAssertEqual(frames.map { frame -> Int in
            guard case .body(3, let part) = frame else { return -1 }
            return part.readableBytes
        }, [4088, 4088, 1824])
    }

    func testBodyOfExactlyOneFramePayloadTakesOneFrame() {
        XCTAssertEqual(FrameWriter.bodyFrames(channel: 1, body: ByteBuffer(repeating: 1, count: 4088), frameSizeMax: 4096).count, 1)
        XCTAssertEqual(FrameWriter.bodyFrames(channel: 1, body: ByteBuffer(repeating: 1, count: 4089), frameSizeMax: 4096).count, 2)
        XCTAssertEqual(FrameWriter.bodyFrames(channel: 1, body: ByteBuffer(), frameSizeMax: 4096), [])
    }

    func testBodyFramesAreSlicesNotCopies() {
        let body = ByteBuffer(repeating: 9, count: 9000)
        let base = body.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress!) }
        let frames = FrameWriter.bodyFrames(channel: 1, body: body, frameSizeMax: 4096)
        guard case .body(_, let second) = frames[1] else {
            return XCTFail("not a body")
        }
        XCTAssertEqual(second.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress!) }, base + 4088)
    }

    func testWriteContentWritesMethodHeaderAndBodies() throws {
        var buffer = ByteBuffer()
        let deliver = Method.Basic.Deliver(consumerTag: "c", deliveryTag: 7, exchange: "x", routingKey: "k")
        try FrameWriter.writeContent(
            channel: 2,
            method: .deliver(deliver),
            properties: BasicProperties(priority: 3),
            body: ByteBuffer(repeating: 5, count: 5000),
            frameSizeMax: 4096,
            into: &buffer
        )
        XCTAssertEqual(try parseAll(buffer), [
            .method(channel: 2, .basic(.deliver(deliver))),
            .header(channel: 2, ContentHeader(bodySize: 5000, properties: BasicProperties(priority: 3))),
            .body(channel: 2, ByteBuffer(repeating: 5, count: 4088)),
            .body(channel: 2, ByteBuffer(repeating: 5, count: 912)),
        ])
    }

    func testWriteContentOfABodyHeldAsBytesWritesWhatABufferBodyWrites() throws {
        let deliver = Method.Basic.Deliver(consumerTag: "c", deliveryTag: 7, exchange: "x", routingKey: "k")
        let body = (0..<9_000).map { UInt8(truncatingIfNeeded: $0) }
        for size in [0, 1, 4088, 4089, body.count] {
            var fromBuffer = ByteBuffer()
            var fromBytes = ByteBuffer()
            try FrameWriter.writeContent(channel: 2, method: .deliver(deliver), properties: BasicProperties(priority: 3),
                                         body: ByteBuffer(bytes: body.prefix(size)), frameSizeMax: 4096, into: &fromBuffer)
            try FrameWriter.writeContent(channel: 2, method: .deliver(deliver), properties: BasicProperties(priority: 3),
                                         body: Array(body.prefix(size)), frameSizeMax: 4096, into: &fromBytes)
            XCTAssertEqual(fromBytes, fromBuffer, "a body of \(size) bytes")
        }
    }

    func testFramesEncodedTogetherAreTheFramesOneAfterAnother() throws {
        let frames: [Frame] = [
            .method(channel: 1, .basic(.deliver(.init(consumerTag: "c", deliveryTag: 2, exchange: "", routingKey: "q")))),
            .header(channel: 1, ContentHeader(bodySize: 5000, properties: BasicProperties(priority: 1))),
            .body(channel: 1, ByteBuffer(repeating: 7, count: 4088)),
            .body(channel: 1, ByteBuffer(repeating: 8, count: 912)),
        ]
        var oneByOne = ByteBuffer()
        for frame in frames { try FrameWriter.writeFrame(frame, into: &oneByOne) }
        XCTAssertEqual(try FrameWriter.encoded(frames, allocator: ByteBufferAllocator()), oneByOne)
        let unencodable = Frame.header(channel: 1, ContentHeader(bodySize: 0, properties: BasicProperties(messageID: String(repeating: "x", count: 256))))
        XCTAssertThrowsError(try FrameWriter.encoded([frames[0], unencodable], allocator: ByteBufferAllocator()))
    }

    func testWriteContentLeavesTheBufferAsItWasOnFailure() {
        var buffer = ByteBuffer(string: "before")
        let tooLong = String(repeating: "x", count: 256)
        XCTAssertThrowsError(
            try FrameWriter.writeContent(
                channel: 1,
                method: .publish(.init()),
                properties: BasicProperties(messageID: tooLong),
                body: ByteBuffer(string: "b"),
                frameSizeMax: 4096,
                into: &buffer
            )
        ) { error in
            XCTAssertEqual(error as? AMQPError, .syntaxError(.shortStringTooLong(byteCount: 256), method: nil))
        }
        XCTAssertEqual(buffer, ByteBuffer(string: "before"))
    }

    func testHeartbeatBytes() throws {
        // pika 1.4.4: `pika.frame.Heartbeat().marshal()`.
        XCTAssertEqual(try encoded(.heartbeat).hex, "08000000000000ce")
    }
}
