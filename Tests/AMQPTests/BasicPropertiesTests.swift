import AMQP
import NIOCore
import XCTest

final class BasicPropertiesTests: XCTestCase {
    static let allProperties = BasicProperties(
        contentType: "text/plain",
        contentEncoding: "utf-8",
        headers: ["a": .int32(1), "b": .array([.int32(1), "x"]), "d": .decimal(scale: 1, value: 15), "n": .void],
        deliveryMode: 2,
        priority: 5,
        correlationID: "c1",
        replyTo: "amq.rabbitmq.reply-to",
        expiration: "60000",
        messageID: "m1",
        timestamp: 1_700_000_000,
        type: "t",
        userID: "guest",
        appID: "app",
        clusterID: "cl"
    )

    /// pika 1.4.4: `pika.frame.Header(1, 11, pika.spec.BasicProperties(...)).marshal()` with
    /// every property set as in `allProperties`.
    static let pikaHeaderWithEveryProperty =
        "02000100000082003c0000000000000000000bfffc0a746578742f706c61696e057574662d3800000024016149000000010162"
        + "410000000b4900000001530000000178016444010000000f016e56020502633115616d712e7261626269746d712e7265706c79"
        + "2d746f053630303030026d31000000006553f10001740567756573740361707002636cce"

    /// pika 1.4.4: `pika.frame.Header(1, 0, pika.spec.BasicProperties()).marshal()`.
    static let pikaHeaderWithNoProperty = "0200010000000e003c000000000000000000000000ce"

    func testEveryPropertyMatchesPika() throws {
        let header = ContentHeader(bodySize: 11, properties: Self.allProperties)
        XCTAssertEqual(try encoded(.header(channel: 1, header)).hex, Self.pikaHeaderWithEveryProperty)
        XCTAssertEqual(try parseAll(ByteBuffer(hex: Self.pikaHeaderWithEveryProperty)), [.header(channel: 1, header)])
    }

    func testNoPropertyMatchesPika() throws {
        let header = ContentHeader(bodySize: 0)
        XCTAssertEqual(try encoded(.header(channel: 1, header)).hex, Self.pikaHeaderWithNoProperty)
        XCTAssertEqual(try parseAll(ByteBuffer(hex: Self.pikaHeaderWithNoProperty)), [.header(channel: 1, header)])
    }

    /// Each property alone, so a flag in the wrong bit cannot hide behind the others.
    func testEachPropertyAloneRoundTrips() throws {
        let setters: [(String, UInt16, (inout BasicProperties) -> Void)] = [
            ("contentType", 1 << 15, { $0.contentType = "a/b" }),
            ("contentEncoding", 1 << 14, { $0.contentEncoding = "gzip" }),
            ("headers", 1 << 13, { $0.headers = ["k": .void] }),
            ("deliveryMode", 1 << 12, { $0.deliveryMode = 1 }),
            ("priority", 1 << 11, { $0.priority = 9 }),
            ("correlationID", 1 << 10, { $0.correlationID = "c" }),
            ("replyTo", 1 << 9, { $0.replyTo = "r" }),
            ("expiration", 1 << 8, { $0.expiration = "1" }),
            ("messageID", 1 << 7, { $0.messageID = "m" }),
            ("timestamp", 1 << 6, { $0.timestamp = 1 }),
            ("type", 1 << 5, { $0.type = "t" }),
            ("userID", 1 << 4, { $0.userID = "u" }),
            ("appID", 1 << 3, { $0.appID = "a" }),
            ("clusterID", 1 << 2, { $0.clusterID = "" }),
        ]
        for (name, flag, set) in setters {
            var properties = BasicProperties()
            set(&properties)
            let header = ContentHeader(bodySize: 1, properties: properties)
            let bytes = try encoded(.header(channel: 2, header))
            XCTAssertEqual(bytes.getInteger(at: 7 + 12, as: UInt16.self), flag, name)
            XCTAssertEqual(try parseAll(bytes), [.header(channel: 2, header)], name)
        }
    }

    func testContinuationWordsThatFlagNothingAreAccepted() throws {
        // Flags: content-type + continuation, then a word with continuation only, then 0.
        let bytes = Self.header(propertiesHex: "8001 0001 0000 01 61")
        XCTAssertEqual(
            try parseAll(bytes),
            [.header(channel: 1, ContentHeader(bodySize: 0, properties: BasicProperties(contentType: "a")))]
        )
    }

    func testContinuationWordThatFlagsAPropertyIsRejected() throws {
        let error = assertThrowsAMQPError(.syntaxError) { try parseAll(Self.header(propertiesHex: "0001 8000")) }
        XCTAssertEqual(error, .syntaxError(.propertyFlagsUnknown(0x8000), method: nil))
    }

    func testFifteenthPropertyFlagIsRejected() throws {
        let error = assertThrowsAMQPError(.syntaxError) { try parseAll(Self.header(propertiesHex: "0002")) }
        XCTAssertEqual(error, .syntaxError(.propertyFlagsUnknown(0x0002), method: nil))
    }

    func testContinuationWithoutAnotherWordIsRejected() throws {
        assertThrowsAMQPError(.syntaxError) { try parseAll(Self.header(propertiesHex: "0001")) }
    }

    func testBytesAfterThePropertiesAreRejected() throws {
        let error = assertThrowsAMQPError(.syntaxError) { try parseAll(Self.header(propertiesHex: "0000 00")) }
        XCTAssertEqual(error, .syntaxError(.trailingBytes(count: 1), method: nil))
    }

    func testTruncatedPropertyIsRejected() throws {
        // content-type announced as 5 bytes, 1 present.
        assertThrowsAMQPError(.syntaxError) { try parseAll(Self.header(propertiesHex: "8000 05 61")) }
    }

    /// A content header frame on channel 1, class 60, weight 0, body size 0.
    static func header(propertiesHex: String) -> ByteBuffer {
        var payload = ByteBuffer(hex: "003c 0000 0000000000000000")
        payload.writeImmutableBuffer(ByteBuffer(hex: propertiesHex))
        var frame = ByteBuffer(hex: "02 0001")
        frame.writeInteger(UInt32(payload.readableBytes))
        frame.writeBuffer(&payload)
        frame.writeInteger(Frame.endOctet)
        return frame
    }
}
