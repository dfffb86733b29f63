import Foundation
import Logging
import Synchronization
import XCTest

@testable import LogLines

/// A node's JSON log lines: one valid object a line, with the fields a log shipper reads.
final class JSONLogHandlerTests: XCTestCase {
    func testEachEventIsOneJSONObjectOnOneLineWithItsFieldsAndMetadata() throws {
        let lines = Lines()
        let moment = Date(timeIntervalSince1970: 1_796_400_000.25)
        var logger = Logger(label: "berth.node") { label in
            JSONLogHandler(label: label, level: .info, write: { line in lines.value.withLock { $0.append(line) } }, now: { moment })
        }
        logger[metadataKey: "node"] = "2"
        logger.debug("not at info")
        logger.warning("refused an AMQP login", metadata: [
            "user": "o\"brien\n", "peer": .stringConvertible(42), "tags": ["a", "b"], "limits": ["max": "1"],
        ])
        logger.info("leader known")

        let written = lines.value.withLock { $0 }
        XCTAssertEqual(written.count, 2, "a debug event under the info level is not written")
        for line in written {
            XCTAssertTrue(line.hasSuffix("}\n"))
            XCTAssertEqual(line.filter { $0 == "\n" }.count, 1, "one line an event, whatever its text holds")
        }
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(written[0].utf8)) as? [String: Any])
        XCTAssertEqual(object["time"] as? String, "2026-12-04T16:00:00.250Z")
        XCTAssertEqual(object["level"] as? String, "warning")
        XCTAssertEqual(object["logger"] as? String, "berth.node")
        XCTAssertEqual(object["message"] as? String, "refused an AMQP login")
        XCTAssertEqual(object["source"] as? String, "LogLinesTests")
        let metadata = try XCTUnwrap(object["metadata"] as? [String: Any])
        XCTAssertEqual(metadata["user"] as? String, "o\"brien\n")
        XCTAssertEqual(metadata["peer"] as? String, "42")
        XCTAssertEqual(metadata["node"] as? String, "2", "the logger's own metadata too")
        XCTAssertEqual(metadata["tags"] as? [String], ["a", "b"])
        XCTAssertEqual(metadata["limits"] as? [String: String], ["max": "1"])
        let plain = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(written[1].utf8)) as? [String: Any])
        XCTAssertEqual(plain["message"] as? String, "leader known")
    }

    func testControlCharactersAreEscapedAsRFC8259Says() {
        XCTAssertEqual(JSONLogHandler.quoted("a\u{01}b\tc\\d\"e"), #""a\u0001b\tc\\d\"e""#)
        XCTAssertEqual(JSONLogHandler.quoted("ünïcode ✓"), "\"ünïcode ✓\"")
    }

    func testTheTextFormatKeepsTheLevelAsked() {
        XCTAssertEqual(LogFormat.text.makeHandler(label: "x", level: .error).logLevel, .error)
        XCTAssertEqual(LogFormat.json.makeHandler(label: "x", level: .debug).logLevel, .debug)
    }
}

private final class Lines: Sendable {
    let value = Mutex<[String]>([])
}
