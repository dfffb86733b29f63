@testable import AMQP
import NIOCore
import XCTest

final class ContentAssemblerTests: XCTestCase {
    let publish = Method.Basic.Publish(exchange: "x", routingKey: "k", mandatory: true)

    func testMethodWithoutContentPassesStraightThrough() throws {
        var assembler = ContentAssembler(channel: 1)
        let ack = Method.basic(.ack(.init(deliveryTag: 3)))
        XCTAssertEqual(try assembler.receive(.method(channel: 1, ack)), .method(ack))
        XCTAssertFalse(assembler.isAssemblingContent)
    }

    func testPublishWithBodyInSeveralFrames() throws {
        var assembler = ContentAssembler(channel: 1)
        let header = ContentHeader(bodySize: 11, properties: BasicProperties(contentType: "text/plain"))
        XCTAssertNil(try assembler.receive(.method(channel: 1, .basic(.publish(self.publish)))))
        XCTAssertTrue(assembler.isAssemblingContent)
        XCTAssertNil(try assembler.receive(.header(channel: 1, header)))
        XCTAssertNil(try assembler.receive(.body(channel: 1, ByteBuffer(string: "hello"))))
        XCTAssertNil(try assembler.receive(.body(channel: 1, ByteBuffer())))  // Empty body frames are allowed.
        let result = try assembler.receive(.body(channel: 1, ByteBuffer(string: " world")))
        guard case .content(.publish(let method), let receivedHeader, let body) = result else {
            return XCTFail("no content: \(String(describing: result))")
        }
        XCTAssertEqual(method, self.publish)
        XCTAssertEqual(receivedHeader, header)
        XCTAssertEqual(body.parts, [ByteBuffer(string: "hello"), ByteBuffer(string: " world")])
        XCTAssertEqual(body.collected(), ByteBuffer(string: "hello world"))
        XCTAssertEqual(body, MessageBody(ByteBuffer(string: "hello world")), "equality is by bytes")
        XCTAssertFalse(assembler.isAssemblingContent)
    }

    func testZeroBodySizeTakesNoBodyFrame() throws {
        var assembler = ContentAssembler(channel: 1)
        XCTAssertNil(try assembler.receive(.method(channel: 1, .basic(.publish(self.publish)))))
        let result = try assembler.receive(.header(channel: 1, ContentHeader(bodySize: 0)))
        XCTAssertEqual(result, .content(.publish(self.publish), ContentHeader(bodySize: 0), MessageBody()))
        // The next frame is a method again.
        XCTAssertEqual(try assembler.receive(.method(channel: 1, .tx(.commit))), .method(.tx(.commit)))
    }

    func testEveryContentMethodIsAssembled() throws {
        let methods: [ContentMethod] = [
            .publish(self.publish),
            .return(.init(replyCode: .noRoute, replyText: "NO_ROUTE", exchange: "x", routingKey: "k")),
            .deliver(.init(consumerTag: "c", deliveryTag: 9, redelivered: true, exchange: "x", routingKey: "k")),
            .getOk(.init(deliveryTag: 1, exchange: "", routingKey: "q", messageCount: 4)),
        ]
        for contentMethod in methods {
            var assembler = ContentAssembler(channel: 5)
            XCTAssertNil(try assembler.receive(.method(channel: 5, contentMethod.method)))
            XCTAssertNil(try assembler.receive(.header(channel: 5, ContentHeader(bodySize: 1))))
            let result = try assembler.receive(.body(channel: 5, ByteBuffer(string: "!")))
            XCTAssertEqual(result, .content(contentMethod, ContentHeader(bodySize: 1), MessageBody(ByteBuffer(string: "!"))))
        }
    }

    // MARK: Out of order: 505 UNEXPECTED_FRAME

    func testHeaderWithoutMethodIsUnexpected() {
        var assembler = ContentAssembler(channel: 1)
        let error = assertThrowsAMQPError(.unexpectedFrame) { try assembler.receive(.header(channel: 1, ContentHeader(bodySize: 1))) }
        XCTAssertEqual(error, .unexpectedFrame(.contentHeaderWithoutMethod, channel: 1))
    }

    func testBodyWithoutHeaderIsUnexpected() throws {
        var assembler = ContentAssembler(channel: 1)
        assertThrowsAMQPError(.unexpectedFrame) { try assembler.receive(.body(channel: 1, ByteBuffer(string: "x"))) }

        var afterMethod = ContentAssembler(channel: 1)
        XCTAssertNil(try afterMethod.receive(.method(channel: 1, .basic(.publish(self.publish)))))
        let error = assertThrowsAMQPError(.unexpectedFrame) { try afterMethod.receive(.body(channel: 1, ByteBuffer(string: "x"))) }
        XCTAssertEqual(error, .unexpectedFrame(.contentBodyWithoutHeader, channel: 1))
    }

    func testMethodInsteadOfHeaderOrBodyIsUnexpected() throws {
        var assembler = ContentAssembler(channel: 1)
        XCTAssertNil(try assembler.receive(.method(channel: 1, .basic(.publish(self.publish)))))
        var error = assertThrowsAMQPError(.unexpectedFrame) { try assembler.receive(.method(channel: 1, .basic(.publish(self.publish)))) }
        XCTAssertEqual(error, .unexpectedFrame(.methodDuringContent(MethodID(classID: 60, methodID: 40)), channel: 1))

        var inBody = ContentAssembler(channel: 1)
        XCTAssertNil(try inBody.receive(.method(channel: 1, .basic(.publish(self.publish)))))
        XCTAssertNil(try inBody.receive(.header(channel: 1, ContentHeader(bodySize: 2))))
        XCTAssertNil(try inBody.receive(.body(channel: 1, ByteBuffer(string: "a"))))
        error = assertThrowsAMQPError(.unexpectedFrame) { try inBody.receive(.method(channel: 1, .channel(.closeOk))) }
        XCTAssertEqual(error, .unexpectedFrame(.methodDuringContent(MethodID(classID: 20, methodID: 41)), channel: 1))
    }

