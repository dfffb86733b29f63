import AMQP
import NIOCore
import NIOEmbedded
import XCTest

/// The outbound handler: frames become bytes, bytes already encoded pass as they are (the
/// same storage, not a copy), and a frame that cannot be encoded fails its write.
final class AMQPFrameEncodingHandlerTests: XCTestCase {
    func testFramesAreEncodedAndEncodedBytesPassUncopied() throws {
        let channel = EmbeddedChannel(handler: AMQPFrameEncodingHandler())
        defer { _ = try? channel.finish() }
        try channel.writeOutbound(AMQPFrameEncoder.Outbound.frame(.heartbeat))
        XCTAssertEqual(try channel.readOutbound(as: ByteBuffer.self)?.hex, "08000000000000ce")

        var content = ByteBuffer()
        try FrameWriter.writeContent(channel: 1, method: .deliver(.init(consumerTag: "c", deliveryTag: 1, exchange: "", routingKey: "q")),
                                     properties: BasicProperties(), body: [1, 2, 3], frameSizeMax: 4096, into: &content)
        try channel.writeOutbound(AMQPFrameEncoder.Outbound.encoded(content))
        let written = try XCTUnwrap(try channel.readOutbound(as: ByteBuffer.self))
        XCTAssertEqual(written, content)
        XCTAssertEqual(written.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress!) },
                       content.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress!) })
    }

    func testAFrameThatCannotBeEncodedFailsItsWrite() throws {
        let channel = EmbeddedChannel(handler: AMQPFrameEncodingHandler())
        defer { _ = try? channel.finish() }
        let tooLong = String(repeating: "x", count: 256)
        let frame = Frame.header(channel: 1, ContentHeader(bodySize: 1, properties: BasicProperties(messageID: tooLong)))
        XCTAssertThrowsError(try channel.writeOutbound(AMQPFrameEncoder.Outbound.frame(frame)))
        XCTAssertNil(try channel.readOutbound(as: ByteBuffer.self))
    }
}
