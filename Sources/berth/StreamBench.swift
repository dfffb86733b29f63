import AMQP
import ArgumentParser
import Client
import NIOCore
import NIOPosix

/// `berth bench stream`: what reading a log costs. Fills a stream and a quorum queue with the
/// same `count` persistent confirmed messages, then reads the stream from its first offset
/// (twice, by two consumers one after the other: a read takes nothing away) and drains the
/// queue, each with one consumer of prefetch `prefetch`, and reports messages per second.
struct StreamBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Fill a stream and a quorum queue alike; report the stream's read rate from its first offset beside the queue's drain rate.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Messages in each (1...1000000).")
    var count = 100_000

    @Option(help: "Confirms in flight while filling (2...16384).")
    var window = 256

    @Option(help: "Prefetch of each reader (1...65535).")
    var prefetch = 512

    @Option(help: "Body bytes (1...1048576).")
    var size = 1_024

    static let stream = "berth-bench-stream"
    static let queue = "berth-bench-stream-queue"

    func validate() throws {
        guard (1...1_000_000).contains(count) else { throw ValidationError("--count must be in 1...1000000") }
        guard (2...16_384).contains(window) else { throw ValidationError("--window must be in 2...16384") }
        guard (1...65_535).contains(prefetch) else { throw ValidationError("--prefetch must be in 1...65535") }
        guard (1...1_048_576).contains(size) else { throw ValidationError("--size must be in 1...1048576") }
    }

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let amqp = try await AMQPConnection.connect(
            hosts: try connection.hosts(), credentials: Credentials(username: connection.user, password: connection.password), on: group)
        let channel = try await amqp.openChannel()
        for name in [Self.stream, Self.queue] { _ = try? await channel.queueDelete(name) }
        _ = try await channel.queueDeclare(Self.stream, durable: true, arguments: ["x-queue-type": .longString(Array("stream".utf8))])
        _ = try await channel.queueDeclare(Self.queue, durable: true, arguments: ["x-queue-type": .longString(Array("quorum".utf8))])
        try await channel.confirmSelect(window: window)
        for name in [Self.stream, Self.queue] {
            let filled = try await fill(name, on: channel)
            print("filled \(name): \(rate(filled)) confirmed/s")
        }
        for reader in 1...2 {
            let read = try await read(Self.stream, on: amqp, offset: .longString(Array("first".utf8)))
            print("stream from its first offset, reader \(reader): \(rate(read)) messages/s")
        }
        let drained = try await read(Self.queue, on: amqp, offset: nil)
        print("quorum queue drained: \(rate(drained)) messages/s")
        for name in [Self.stream, Self.queue] { _ = try? await channel.queueDelete(name) }
        await amqp.close()
        try await group.shutdownGracefully()
    }

    private func fill(_ name: String, on channel: AMQPChannel) async throws -> Duration {
        let start = ContinuousClock.now
        let body = ByteBuffer(repeating: UInt8(ascii: "s"), count: size)
        try await channel.publishConfirmed(count: count, window: window) { _ in
            OutgoingMessage(routingKey: name, body: body, properties: BasicProperties(deliveryMode: 2))
        }
        return ContinuousClock.now - start
    }

    /// Reads `count` messages from `name` on a channel of its own, acknowledging a quarter of
    /// the prefetch at a time; returns how long it took from the consume.
    private func read(_ name: String, on amqp: AMQPConnection, offset: FieldValue?) async throws -> Duration {
        let channel = try await amqp.openChannel()
        try await channel.qos(prefetchCount: UInt16(prefetch))
        let start = ContinuousClock.now
        var received = 0
        var sinceAck = 0
        let arguments: FieldTable = offset.map { ["x-stream-offset": $0] } ?? [:]
        for try await delivery in try await channel.consume(queue: name, arguments: arguments) {
            received += 1
            sinceAck += 1
            if sinceAck >= max(1, prefetch / 4) || received == count {
                try await channel.ack(deliveryTag: delivery.deliveryTag, multiple: true)
                sinceAck = 0
            }
            if received == count { break }
        }
        let elapsed = ContinuousClock.now - start
        await channel.close()
        return elapsed
    }

    private func rate(_ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return String(format: "%.0f (%d in %.2f s)", Double(count) / seconds, count, seconds)
    }
}
