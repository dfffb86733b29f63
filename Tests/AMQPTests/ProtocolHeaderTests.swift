import AMQP
import NIOCore
import XCTest

final class ProtocolHeaderTests: XCTestCase {
    func testAMQP091HeaderIsAccepted() {
        // pika 1.4.4: `pika.frame.ProtocolHeader().marshal()`.
        var buffer = ByteBuffer(hex: "414d515000000901 01")
        let header = ProtocolHeader.read(from: &buffer)
        XCTAssertEqual(header, .amqp091)
        XCTAssertEqual(header?.isAMQP091, true)
        XCTAssertEqual(buffer.readableBytes, 1, "only the header is consumed")
    }

    func testPartialHeaderWaitsAndConsumesNothing() {
        for count in 0..<8 {
            var buffer = ByteBuffer(bytes: ProtocolHeader.amqp091.bytes.prefix(count))
            XCTAssertNil(ProtocolHeader.read(from: &buffer))
            XCTAssertEqual(buffer.readableBytes, count)
        }
    }

    func testOtherVersionsAreReadWhole() {
        for bytes: [UInt8] in [[0x41, 0x4D, 0x51, 0x50, 1, 1, 0, 9], [0x41, 0x4D, 0x51, 0x50, 0, 1, 0, 0], [0x41, 0x4D, 0x51, 0x50, 3, 1, 0, 0]] {
            var buffer = ByteBuffer(bytes: bytes)
            let header = ProtocolHeader.read(from: &buffer)
            XCTAssertEqual(header?.bytes, bytes)
            XCTAssertEqual(header?.isAMQP091, false)
        }
    }

    func testSomethingElseIsRecognisedAtTheFirstWrongByte() {
        var buffer = ByteBuffer(string: "GET / HTTP/1.1\r\n")
        XCTAssertEqual(ProtocolHeader.read(from: &buffer), ProtocolHeader(bytes: [UInt8(ascii: "G")]))
        var partial = ByteBuffer(string: "AMX")
        XCTAssertEqual(ProtocolHeader.read(from: &partial)?.isAMQP091, false)
    }

    func testWriteAndDescription() {
        var buffer = ByteBuffer()
        ProtocolHeader.amqp091.write(into: &buffer)
        XCTAssertEqual(buffer.hex, "414d515000000901")
        XCTAssertEqual(ProtocolHeader.amqp091.description, "AMQP\\0\\0\\9\\1")
    }
}
