import AMQP
import ArgumentParser
import Client
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// `berth bench delayed`: what holding a message costs. Publishes `count` persistent messages
/// with confirms into a quorum queue, first straight to it and then held back, with a
/// consumer reading all the while: through an x-delayed-message exchange (each `x-delay` the
/// time left until one instant), or with `--held-by delivery-time` straight to the queue with
/// that instant as each message's `x-opt-delivery-time`. They all fall due at once, so how
/// fast they come out after it is the rate the cluster releases them at, and how late each
/// comes is its lateness.
struct DelayedBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delayed",
        abstract: "Publish through an x-delayed-message exchange beside a plain queue; report scheduled/s, fired/s and lateness.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Messages in each phase (1...1000000).")
    var count = 20_000

    @Option(name: .customLong("due-ms"), help: "When the delayed messages fall due, in ms after their first publish (100...3600000); it must leave time to publish them all.")
    var dueMs: Int64 = 10_000

    @Option(help: "Confirms in flight (2...16384).")
    var window = 256

    @Option(help: "Body bytes (8...1048576).")
    var size = 1_024

    enum HeldBy: String, CaseIterable, ExpressibleByArgument {
        /// An `x-delayed-message` exchange, by each message's `x-delay`.
        case exchange
        /// The quorum queue itself, by each message's `x-opt-delivery-time`.
        case deliveryTime = "delivery-time"
    }

    @Option(name: .customLong("held-by"), help: "What holds the delayed messages back: exchange (x-delayed-message, x-delay) or delivery-time (the quorum queue, x-opt-delivery-time).")
    var heldBy = HeldBy.exchange

    static let name = "berth-bench-delayed"

    func validate() throws {
        guard (1...1_000_000).contains(count) else { throw ValidationError("--count must be in 1...1000000") }
        guard (100...3_600_000).contains(dueMs) else { throw ValidationError("--due-ms must be in 100...3600000") }
        guard (2...16_384).contains(window) else { throw ValidationError("--window must be in 2...16384") }
        guard (8...1_048_576).contains(size) else { throw ValidationError("--size must be in 8...1048576") }
    }

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let hosts = try connection.hosts()
        let credentials = Credentials(username: connection.user, password: connection.password)
        let publisher = try await AMQPConnection.connect(hosts: hosts, credentials: credentials, on: group)
        let consumer = try await AMQPConnection.connect(hosts: hosts, credentials: credentials, on: group)
        let channel = try await publisher.openChannel()
        _ = try? await channel.queueDelete(Self.name)
        try? await channel.exchangeDelete(Self.name)
        _ = try await channel.queueDeclare(Self.name, durable: true, arguments: ["x-queue-type": .longString(Array("quorum".utf8))])
        try await channel.exchangeDeclare(
            Self.name, type: "x-delayed-message", durable: true, arguments: ["x-delayed-type": .longString(Array("direct".utf8))])
        try await channel.queueBind(queue: Self.name, exchange: Self.name, routingKey: Self.name)
        try await channel.confirmSelect(window: window)

        let arrivals = Arrivals(count: count)
        let reading = Task { try await read(on: consumer, into: arrivals) }

        let plainStart = ContinuousClock.now
        try await publish(on: channel, phase: 0, delay: { _ in nil })
        let plainConfirmed = ContinuousClock.now - plainStart
        try await arrivals.wait(for: count, within: .seconds(120))
        let plainDelivered = ContinuousClock.now - plainStart
        say("plain queue: \(rate(count, plainConfirmed)) confirmed/s, all \(count) delivered \(milliseconds(plainDelivered)) ms after the first publish")

        let delayedStart = ContinuousClock.now
        let due = delayedStart + .milliseconds(dueMs)
        let dueEpochMs = Int64(Date().timeIntervalSince1970 * 1_000) + dueMs
        try await publish(on: channel, phase: 1) { _ in
            if heldBy == .deliveryTime { return dueEpochMs }
            let left = due - ContinuousClock.now
            return max(1, Int64(left.components.seconds) * 1_000 + left.components.attoseconds / 1_000_000_000_000_000)
        }
        let scheduled = ContinuousClock.now - delayedStart
        guard ContinuousClock.now < due else {
            reading.cancel()
            throw ValidationError("publishing took \(milliseconds(scheduled)) ms, past --due-ms \(dueMs): raise it")
        }
        let early = arrivals.delivered(phase: 1)
        try await arrivals.wait(for: 2 * count, within: .milliseconds(dueMs) + .seconds(300))
        let late = arrivals.lateness(phase: 1, after: due)
        reading.cancel()
        _ = try? await channel.queueDelete(Self.name)
        try? await channel.exchangeDelete(Self.name)
        await publisher.close()
        await consumer.close()
        try await group.shutdownGracefully()

        say("delayed (held by \(heldBy.rawValue)): \(rate(count, scheduled)) scheduled/s (confirmed), \(early) delivered before they were due")
        let span = late.max() ?? .zero
        say("fired: all \(count) within \(milliseconds(span)) ms of falling due: \(rate(count, span)) fired/s")
        let sorted = late.sorted()
        say("lateness: p50 \(milliseconds(sorted[sorted.count / 2])) ms, p99 \(milliseconds(sorted[sorted.count * 99 / 100])) ms, max \(milliseconds(span)) ms")
    }

    /// Publishes the phase's messages, each body naming its phase and number, held back by
    /// what `delay` gives: an `x-delay` through the exchange, or an `x-opt-delivery-time`
    /// straight to the queue (nil: straight to the queue, not held).
    private func publish(on channel: AMQPChannel, phase: Int, delay: (Int) -> Int64?) async throws {
        try await channel.publishConfirmed(count: count, window: window) { number in
            var body = ByteBuffer(string: "\(phase) \(number) ")
            body.writeRepeatingByte(UInt8(ascii: "d"), count: max(0, size - body.readableBytes))
            guard let milliseconds = delay(number) else {
                return OutgoingMessage(routingKey: Self.name, body: body, properties: BasicProperties(deliveryMode: 2))
            }
            if heldBy == .deliveryTime {
                return OutgoingMessage(
                    routingKey: Self.name, body: body,
                    properties: BasicProperties(headers: ["x-opt-delivery-time": .int64(milliseconds)], deliveryMode: 2))
            }
            return OutgoingMessage(
                exchange: Self.name, routingKey: Self.name, body: body,
                properties: BasicProperties(headers: ["x-delay": .int64(milliseconds)], deliveryMode: 2))
        }
    }

    private func read(on connection: AMQPConnection, into arrivals: Arrivals) async throws {
        let channel = try await connection.openChannel()
        try await channel.qos(prefetchCount: 512)
        var sinceAck = 0
        for try await delivery in try await channel.consume(queue: Self.name) {
            let words = String(buffer: delivery.body).split(separator: " ", maxSplits: 2)
            if words.count >= 2, let phase = Int(words[0]), let number = Int(words[1]) { arrivals.record(phase: phase, number: number) }
            sinceAck += 1
            if sinceAck >= 128 {
                try await channel.ack(deliveryTag: delivery.deliveryTag, multiple: true)
                sinceAck = 0
            }
        }
    }

    private func say(_ line: String) { print(line) }

    private func rate(_ count: Int, _ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return seconds > 0 ? String(format: "%.0f", Double(count) / seconds) : "-"
    }

    private func milliseconds(_ duration: Duration) -> String {
        String(format: "%.1f", Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15)
    }
}

/// When each message of each phase arrived, first copies only.
private final class Arrivals: Sendable {
    private let state: Mutex<(times: [[ContinuousClock.Instant?]], total: Int)>

    init(count: Int) {
        state = Mutex((Array(repeating: Array(repeating: nil, count: count), count: 2), 0))
    }

    func record(phase: Int, number: Int) {
        let now = ContinuousClock.now
        state.withLock { state in
            guard state.times.indices.contains(phase), state.times[phase].indices.contains(number), state.times[phase][number] == nil else { return }
            state.times[phase][number] = now
            state.total += 1
        }
    }

    func delivered(phase: Int) -> Int { state.withLock { $0.times[phase].count { $0 != nil } } }

    /// Until `total` first copies arrived, or ETIMEDOUT.
    func wait(for total: Int, within timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while state.withLock({ $0.total }) < total {
            guard ContinuousClock.now < deadline else { throw ValidationError("only \(state.withLock { $0.total }) of \(total) arrived") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// How long after `due` each message of the phase arrived (zero for one that came early).
    func lateness(phase: Int, after due: ContinuousClock.Instant) -> [Duration] {
        state.withLock { $0.times[phase].compactMap { $0.map { max(.zero, $0 - due) } } }
    }
}
