import XCTest

@testable import Broker

/// A turn's acks proposed as few entries as the log allows, without reordering anything.
final class CoalescingTests: XCTestCase {
    private let orders = QueueName(vhost: "/", "orders")
    private let audit = QueueName(vhost: "/", "audit")

    func testConsecutiveSettlementsOfOneQueueBecomeOneInOrder() {
        let commands: [BrokerCommand] = [
            .settle(MessageBatch(queue: orders, ids: [1])), .settle(MessageBatch(queue: orders, ids: [2, 3])),
            .settle(MessageBatch(queue: audit, ids: [9])), .settle(MessageBatch(queue: orders, ids: [4])),
            .reject(MessageBatch(queue: orders, ids: [5]), timestamp: 7), .settle(MessageBatch(queue: orders, ids: [6])),
            .settle(MessageBatch(queue: orders, ids: [7])),
        ]
        XCTAssertEqual(BrokerCommand.coalescingSettlements(commands, idsMax: 100), [
            .settle(MessageBatch(queue: orders, ids: [1, 2, 3])), .settle(MessageBatch(queue: audit, ids: [9])),
            .settle(MessageBatch(queue: orders, ids: [4])), .reject(MessageBatch(queue: orders, ids: [5]), timestamp: 7),
            .settle(MessageBatch(queue: orders, ids: [6, 7])),
        ], "another queue's settlement or another command in between keeps its place")
    }

    func testAMergedSettlementStaysWithinTheIDBound() {
        let commands: [BrokerCommand] = (1...5).map { (n: MessageID) -> BrokerCommand in
            .settle(MessageBatch(queue: orders, ids: [n * 2, n * 2 + 1]))
        }
        let merged = BrokerCommand.coalescingSettlements(commands, idsMax: 4)
        XCTAssertEqual(merged, [BrokerCommand]([
            .settle(MessageBatch(queue: orders, ids: [2, 3, 4, 5])), .settle(MessageBatch(queue: orders, ids: [6, 7, 8, 9])),
            .settle(MessageBatch(queue: orders, ids: [10, 11])),
        ]))
        var limits = BrokerLimits()
        limits.commandMessageIDsMax = 4
        for command in merged { XCTAssertNoThrow(try BrokerCommand(decoding: command.encoded(), limits: limits)) }
    }
}
