import AMQP
import ArgumentParser
import Client
import NIOCore
import NIOPosix

/// `berth bench availability`: what a client sees of a failover. Publishes with confirms,
/// one message at a time, and reports the longest wait between two confirms — with a leader
/// killed meanwhile, the time from its death to the next confirmed publish, within one
/// publish's round trip. A nacked publish is published again; a lost connection is opened
/// again to any of the nodes given; both count in the wait.
struct AvailabilityBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "availability",
        abstract: "Publish with confirms one at a time and report the longest wait between two confirms.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "How long to publish, in seconds (0.1...3600).")
    var seconds = 10.0

    @Option(help: "The queue to publish to; declared durable, and deleted at the end.")
    var queue = "berth-availability-probe"

    func validate() throws {
        guard (0.1...3600).contains(seconds) else { throw ValidationError("--seconds must be in 0.1...3600") }
    }

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let hosts = try connection.hosts()
        let credentials = Credentials(username: connection.user, password: connection.password)
        let start = ContinuousClock.now
        let deadline = start + .seconds(seconds)
        var lastConfirm = start
        var longestGap = Duration.zero
        var longestGapStart = Duration.zero
        var confirmed = 0
        var nacked = 0
        var reconnects = 0
        var open: (connection: AMQPConnection, channel: AMQPChannel)?
        let body = ByteBuffer(string: "availability")

        while ContinuousClock.now < deadline {
            do {
                if open == nil {
                    let amqp = try await AMQPConnection.connect(hosts: hosts, credentials: credentials, on: group)
                    let channel = try await amqp.openChannel()
                    _ = try await channel.queueDeclare(queue, durable: true)
                    try await channel.confirmSelect(window: 1)
                    open = (amqp, channel)
                }
                try await open!.channel.publish(routingKey: queue, body: body, properties: BasicProperties(deliveryMode: 2)).confirmed()
                let now = ContinuousClock.now
                if now - lastConfirm > longestGap {
                    longestGap = now - lastConfirm
                    longestGapStart = lastConfirm - start
                }
                lastConfirm = now
                confirmed += 1
            } catch ClientError.confirmNacked {
                nacked += 1
            } catch {
                if let stale = open { await stale.connection.close() }
                open = nil
                reconnects += 1
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        if let open {
            _ = try? await open.channel.queueDelete(queue)
            await open.connection.close()
        }
        try await group.shutdownGracefully()
        print("confirmed \(confirmed) publishes in \(String(format: "%.1f", seconds)) s; nacked \(nacked); reconnects \(reconnects)")
        print("longest gap between confirms: \(milliseconds(longestGap)) ms, from \(milliseconds(longestGapStart)) ms after the start")
    }

    private func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(format: "%.1f", Double(seconds) * 1000 + Double(attoseconds) / 1e15)
    }
}
