import AMQP
import Broker
import Client
import NIOCore
import XCTest

@testable import Node

/// A message an x-delayed-message exchange holds survives a restart from a snapshot whose
/// log no longer has its publish, with the store reclaimed meanwhile, and fires on time.
final class DelayedMessageRestartTests: XCTestCase {
    func testAHeldMessageFiresAfterARestartFromASnapshot() async throws {
        let cluster = LocalCluster(name: "delayed-restart") {
            $0.snapshotEveryEntries = 20
            $0.entriesRetainedAfterSnapshot = 0
        }
        var node = try await cluster.startLone()
        var connection = try await cluster.connect([node])
        var channel = try await connection.openChannel()
        try await channel.exchangeDeclare("later", type: "x-delayed-message", durable: true, arguments: ["x-delayed-type": .longString(Array("direct".utf8))])
        _ = try await channel.queueDeclare("held", durable: true)
        _ = try await channel.queueDeclare("filler", durable: true)
        try await channel.queueBind(queue: "held", exchange: "later", routingKey: "k")
        try await channel.confirmSelect(window: 8)
        let delay = Duration.seconds(8)
        let published = ContinuousClock.now
        try await channel.publish(
            exchange: "later", routingKey: "k", body: ByteBuffer(string: "held through a snapshot"),
            properties: BasicProperties(headers: ["x-delay": .int32(8_000)], deliveryMode: 2)
        ).confirmed()
        let heldAt = try await node.nodeStatus().appliedIndex
        // One entry per publish, until the log starts after the held one's.
        var filled = 0
        while try await node.nodeStatus().firstIndex <= heldAt {
            guard filled < 2_000 else { return XCTFail("the node never compacted its log") }
            try await channel.publish(routingKey: "filler", body: ByteBuffer(string: "\(filled)")).confirmed()
            filled += 1
        }
        let held = try await node.statusReader.read { core in core.state.delayedMessageCount }
        XCTAssertEqual(held, 1, "still held when the node stops")
        XCTAssertLessThan(ContinuousClock.now - published, delay, "the restart must come before it is due")
        await connection.close()
        try await node.shutdown()

        node = try await cluster.startLone()
        connection = try await cluster.connect([node])
        channel = try await connection.openChannel()
        let got = try await waitFor("the held message", seconds: 20) { () -> GetResponse? in
            try await channel.get(queue: "held", noAck: true)
        }
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - published, delay - .milliseconds(20), "not before it is due")
        XCTAssertEqual(String(buffer: got.body), "held through a snapshot")
        XCTAssertEqual(got.properties.headers?["x-delay"], .int32(-8_000))
        await connection.close()
        try await node.shutdown()
        try await cluster.tearDown()
    }
}
