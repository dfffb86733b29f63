import XCTest

@testable import Broker

/// Seeded random runs of state plus dispatcher: publishes, consumers coming and going, acks,
/// nacks, channels closing, proposals committed late or lost with the leader that made them.
/// Checks at every step that no message is out twice at once and nothing settled comes back,
/// and at the end that every published message was acknowledged exactly once: nothing lost,
/// nothing unexpected.
final class RandomizedDeliveryTests: XCTestCase {
    func testAtLeastOnceUnderChurn() throws {
        for seed in 1...40 { try run(seed: UInt64(seed)) }
    }

    private func run(seed: UInt64) throws {
        var random = TestRandom(state: seed)
        var h = Harness()
        h.declareQueue("plain")
        h.declareQueue("prio", arguments: ["x-max-priority": .int32(3)])
        h.declareQueue("single", arguments: ["x-single-active-consumer": true])
        let queues = ["plain", "prio", "single"]
        var dispatcher = Dispatcher(state: h.state, now: h.now)
        var pending: [BrokerCommand] = []
        var published: [MessageID: String] = [:]
        var acked: [String: Int] = [:]
        var outstanding: [ChannelID: [UInt64: Delivery]] = [:]
        var lastFresh: [QueueName: MessageID] = [:]
        var counter = 0
        let channels = (1...4).map { ChannelID(connection: "c\($0 % 2)", number: UInt16($0)) }

        func commit(_ command: BrokerCommand) {
            let effects = h.apply(command)
            for case .published(let outcome) in effects {
                for copy in outcome.stored { published[copy.id] = "\(copy.queue.name)/\(String(decoding: outcome.publisherToken, as: UTF8.self))" }
            }
            for case .removed(_, let ids, let reason) in effects where reason == .settled {
                for id in ids { acked[published[id] ?? "?", default: 0] += 1 }
            }
            _ = dispatcher.observe(effects, state: h.state)
        }

        for _ in 0..<300 {
            h.now += 1
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<25:
                counter += 1
                let queue = queues.randomElement(using: &random)!
                let message = Message(
                    exchange: "", routingKey: queue, properties: BasicProperties(priority: UInt8.random(in: 0...4, using: &random)),
                    body: Array("m\(counter)".utf8))
                commit(.enqueue(Enqueue(timestamp: h.now, messages: [Publish(message: message, queues: [q(queue)], publisherToken: Array("m\(counter)".utf8))])))
            case 25..<32:
                let channel = channels.randomElement(using: &random)!
                try dispatcher.qos(channel: channel, prefetchCount: UInt16.random(in: 0...3, using: &random), global: Bool.random(using: &random))
                _ = try dispatcher.consume(
                    ConsumeRequest(channel: channel, queue: q(queues.randomElement(using: &random)!)), state: h.state, now: h.now)
            case 32..<55:
                var output = DispatchOutput()
                repeat {
                    output = dispatcher.dispatch(state: h.state, now: h.now)
                    for delivery in output.deliveries {
                        for other in outstanding.values {
                            XCTAssertFalse(other.values.contains { $0.messageID == delivery.messageID && $0.queue == delivery.queue }, "seed \(seed): out twice")
                        }
                        XCTAssertNil(acked[published[delivery.messageID] ?? "?"], "seed \(seed): settled message delivered again")
                        if !delivery.redelivered, delivery.queue.name == "plain" {
                            XCTAssertGreaterThan(delivery.messageID, lastFresh[delivery.queue] ?? 0, "seed \(seed): FIFO")
                            lastFresh[delivery.queue] = delivery.messageID
                        }
                        outstanding[delivery.channel, default: [:]][delivery.deliveryTag] = delivery
                    }
                    pending += output.proposals
                } while output.more
            case 55..<70:
                guard let channel = channels.randomElement(using: &random), let tag = outstanding[channel]?.keys.randomElement(using: &random) else { continue }
                let multiple = Bool.random(using: &random)
                pending += try dispatcher.ack(channel: channel, deliveryTag: tag, multiple: multiple)
                outstanding[channel] = outstanding[channel]?.filter { multiple ? $0.key > tag : $0.key != tag }
            case 70..<78:
                guard let channel = channels.randomElement(using: &random), let tag = outstanding[channel]?.keys.randomElement(using: &random) else { continue }
                pending += try dispatcher.nack(channel: channel, deliveryTag: tag, multiple: false, requeue: true, now: h.now)
                outstanding[channel]?[tag] = nil
            case 78..<83:
                let channel = channels.randomElement(using: &random)!
                pending += dispatcher.closeChannel(channel, state: h.state, now: h.now)
                outstanding[channel] = nil
            case 83..<97:
                pending.shuffle(using: &random)
                let take = Int.random(in: 0...pending.count, using: &random)
                let ready = Array(pending.prefix(take))
                pending.removeFirst(take)
                ready.forEach(commit)
            default:
                // Leader change: uncommitted proposals are lost, clients reconnect.
                pending = []
                outstanding = [:]
                dispatcher = Dispatcher(state: h.state, now: h.now)
            }
        }
        // Heal: commit what is pending, then a fresh leader drains everything with acks.
        pending.forEach(commit)
        dispatcher = Dispatcher(state: h.state, now: h.now)
        let drain = ChannelID(connection: "drain", number: 1)
        for queue in queues { _ = try dispatcher.consume(ConsumeRequest(channel: drain, queue: q(queue)), state: h.state, now: h.now) }
        var rounds = 0
        while h.state.allQueueNames.contains(where: { (h.state.queue($0)?.messageCount ?? 0) > 0 }), rounds < 100 {
            rounds += 1
            let output = dispatcher.dispatch(state: h.state, now: h.now)
            output.proposals.forEach(commit)
            if !output.deliveries.isEmpty { try dispatcher.ack(channel: drain, deliveryTag: 0, multiple: true).forEach(commit) }
        }
        XCTAssertEqual(Set(acked.keys), Set(published.values), "seed \(seed): lost or unexpected")
        XCTAssertEqual(acked.values.filter { $0 != 1 }, [], "seed \(seed): settled twice")
    }
}
