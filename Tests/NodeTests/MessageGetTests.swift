import AMQP
import Client
import Foundation
import Hummingbird
import NIOCore
import StatusAPI
import XCTest

@testable import Node

/// A management API get as asked and as it shows messages: RabbitMQ's ackmodes, encodings
/// and truncation, with no node.
final class MessageGetTests: XCTestCase {
    private func message(_ body: [UInt8], properties: BasicProperties = BasicProperties()) -> GetResponse {
        GetResponse(
            deliveryTag: 1, redelivered: true, exchange: "", routingKey: "q", messageCount: 3, properties: properties,
            body: ByteBuffer(bytes: body))
    }

    func testEachAckmodeSettlesAsRabbitMQs() throws {
        let settlements = try ["ack_requeue_true", "reject_requeue_true", "ack_requeue_false", "reject_requeue_false"].map {
            try MessageGet(QueueGetRequest(count: 1, ackmode: $0, encoding: "auto")).settlement
        }
        XCTAssertEqual(settlements, [.requeue, .requeue, .ack, .reject])
    }

    func testABadAckmodeEncodingCountOrTruncateIsRefused() {
        let refused = [
            QueueGetRequest(count: 1, ackmode: "ack", encoding: "auto"),
            QueueGetRequest(count: 1, ackmode: "ack_requeue_true", encoding: "string"),
            QueueGetRequest(count: -1, ackmode: "ack_requeue_true", encoding: "auto"),
            QueueGetRequest(count: MessageGet.countMax + 1, ackmode: "ack_requeue_true", encoding: "auto"),
            QueueGetRequest(count: 1, ackmode: "ack_requeue_true", encoding: "auto", truncate: -1),
        ]
        for asked in refused {
            XCTAssertThrowsError(try MessageGet(asked), "\(asked)")
        }
    }

    func testCountAndTruncateComeAsNumbersOrAsText() throws {
        let asText = try JSONDecoder().decode(
            QueueGetRequest.self, from: Data(#"{"count": "2", "ackmode": "ack_requeue_true", "encoding": "auto", "truncate": "5", "vhost": "/"}"#.utf8))
        XCTAssertEqual(asText, QueueGetRequest(count: 2, ackmode: "ack_requeue_true", encoding: "auto", truncate: 5))
        let asNumbers = try JSONDecoder().decode(QueueGetRequest.self, from: Data(#"{"count": 2, "ackmode": "x", "encoding": "auto"}"#.utf8))
        XCTAssertEqual(asNumbers, QueueGetRequest(count: 2, ackmode: "x", encoding: "auto"))
        XCTAssertThrowsError(try JSONDecoder().decode(QueueGetRequest.self, from: Data(#"{"ackmode": "x", "encoding": "auto"}"#.utf8)))
    }

    func testAutoShowsUTF8AsTextAndAnythingElseAsBase64() {
        let auto = MessageGet(count: 1, settlement: .requeue, encoding: .auto)
        let text = auto.shown(message(Array("héllo".utf8)))
        XCTAssertEqual([text.payload, text.payload_encoding], ["héllo", "string"])
        XCTAssertEqual(text.payload_bytes, 6)
        let binary = auto.shown(message([0xFF, 0x00]))
        XCTAssertEqual([binary.payload, binary.payload_encoding], ["/wA=", "base64"])
        let base64 = MessageGet(count: 1, settlement: .requeue, encoding: .base64).shown(message(Array("hi".utf8)))
        XCTAssertEqual([base64.payload, base64.payload_encoding], ["aGk=", "base64"])
    }

    func testTruncateCutsThePayloadButNotItsSizeAndACutCharacterIsBase64() {
        let cut = MessageGet(count: 1, settlement: .ack, encoding: .auto, truncate: 2)
        let ascii = cut.shown(message(Array("hello".utf8)))
        XCTAssertEqual([ascii.payload, ascii.payload_encoding], ["he", "string"])
        XCTAssertEqual(ascii.payload_bytes, 5)
        // "é" is two bytes: one of them is no character.
        let split = cut.shown(message(Array("hé".utf8)))
        XCTAssertEqual([split.payload, split.payload_encoding], [Data([0x68, 0xC3]).base64EncodedString(), "base64"])
    }

    func testPropertiesAreShownByRabbitMQsNamesAndNoneAsAnEmptyList() throws {
        var properties = BasicProperties(contentType: "text/plain", deliveryMode: 2, messageID: "m1", timestamp: 1_700_000_000)
        properties.headers = FieldTable([FieldTable.Entry(name: "n", value: .int32(7))])
        let shown = MessageGet(count: 1, settlement: .ack, encoding: .auto).shown(message([], properties: properties))
        XCTAssertEqual(
            shown.properties,
            ["content_type": .string("text/plain"), "delivery_mode": .int(2), "message_id": .string("m1"), "timestamp": .int(1_700_000_000),
             "headers": .object(["n": .int(7)])])
        XCTAssertTrue(shown.redelivered)
        XCTAssertEqual([shown.routing_key, "\(shown.message_count)"], ["q", "3"])

        let bare = MessageGet(count: 1, settlement: .ack, encoding: .auto).shown(message([]))
        let encoded = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(bare)) as? [String: Any]
        let listed = encoded?["properties"] as? [Any]
        XCTAssertEqual(listed?.count, 0, "RabbitMQ's empty property list")
    }

    func testTheBrokersRefusalsAnswer404Or403AndAnUnreachableBrokerNothing() throws {
        let missing = ClientError.channelClosedByServer(channel: 1, CloseReason(replyCode: .notFound, replyText: "NOT_FOUND - no queue 'q'"))
        XCTAssertEqual(try ManagementRoutes.sessionRefusal(missing)?.status, .notFound)
        let refused = ClientError.channelClosedByServer(channel: 1, CloseReason(replyCode: .accessRefused, replyText: "ACCESS_REFUSED"))
        XCTAssertEqual(try ManagementRoutes.sessionRefusal(refused)?.status, .forbidden)
        let vhost = ClientError.connectFailed([
            HostFailure(endpoint: Endpoint(host: "127.0.0.1", port: 1), error: .connectionClosedByServer(CloseReason(replyCode: .notAllowed, replyText: "NOT_ALLOWED")))
        ])
        XCTAssertEqual(try ManagementRoutes.sessionRefusal(vhost)?.status, .forbidden)
        let inUse = ClientError.channelClosedByServer(channel: 1, CloseReason(replyCode: .resourceLocked, replyText: "RESOURCE_LOCKED"))
        XCTAssertEqual(try ManagementRoutes.sessionRefusal(inUse)?.status, .badRequest)
        XCTAssertNil(try ManagementRoutes.sessionRefusal(.timedOut("basic.get")))
        XCTAssertNil(try ManagementRoutes.sessionRefusal(.connectFailed([HostFailure(endpoint: Endpoint(host: "127.0.0.1", port: 1), error: .io("refused"))])))
    }
}
