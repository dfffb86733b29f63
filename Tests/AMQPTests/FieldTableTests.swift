import AMQP
import NIOCore
import XCTest

final class FieldTableTests: XCTestCase {
    /// A table with every type of RabbitMQ's errata, nested, as it goes on the wire.
    static let everyType: FieldTable = [
        "t": .bool(true),
        "b": .int8(-2),
        "B": .uint8(250),
        "s": .int16(-300),
        "u": .uint16(65_000),
        "I": .int32(-70_000),
        "i": .uint32(4_000_000_000),
        "l": .int64(-5_000_000_000),
        "f": .float(1.5),
        "d": .double(-0.25),
        "D": .decimal(scale: 2, value: -1234),
        "S": "text",
        "x": .byteArray([0x00, 0xFF]),
        "A": .array([.int32(1), "two", .array([.void]), .table(["k": .bool(false)])]),
        "T": .timestamp(1_700_000_000),
        "F": .table(["inner": .table(["deeper": .uint8(1)])]),
        "V": .void,
    ]

    static let everyTypeHex =
        "01 74 74 01"  // t: bool true
        + "01 62 62 fe"  // b: -2
        + "01 42 42 fa"  // B: 250
        + "01 73 73 fed4"  // s: -300
        + "01 75 75 fde8"  // u: 65000
        + "01 49 49 fffeee90"  // I: -70000
        + "01 69 69 ee6b2800"  // i: 4000000000
        + "01 6c 6c fffffffed5fa0e00"  // l: -5000000000
        + "01 66 66 3fc00000"  // f: 1.5
        + "01 64 64 bfd0000000000000"  // d: -0.25
        + "01 44 44 02 fffffb2e"  // D: scale 2, -1234
        + "01 53 53 00000004 74657874"  // S: "text"
        + "01 78 78 00000002 00ff"  // x: 00 ff
        + "01 41 41 0000001c"  // A: 28 bytes
        + "  49 00000001 53 00000003 74776f 41 00000001 56 46 00000004 01 6b 74 00"
        + "01 54 54 000000006553f100"  // T: 1700000000
        + "01 46 46 00000014"  // F: 20 bytes
        + "  05 696e6e6572 46 00000009 06 646565706572 42 01"
        + "01 56 56"  // V

    func testEveryTypeEncodesToKnownBytes() throws {
        var buffer = ByteBuffer()
        let publishHeader = ContentHeader(bodySize: 0, properties: BasicProperties(headers: Self.everyType))
        try FrameWriter.writeFrame(.header(channel: 1, publishHeader), into: &buffer)
        let tableBytes = ByteBuffer(hex: Self.everyTypeHex)
        // Header frame: 7-byte frame header, class, weight, body size, flags, table length.
        let tableStart = 7 + 2 + 2 + 8 + 2 + 4
        XCTAssertEqual(buffer.getInteger(at: tableStart - 4, as: UInt32.self), UInt32(tableBytes.readableBytes))
        XCTAssertEqual(buffer.getSlice(at: tableStart, length: tableBytes.readableBytes)?.hex, tableBytes.hex)
    }

    func testEveryTypeRoundTrips() throws {
        let header = ContentHeader(bodySize: 3, properties: BasicProperties(headers: Self.everyType))
        let frames = try parseAll(encoded(.header(channel: 9, header)))
        XCTAssertEqual(frames, [.header(channel: 9, header)])
    }

    func testOrderAndDuplicatesAreKept() throws {
        var table: FieldTable = ["z": "1", "a": "2", "m": "3"]
        table.append(name: "a", value: "4")
        let header = ContentHeader(bodySize: 0, properties: BasicProperties(headers: table))
        guard case .header(_, let decoded) = try parseAll(encoded(.header(channel: 1, header))).first else {
            return XCTFail("no header")
        }
        XCTAssertEqual(decoded.properties.headers?.map(\.name), ["z", "a", "m", "a"])
        XCTAssertEqual(decoded.properties.headers?["a"], "2")
    }

    func testSubscriptSetterReplacesInPlaceAndRemoves() {
        var table: FieldTable = ["x": "1", "y": "2"]
        table.append(name: "x", value: "3")
        table["x"] = "9"
        XCTAssertEqual(table.entries, [.init(name: "x", value: "9"), .init(name: "y", value: "2")])
        table["new"] = .void
        XCTAssertEqual(table.map(\.name), ["x", "y", "new"])
        table["y"] = nil
        XCTAssertEqual(table.map(\.name), ["x", "new"])
        XCTAssertEqual(table["x"]?.stringValue, "9")
        XCTAssertNil(table["missing"])
    }

