import AMQP
import NIOCore
import XCTest

final class MethodTests: XCTestCase {
    /// Every method of connection, channel, exchange, queue, basic, confirm and tx,
    /// RabbitMQ's extensions included: 14 + 6 + 8 + 10 + 18 + 2 + 6.
    func testPikaVectorsCoverEveryMethod() {
        let ids = Set(pikaMethodVectors.map(\.method.id))
        XCTAssertEqual(ids.count, 64)
        for (classID, count) in [(10, 14), (20, 6), (40, 8), (50, 10), (60, 18), (85, 2), (90, 6)] {
            XCTAssertEqual(ids.filter { $0.classID == classID }.count, count, "class \(classID)")
        }
    }

    func testEveryMethodEncodesToPikasBytes() throws {
        for vector in pikaMethodVectors {
            let bytes = try encoded(.method(channel: vector.channel, vector.method))
            XCTAssertEqual(bytes.hex, vector.bytes, vector.name)
        }
    }

    func testEveryMethodDecodesFromPikasBytes() throws {
        for vector in pikaMethodVectors {
            let frames = try parseAll(ByteBuffer(hex: vector.bytes), parser: FrameParser(channelMax: 10))
            XCTAssertEqual(frames, [.method(channel: vector.channel, vector.method)], vector.name)
        }
    }

    func testEveryMethodRejectsTrailingBytes() throws {
        // One byte more in the payload (and the size field) must be 502, naming the method.
        for vector in pikaMethodVectors {
            var bytes = ByteBuffer(hex: vector.bytes)
            let size = bytes.getInteger(at: 3, as: UInt32.self)!
            bytes.setInteger(size + 1, at: 3)
            bytes.moveWriterIndex(to: bytes.writerIndex - 1)
            bytes.writeBytes([0x00, 0xCE])
            let error = assertThrowsAMQPError(.syntaxError) { try parseAll(bytes) }
            XCTAssertEqual(error?.method, vector.method.id, vector.name)
        }
    }

    func testEveryMethodRejectsEachTruncation() throws {
        // Cut the payload short anywhere after the method id: 502 with the method's id.
        for vector in pikaMethodVectors {
            let full = ByteBuffer(hex: vector.bytes)
            let payloadSize = Int(full.getInteger(at: 3, as: UInt32.self)!)
            for cut in 4..<payloadSize {
                var bytes = ByteBuffer()
                bytes.writeImmutableBuffer(full.getSlice(at: 0, length: 7 + cut)!)
                bytes.setInteger(UInt32(cut), at: 3)
                bytes.writeInteger(Frame.endOctet)
                let error = assertThrowsAMQPError(.syntaxError) { try parseAll(bytes) }
                XCTAssertEqual(error?.method, vector.method.id, "\(vector.name) cut at \(cut)")
            }
        }
    }

    func testMethodNamesAndIDs() {
        XCTAssertEqual(Method.basic(.publish(.init())).name, "basic.publish")
        XCTAssertEqual(Method.basic(.publish(.init())).id, MethodID(classID: 60, methodID: 40))
        XCTAssertEqual(Method.exchange(.unbindOk).id, MethodID(classID: 40, methodID: 51))
        XCTAssertEqual(Method.connection(.updateSecretOk).name, "connection.update-secret-ok")
        XCTAssertEqual(Method.confirm(.selectOk).id, MethodID(classID: 85, methodID: 11))
        XCTAssertEqual(Method.tx(.rollbackOk).id, MethodID(classID: 90, methodID: 31))
    }

