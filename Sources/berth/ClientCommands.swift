import AMQP
import ArgumentParser
import Client
import NIOCore
import NIOPosix

/// Where to connect: one or more nodes, tried in order.
struct ConnectionOptions: ParsableArguments {
    @Option(name: .customLong("node"), help: "A node's AMQP address as HOST:PORT (repeatable; tried in order).")
    var nodes: [String] = ["127.0.0.1:5672"]

    @Option(help: "User name.")
    var user = "guest"

    @Option(help: "Password.")
    var password = "guest"

    func hosts() throws -> [(host: String, port: Int)] {
        try nodes.map { try parseHostPort($0, option: "--node") }
    }

    /// Opens a connection and a channel, runs `body`, and closes everything afterwards.
    func withChannel<Result>(_ body: (AMQPChannel) async throws -> Result) async throws -> Result {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let amqp: AMQPConnection
        do {
            amqp = try await AMQPConnection.connect(hosts: try hosts(), credentials: Credentials(username: user, password: password), on: group)
        } catch {
            try await group.shutdownGracefully()
            throw error
        }
        let outcome: Swift.Result<Result, any Error>
        do { outcome = .success(try await body(try await amqp.openChannel())) } catch { outcome = .failure(error) }
        await amqp.close()
        try await group.shutdownGracefully()
        return try outcome.get()
    }
}

/// `berth publish`: publishes messages with confirms and reports when all are confirmed.
struct PublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish", abstract: "Publish messages with publisher confirms; exits non-zero if any is not confirmed.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "The exchange to publish to (default: the default exchange).")
    var exchange = ""

    @Option(name: .customLong("routing-key"), help: "The routing key (with the default exchange: the queue's name).")
    var routingKey: String

    @Option(help: "How many copies to publish, each suffixed with its number when more than one (1...1000000).")
    var count = 1

    @Flag(help: "Mark the messages transient (delivery mode 1) instead of persistent.")
    var transient = false

    @Argument(help: "The message body.")
    var body: String

    func validate() throws {
        guard (1...1_000_000).contains(count) else { throw ValidationError("--count must be in 1...1000000") }
    }

    func run() async throws {
        let failures = try await connection.withChannel { channel in
            try await channel.confirmSelect()
            var confirmations: [PublishConfirmation] = []
            for i in 0..<count {
                let text = count == 1 ? body : "\(body) \(i + 1)"
                confirmations.append(try await channel.publish(
                    exchange: exchange, routingKey: routingKey, body: ByteBuffer(string: text),
                    properties: BasicProperties(deliveryMode: transient ? 1 : 2), mandatory: true))
            }
            var failures = 0
            for confirmation in confirmations {
                do { try await confirmation.confirmed() } catch { failures += 1 }
            }
            return failures
        }
        print("published \(count), confirmed \(count - failures)")
        if failures > 0 { throw ExitCode.failure }
    }
}

/// `berth consume`: prints messages from a queue, acknowledging each after printing it.
struct ConsumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume", abstract: "Print messages from a queue, acknowledging each once printed.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "The queue to consume from.")
    var queue: String

    @Option(help: "Stop after this many messages (1...1000000).")
    var count = 1

    @Option(help: "Prefetch: deliveries outstanding at once.")
    var prefetch: UInt16 = 100

    func validate() throws {
        guard (1...1_000_000).contains(count) else { throw ValidationError("--count must be in 1...1000000") }
    }

    func run() async throws {
        try await connection.withChannel { channel in
            try await channel.qos(prefetchCount: prefetch)
            var received = 0
            for try await delivery in try await channel.consume(queue: queue) {
                print(String(buffer: delivery.body) + (delivery.redelivered ? "  (redelivered)" : ""))
                try await channel.ack(deliveryTag: delivery.deliveryTag)
                received += 1
                if received == count { break }
            }
        }
    }
}
