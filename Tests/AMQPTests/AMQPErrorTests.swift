import AMQP
import XCTest

final class AMQPErrorTests: XCTestCase {
    /// A reply text past a shortstr's 255 bytes keeps its first 252 and ends "...", as
    /// RabbitMQ's; one that fits is left alone; a cut never splits a character.
    func testALongReplyTextIsCutToFitWithAnEllipsis() {
        let fits = String(repeating: "a", count: 255)
        XCTAssertEqual(ShortString.replyText(fits), fits)
        let long = "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '" + String(repeating: "q", count: 300) + "'"
        let cut = ShortString.replyText(long)
        XCTAssertEqual(cut.utf8.count, 255)
        XCTAssertEqual(cut, String(long.prefix(252)) + "...")
        let wide = String(repeating: "é", count: 200)  // 2 bytes each
        let wideCut = ShortString.replyText(wide)
        XCTAssertEqual(wideCut, String(repeating: "é", count: 126) + "...")
        XCTAssertEqual(wideCut.utf8.count, 255)
    }

    /// The hard/soft classes of amqp0-9-1's constants.
    func testReplyCodeClasses() {
        let soft: [ReplyCode] = [.contentTooLarge, .noRoute, .noConsumers, .accessRefused, .notFound, .resourceLocked, .preconditionFailed]
        let hard: [ReplyCode] = [
            .connectionForced, .invalidPath, .frameError, .syntaxError, .commandInvalid, .channelError, .unexpectedFrame,
            .resourceError, .notAllowed, .notImplemented, .internalError,
        ]
        for code in soft {
            XCTAssertFalse(code.isHardError, "\(code)")
        }
        for code in hard {
            XCTAssertTrue(code.isHardError, "\(code)")
        }
        XCTAssertFalse(ReplyCode.replySuccess.isHardError)
        XCTAssertEqual(soft.map(\.rawValue), [311, 312, 313, 403, 404, 405, 406])
        XCTAssertEqual(hard.map(\.rawValue), [320, 402, 501, 502, 503, 504, 505, 506, 530, 540, 541])
        XCTAssertEqual(ReplyCode.notFound.name, "NOT_FOUND")
        XCTAssertNil(ReplyCode(rawValue: 999).name)
        XCTAssertEqual(ReplyCode.accessRefused.description, "403 ACCESS_REFUSED")
    }

    func testEveryErrorMapsToItsReplyCode() {
        let publish = MethodID(classID: 60, methodID: 40)
        let cases: [(AMQPError, UInt16)] = [
            (.frameTypeUnknown(9), 501),
            (.frameTooLarge(payloadSize: 1 << 20, frameSizeMax: 4096), 501),
            (.frameEndInvalid(0), 501),
            (.heartbeatInvalid(channel: 1, payloadSize: 0), 501),
            (.bodyExceedsDeclaredSize(channel: 1, bodySize: 1, received: 2), 501),
            (.syntaxError(.truncated, method: publish), 502),
            (.syntaxError(.trailingBytes(count: 1), method: nil), 502),
            (.syntaxError(.shortStringTooLong(byteCount: 300), method: nil), 502),
            (.syntaxError(.shortStringNotUTF8, method: nil), 502),
            (.syntaxError(.fieldTypeUnknown(0), method: nil), 502),
            (.syntaxError(.nestingTooDeep, method: nil), 502),
            (.syntaxError(.propertyFlagsUnknown(2), method: nil), 502),
            (.methodOnWrongChannel(publish, channel: 0), 503),
            (.channelOutOfRange(channel: 9, channelMax: 8), 504),
            (.unexpectedFrame(.contentOnChannelZero, channel: 0), 505),
            (.unexpectedFrame(.contentHeaderWithoutMethod, channel: 1), 505),
            (.unexpectedFrame(.contentBodyWithoutHeader, channel: 1), 505),
            (.unexpectedFrame(.contentHeaderDuringBody, channel: 1), 505),
            (.unexpectedFrame(.methodDuringContent(publish), channel: 1), 505),
            (.unexpectedFrame(.contentHeaderClassMismatch(expected: 60, received: 10), channel: 1), 505),
            (.unexpectedFrame(.contentHeaderWeightNonZero(1), channel: 1), 505),
            (.methodUnknown(MethodID(classID: 30, methodID: 10)), 540),
            (.messageTooLarge(bodySize: 2, messageSizeMax: 1, method: publish), 406),
        ]
        for (error, code) in cases {
            XCTAssertEqual(error.replyCode.rawValue, code, "\(error)")
            XCTAssertEqual(error.isHardError, code != 406, "\(error)")
            XCTAssertTrue(error.replyText.hasPrefix(error.replyCode.name! + " - "), error.replyText)
            XCTAssertLessThanOrEqual(error.replyText.utf8.count, 255)
        }
    }

    func testReplyTextNamesTheMethodAndFitsAShortString() {
        let error = AMQPError.syntaxError(.fieldTypeUnknown(0x7A), method: MethodID(classID: 50, methodID: 10))
        XCTAssertEqual(error.replyText, "SYNTAX_ERROR - unknown field type 122 in 50.10")
        XCTAssertEqual(error.classID, 50)
        XCTAssertEqual(error.methodID, 10)
        XCTAssertEqual(AMQPError.frameEndInvalid(1).classID, 0)
        XCTAssertEqual(
            AMQPError.frameTooLarge(payloadSize: 5000, frameSizeMax: 4096).replyText,
            "FRAME_ERROR - frame size 5008 is larger than negotiated frame-max 4096"
        )
    }

    func testCloseMethodForHardAndSoftErrors() throws {
        let hard = AMQPError.methodUnknown(MethodID(classID: 60, methodID: 99))
        XCTAssertEqual(
            hard.closeMethod,
            .connection(.close(.init(replyCode: .notImplemented, replyText: "NOT_IMPLEMENTED - unknown method 60.99", classID: 60, methodID: 99)))
        )
        let soft = AMQPError.messageTooLarge(bodySize: 2, messageSizeMax: 1, method: MethodID(classID: 60, methodID: 40))
        guard case .channel(.close(let close)) = soft.closeMethod else {
            return XCTFail("not a channel.close")
        }
        XCTAssertEqual(close.replyCode, .preconditionFailed)
        XCTAssertEqual(close.classID, 60)
        XCTAssertEqual(close.methodID, 40)
        // And it encodes: the reply text always fits its shortstr.
        XCTAssertNoThrow(try encoded(.method(channel: 1, soft.closeMethod)))
    }
}