    func testContentMethods() {
        let deliver = Method.Basic.Deliver(consumerTag: "c", deliveryTag: 1, exchange: "x", routingKey: "r")
        XCTAssertEqual(Method.basic(.deliver(deliver)).contentMethod, .deliver(deliver))
        XCTAssertEqual(ContentMethod.deliver(deliver).method, .basic(.deliver(deliver)))
        XCTAssertNotNil(Method.basic(.publish(.init())).contentMethod)
        XCTAssertNotNil(Method.basic(.return(.init(replyCode: .noRoute, exchange: "x", routingKey: "r"))).contentMethod)
        let getOk = Method.Basic.GetOk(deliveryTag: 1, exchange: "", routingKey: "q", messageCount: 0)
        XCTAssertNotNil(Method.basic(.getOk(getOk)).contentMethod)
        XCTAssertNil(Method.basic(.ack(.init())).contentMethod)
        XCTAssertNil(Method.basic(.get(.init())).contentMethod)
        XCTAssertNil(Method.connection(.closeOk).contentMethod)
    }

    func testDefaultsFollowTheSpec() {
        XCTAssertEqual(Method.Basic.Nack().requeue, true)
        XCTAssertEqual(Method.Basic.Reject(deliveryTag: 1).requeue, true)
        XCTAssertEqual(Method.Exchange.Declare(exchange: "x").type, "direct")
        XCTAssertEqual(Method.Connection.Open().virtualHost, "/")
        XCTAssertEqual(Method.Connection.Start(serverProperties: [:]).versionMinor, 9)
        XCTAssertEqual(Method.Connection.Start(serverProperties: [:]).mechanisms, Array("PLAIN".utf8))
    }

    /// Bit packing (amqp0-9-1 §4.2.5.2): consecutive bits share one octet, first bit in
    /// the least significant position.
    func testBitsArePackedLeastSignificantFirst() throws {
        let declare = Method.Queue.Declare(queue: "q", durable: true, autoDelete: true)
        let bytes = try encoded(.method(channel: 1, .queue(.declare(declare))))
        // type 1, channel 1, size, class 50, method 10, ticket 0, "q", bits, table size 0.
        XCTAssertEqual(bytes.hex, "01" + "0001" + "0000000d" + "0032000a" + "0000" + "0171" + "0a" + "00000000" + "ce")
    }

    func testShortStringOfMoreThan255BytesIsRejectedOnEncode() throws {
        let long = String(repeating: "é", count: 128)  // 256 bytes of UTF-8.
        var buffer = ByteBuffer(bytes: [1, 2, 3])
        let error = assertThrowsAMQPError(.syntaxError) {
            try FrameWriter.writeFrame(.method(channel: 1, .queue(.declare(.init(queue: long)))), into: &buffer)
        }
        XCTAssertEqual(error, .syntaxError(.shortStringTooLong(byteCount: 256), method: MethodID(classID: 50, methodID: 10)))
        XCTAssertEqual(buffer, ByteBuffer(bytes: [1, 2, 3]), "a failed write leaves the buffer as it was")

        let exactly255 = String(repeating: "a", count: 255)
        let frames = try parseAll(encoded(.method(channel: 1, .queue(.declare(.init(queue: exactly255))))))
        XCTAssertEqual(frames, [.method(channel: 1, .queue(.declare(.init(queue: exactly255))))])
    }

    func testShortStringThatIsNotUTF8IsRejected() throws {
        // basic.cancel-ok with consumer tag 0xFF 0xFE.
        let bytes = ByteBuffer(hex: "01 0001 00000007 003c 001f 02 fffe ce")
        let error = assertThrowsAMQPError(.syntaxError) { try parseAll(bytes) }
        XCTAssertEqual(error, .syntaxError(.shortStringNotUTF8, method: MethodID(classID: 60, methodID: 31)))
    }

    func testUnusedBitsAreIgnored() throws {
        // basic.ack, delivery tag 5, bits 0b1111_1111: multiple is bit 0, the rest unused.
        let bytes = ByteBuffer(hex: "01 0001 0000000d 003c 0050 0000000000000005 ff ce")
        XCTAssertEqual(try parseAll(bytes), [.method(channel: 1, .basic(.ack(.init(deliveryTag: 5, multiple: true))))])
    }
}