    func testCapitalLIsReadAsASigned64BitIntegerLikeRabbitMQ() throws {
        let frames = try parseAll(Self.queueDeclare(tableHex: "01 6e 4c ffffffffffffffff"))
        XCTAssertEqual(frames, [.method(channel: 1, .queue(.declare(.init(queue: "q", arguments: ["n": .int64(-1)]))))])
    }

    func testBooleanIsTrueForAnyNonZeroOctet() throws {
        let frames = try parseAll(Self.queueDeclare(tableHex: "01 62 74 07"))
        XCTAssertEqual(frames, [.method(channel: 1, .queue(.declare(.init(queue: "q", arguments: ["b": .bool(true)]))))])
    }

    func testUnknownFieldTypeIsRejected() throws {
        // 'U' is in the 0-9-1 spec's list but not RabbitMQ's; nobody sends it.
        let error = assertThrowsAMQPError(.syntaxError) { try parseAll(Self.queueDeclare(tableHex: "01 75 55 0001")) }
        XCTAssertEqual(error, .syntaxError(.fieldTypeUnknown(UInt8(ascii: "U")), method: MethodID(classID: 50, methodID: 10)))
    }

    func testTableLongerThanItsPayloadIsRejected() throws {
        // The table says 200 bytes; the frame has 4.
        var frame = Self.queueDeclare(tableHex: "01 61 56 00")
        frame.setInteger(UInt32(200), at: 7 + 4 + 2 + 2 + 1)
        assertThrowsAMQPError(.syntaxError) { try parseAll(frame) }
    }

    func testNestingUpToTheLimitIsAccepted() throws {
        let table = Self.nested(depth: FieldTable.nestingDepthMax)
        let method = Method.queue(.declare(.init(queue: "q", arguments: table)))
        XCTAssertEqual(try parseAll(encoded(.method(channel: 1, method))), [.method(channel: 1, method)])
    }

    func testNestingBeyondTheLimitIsRejectedOnDecodeAndEncode() throws {
        let table = Self.nested(depth: FieldTable.nestingDepthMax + 1)
        let method = Method.queue(.declare(.init(queue: "q", arguments: table)))
        assertThrowsAMQPError(.syntaxError) { try encoded(.method(channel: 1, method)) }

        // Hand-built: arrays nested 10,000 deep, which would blow a naive recursive parser.
        let depth = 10_000
        var innermost = ByteBuffer()
        innermost.writeInteger(UInt32(0))
        for _ in 0..<depth {
            var outer = ByteBuffer()
            outer.writeInteger(UInt32(1 + innermost.readableBytes))
            outer.writeInteger(UInt8(ascii: "A"))
            outer.writeImmutableBuffer(innermost)
            innermost = outer
        }
        var payload = ByteBuffer(hex: "0032 000a 0000 0171 00")
        payload.writeInteger(UInt32(3 + innermost.readableBytes))  // The arguments table: one entry,
        payload.writeBytes([0x01, UInt8(ascii: "n"), UInt8(ascii: "A")])  // "n", an array,
        payload.writeImmutableBuffer(innermost)  // nested 10,000 deep.
        var frame = ByteBuffer(hex: "01 0001")
        frame.writeInteger(UInt32(payload.readableBytes))
        frame.writeBuffer(&payload)
        frame.writeInteger(Frame.endOctet)
        let error = assertThrowsAMQPError(.syntaxError) { try parseAll(frame, parser: FrameParser(frameSizeMax: 1 << 20)) }
        XCTAssertEqual(error, .syntaxError(.nestingTooDeep, method: MethodID(classID: 50, methodID: 10)))
    }

    func testStringValueAndLiteral() {
        XCTAssertEqual(FieldValue.string("quorum"), .longString(Array("quorum".utf8)))
        XCTAssertEqual(("quorum" as FieldValue).stringValue, "quorum")
        XCTAssertNil(FieldValue.longString([0xFF]).stringValue)
        XCTAssertNil(FieldValue.int32(1).stringValue)
    }

    // MARK: Helpers

    /// A table nested `depth` deep, counting itself: tables and arrays alternate.
    static func nested(depth: Int) -> FieldTable {
        var value = FieldValue.void
        for level in (2...depth).reversed() {
            value = level.isMultiple(of: 2) ? .array([value]) : .table(["n": value])
        }
        return ["n": value]
    }

    /// A queue.declare of "q" on channel 1 whose arguments table holds `tableHex`.
    static func queueDeclare(tableHex: String) -> ByteBuffer {
        let table = ByteBuffer(hex: tableHex)
        var payload = ByteBuffer(hex: "0032 000a 0000 0171 00")
        payload.writeInteger(UInt32(table.readableBytes))
        payload.writeImmutableBuffer(table)
        var frame = ByteBuffer(hex: "01 0001")
        frame.writeInteger(UInt32(payload.readableBytes))
        frame.writeBuffer(&payload)
        frame.writeInteger(Frame.endOctet)
        return frame
    }
}
