import Foundation
import StatusAPI
import XCTest

@testable import berth

final class InfoListingTests: XCTestCase {
    private let queues = [
        QueueInfo(
            name: "orders", vhost: "/", durable: true, auto_delete: false, exclusive: false, arguments: ["x-queue-type": .string("quorum")],
            type: "quorum", leader: "berth@1", members: ["berth@1", "berth@2"], online: ["berth@1", "berth@2"], messages: 12, messages_ready: 10,
            messages_unacknowledged: 2, consumers: 1),
        QueueInfo(
            name: "q", vhost: "/", durable: false, auto_delete: true, exclusive: false, arguments: [:], type: "quorum", leader: "berth@1",
            members: ["berth@1"], online: ["berth@1"], messages: 0, messages_ready: 0, messages_unacknowledged: 0, consumers: 0),
    ]

    // MARK: Columns

    func testNoColumnsShowsRabbitmqctlsDefaults() throws {
        XCTAssertEqual(try InfoListing.queues.render(queues, columns: [], as: .table), """
            name    messages
            orders  12
            q       0

            """)
    }

    func testColumnsAreShownInTheOrderAsked() throws {
        XCTAssertEqual(try InfoListing.queues.render(queues, columns: ["consumers", "messages_unacknowledged", "name"], as: .table), """
            consumers  messages_unacknowledged  name
            1          2                        orders
            0          0                        q

            """)
    }

    func testTheWidestCellOfAColumnSetsItsWidth() throws {
        let listing = InfoListing<(String, String)>("list_pairs", defaults: ["a", "b"], [("a", { .string($0.0) }), ("b", { .string($0.1) })])
        XCTAssertEqual(try listing.render([("x", "1"), ("a much longer cell", "2")], columns: [], as: .table), """
            a                   b
            x                   1
            a much longer cell  2

            """)
    }

    func testListsAndTablesAreCompactJSONInATableAndBooleansAreWords() throws {
        XCTAssertEqual(try InfoListing.queues.render(Array(queues.prefix(1)), columns: ["durable", "auto_delete", "arguments", "members"], as: .table), """
            durable  auto_delete  arguments                  members
            true     false        {"x-queue-type":"quorum"}  ["berth@1","berth@2"]

            """)
    }

    func testAnEmptyListingIsTheHeaderAlone() throws {
        XCTAssertEqual(try InfoListing.queues.render([], columns: ["name", "type"], as: .table), "name  type\n")
    }

    // MARK: JSON

    func testJSONIsAnArrayOfObjectsWithTheChosenColumnsInOrderAndTheirTypes() throws {
        let text = try InfoListing.queues.render(queues, columns: ["name", "messages", "durable", "members", "arguments"], as: .json)
        XCTAssertEqual(text, """
            [
            {"name":"orders","messages":12,"durable":true,"members":["berth@1","berth@2"],"arguments":{"x-queue-type":"quorum"}},
            {"name":"q","messages":0,"durable":false,"members":["berth@1"],"arguments":{}}
            ]

            """)
        // And it is JSON a parser takes, with those values.
        let parsed = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
        XCTAssertEqual(parsed.map { $0["name"] as? String }, ["orders", "q"])
        XCTAssertEqual(parsed.map { $0["messages"] as? Int }, [12, 0])
    }

    func testJSONEscapesWhatAStringMustEscapeAndLeavesSlashes() throws {
        let listing = InfoListing<String>("list_names", defaults: ["name"], [("name", { .string($0) })])
        XCTAssertEqual(try listing.render(["a \"b\"\n/c"], columns: [], as: .json), "[\n{\"name\":\"a \\\"b\\\"\\n/c\"}\n]\n")
    }

    func testAnEmptyJSONListingIsAnEmptyArray() throws {
        XCTAssertEqual(try InfoListing.queues.render([], columns: [], as: .json), "[]\n")
    }

    // MARK: Errors

    func testAnUnknownColumnIsRefusedNamingTheKnownOnes() {
        XCTAssertThrowsError(try InfoListing.queues.render(queues, columns: ["name", "memory"], as: .table)) { error in
            XCTAssertEqual(error as? InfoListingError, .unknownColumn(command: "list_queues", column: "memory", known: InfoListing.queues.columns.map(\.name)))
            XCTAssertEqual("\(error)", """
                list_queues has no column 'memory'; its columns are: name, messages, messages_ready, messages_unacknowledged, consumers, \
                durable, auto_delete, arguments, type, leader, members
                """)
        }
    }

    func testAColumnAskedForTwiceIsRefused() {
        XCTAssertThrowsError(try InfoListing.exchanges.render([], columns: ["name", "name"], as: .json)) { error in
            XCTAssertEqual(error as? InfoListingError, .repeatedColumn(command: "list_exchanges", column: "name"))
        }
    }

    func testTheCommandRefusesAnUnknownColumnBeforeAskingAnyNode() {
        // Parsing runs validate(); no node listens on port 1, so reaching one would fail differently.
        XCTAssertThrowsError(try ListQueuesCommand.parseAsRoot(["name", "colour", "--http", "127.0.0.1:1"])) { error in
            XCTAssertTrue(ListQueuesCommand.message(for: error).contains("list_queues has no column 'colour'"), ListQueuesCommand.message(for: error))
            XCTAssertNotEqual(ListQueuesCommand.exitCode(for: error), .success)
        }
    }

    func testEveryRabbitmqctlInfoItemAskedForIsKnown() {
        XCTAssertEqual(InfoListing.queues.columns.map(\.name), [
            "name", "messages", "messages_ready", "messages_unacknowledged", "consumers", "durable", "auto_delete", "arguments", "type", "leader",
            "members",
        ])
        XCTAssertEqual(InfoListing.exchanges.columns.map(\.name), ["name", "type", "durable", "auto_delete", "internal", "arguments"])
        XCTAssertEqual(InfoListing.bindings.columns.map(\.name), [
            "source_name", "source_kind", "destination_name", "destination_kind", "routing_key", "arguments",
        ])
    }
}