    func testSecondHeaderIsUnexpected() throws {
        var assembler = ContentAssembler(channel: 1)
        XCTAssertNil(try assembler.receive(.method(channel: 1, .basic(.publish(self.publish)))))
        XCTAssertNil(try assembler.receive(.header(channel: 1, ContentHeader(bodySize: 2))))
        let error = assertThrowsAMQPError(.unexpectedFrame) { try assembler.receive(.header(channel: 1, ContentHeader(bodySize: 2))) }
        XCTAssertEqual(error, .unexpectedFrame(.contentHeaderDuringBody, channel: 1))
    }

    func testHeaderOfAnotherClassIsUnexpected() throws {
        var assembler = ContentAssembler(channel: 1)
        XCTAssertNil(try assembler.receive(.method(channel: 1, .basic(.publish(self.publish)))))
        let error = assertThrowsAMQPError(.unexpectedFrame) {
            try assembler.receive(.header(channel: 1, ContentHeader(classID: 40, bodySize: 2)))
        }
        XCTAssertEqual(error, .unexpectedFrame(.contentHeaderClassMismatch(expected: 60, received: 40), channel: 1))
    }

    // MARK: Sizes

    func testBodyLargerThanDeclaredIsAFrameError() throws {
        var assembler = ContentAssembler(channel: 1)
        XCTAssertNil(try assembler.receive(.method(channel: 1, .basic(.publish(self.publish)))))
        XCTAssertNil(try assembler.receive(.header(channel: 1, ContentHeader(bodySize: 4))))
        XCTAssertNil(try assembler.receive(.body(channel: 1, ByteBuffer(string: "abc"))))
        let error = assertThrowsAMQPError(.frameError) { try assembler.receive(.body(channel: 1, ByteBuffer(string: "de"))) }
        XCTAssertEqual(error, .bodyExceedsDeclaredSize(channel: 1, bodySize: 4, received: 5))
    }

    func testMessageLargerThanMaxIsPreconditionFailedFromTheHeader() throws {
        var assembler = ContentAssembler(channel: 1, messageSizeMax: 1000)
        XCTAssertNil(try assembler.receive(.method(channel: 1, .basic(.publish(self.publish)))))
        let error = assertThrowsAMQPError(.preconditionFailed) { try assembler.receive(.header(channel: 1, ContentHeader(bodySize: 1001))) }
        XCTAssertEqual(error?.isHardError, false, "a channel error, as in RabbitMQ")
        XCTAssertEqual(error?.replyText, "PRECONDITION_FAILED - message size 1001 is larger than configured max size 1000")
        XCTAssertEqual(error?.classID, 60)
        XCTAssertEqual(error?.methodID, 40)

        // Failed until reset; then the channel can be used again.
        assertThrowsAMQPError(.preconditionFailed) { try assembler.receive(.body(channel: 1, ByteBuffer(string: "x"))) }
        assembler.reset()
        XCTAssertNil(try assembler.receive(.method(channel: 1, .basic(.publish(self.publish)))))
        XCTAssertNotNil(try assembler.receive(.header(channel: 1, ContentHeader(bodySize: 0))))
    }

    func testManyTinyBodyFramesAreCoalescedBeyondThePartsLimit() throws {
        var assembler = ContentAssembler(channel: 1)
        let bodySize = MessageBody.partsMax * 3
        XCTAssertNil(try assembler.receive(.method(channel: 1, .basic(.publish(self.publish)))))
        XCTAssertNil(try assembler.receive(.header(channel: 1, ContentHeader(bodySize: UInt64(bodySize)))))
        var expected = ByteBuffer()
        var result: AssembledMethod?
        for index in 0..<bodySize {
            let byte = UInt8(truncatingIfNeeded: index)
            expected.writeInteger(byte)
            result = try assembler.receive(.body(channel: 1, ByteBuffer(bytes: [byte])))
            XCTAssertEqual(result == nil, index < bodySize - 1)
        }
        guard case .content(_, _, let body) = result else {
            return XCTFail("no content")
        }
        XCTAssertEqual(body.parts.count, MessageBody.partsMax)
        XCTAssertEqual(body.byteCount, bodySize)
        XCTAssertEqual(body.collected(), expected)
        XCTAssertEqual(body.bytes(), Array(expected.readableBytesView))
    }

    func testABodyOfManyPartsGivesItsBytesInOrder() {
        var body = MessageBody()
        for part in ["first ", "", "second ", "third"] { body.append(ByteBuffer(string: part), bytesStillExpected: 0) }
        XCTAssertEqual(body.parts.count, 3)
        XCTAssertEqual(body.bytes(), Array("first second third".utf8))
        XCTAssertEqual(MessageBody().bytes(), [])
    }

    func testSinglePartBodyIsCollectedWithoutCopy() {
        let part = ByteBuffer(string: "one part")
        let body = MessageBody(part)
        let partBase = part.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress!) }
        XCTAssertEqual(body.collected().withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress!) }, partBase)
    }
}
