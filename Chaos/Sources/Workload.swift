import AMQP
import Client
import NIOCore
import NIOSSL
import Synchronization

/// How hard the workload pushes; small, since the cluster shares two cores with it.
struct WorkloadShape: Sendable {
    var publishers = 3
    var consumers = 3
    var queues = 2
    /// Publishes in flight per publisher before it waits for their confirms.
    var batch = 4
    var pause = Duration.milliseconds(60)
    /// A confirm later than this is indeterminate: the publish may or may not be stored.
    var confirmTimeout = TimeAmount.seconds(8)
    var prefetch: UInt16 = 16
    var ackDelayMillisMax = 10
    var requeuePercent = 5
    /// Rejected without requeue, so the queue dead-letters it (to `Workload.deadLetterQueue`),
    /// at least once: the dead-letter queue holds at most `deadLetterQueueLength` (ready and
    /// out at its consumer) and refuses more, so a dead letter that finds it full waits in its
    /// source queue until a retry finds room.
    var rejectPercent = 3
    var deadLetterQueueLength = 4
    var crashPerMille = 2
    /// Consumers of the dead-letter queue.
    var deadLetterConsumers = 1
    /// Messages carry a priority drawn below this; the queues are quorum queues, which serve
    /// priorities strictly.
    var priorities = 4
    /// Held back for up to `delayMillisMax`, replicated, through the faults: half through the
    /// x-delayed-message exchange (`x-delay`, routed to its queue when due), half straight to
    /// the quorum queue with an `x-opt-delivery-delay` (delivered when due).
    var delayedPercent = 10
    var delayMillisMax = 1_500
    /// Shares (percent) of new messages for the feature queues; the main queues take the rest.
    var streamPercent = 10
    var deduplicatedPercent = 8
    var singleActivePercent = 8
    var timeoutPercent = 6
    /// The stream's `x-stream-max-segment-size-bytes`: segments of several hundred messages,
    /// so that a snapshot carries a few, each of more record bytes than the snapshot has left
    /// after it (which once kept such a snapshot from decoding; see Chaos/README.md).
    var streamSegmentBytes = 65_536
    /// Keys the x-message-deduplication exchange remembers, more than any run publishes to it,
    /// so that a key is never pushed out and a retry is always a duplicate.
    var deduplicationCacheSize = 500_000
    /// Consumers of the single-active-consumer queue: consumer n has `x-priority` n, so a
    /// consumer coming back takes over from a lower one once that one holds nothing.
    var singleActiveConsumers = 2
    /// Held a while, so that two consumers holding the queue's messages at once would show.
    var singleActiveAckDelayMillisMax = 40
    var timeoutConsumers = 2
    /// The timeout queue's `x-consumer-timeout` (ms); the nodes look for overdue deliveries
    /// every second.
    var consumerTimeoutMillis = 2_000
    /// A timeout-queue consumer keeps one delivery in this many past the timeout.
    var stallPerMille = 15
    /// How long a stall waits for its basic.cancel: the timeout, a sweep, and room for a
    /// loaded machine.
    var stallBound = Duration.seconds(8)
}

/// Publishers with confirms and consumers with manual acks, all through the project's client,
/// each connected to a random node and failing over to another when its connection drops.
/// Everything they see goes into the history.
final class Workload: Sendable {
    let shape: WorkloadShape
    let history: History
    let topology: Topology
    let group: any EventLoopGroup
    let seed: UInt64
    private let producing = Atomic<Bool>(true)
    private let settleDeadline = Mutex<ContinuousClock.Instant?>(nil)
    let consuming = Atomic<Bool>(true)
    /// Until the checks after the drain are done: `watchLeader` records leader changes.
    let watchingLeader = Atomic<Bool>(true)
    /// The most dead letters the leader counted waiting in their source queues at once, as
    /// the leader watcher samples it.
    let pendingDeadLettersMax = Mutex(0)
    /// The consumers' current connections, closed to stop them.
    let consumerConnections = Mutex<[String: AMQPConnection]>([:])
    /// Set when the nodes serve amqps: about half the connections, drawn, go over TLS.
    let tls: NIOSSLContext?
    private let connectionsOverTLS = Atomic<Int>(0)
    private let plainConnections = Atomic<Int>(0)

    init(shape: WorkloadShape, history: History, topology: Topology, group: any EventLoopGroup, seed: UInt64, tls: NIOSSLContext? = nil) {
        self.tls = tls
        self.shape = shape
        self.history = history
        self.topology = topology
        self.group = group
        self.seed = seed
    }

    /// Queues 0..<shape.queues take most publishes; this one takes what consumers reject.
    var deadLetterQueue: Int { shape.queues }
    /// A stream, read once from its first offset after the faults (`replayStream`).
    var streamQueue: Int { shape.queues + 1 }
    /// Fed through the x-message-deduplication exchange, each message keyed by its id.
    var deduplicatedQueue: Int { shape.queues + 2 }
    /// A quorum queue with `x-single-active-consumer`.
    var singleActiveQueue: Int { shape.queues + 3 }
    /// A quorum queue with `x-consumer-timeout`, whose consumers now and then keep a delivery.
    var timeoutQueue: Int { shape.queues + 4 }
    /// What the drain empties: every queue but the stream, which nothing empties.
    var drainedQueues: [Int] { Array(0...deadLetterQueue) + [deduplicatedQueue, singleActiveQueue, timeoutQueue] }
    /// Which queue is which, for the checker.
    var featureQueues: FeatureQueues {
        FeatureQueues(stream: streamQueue, deduplicated: deduplicatedQueue, singleActive: singleActiveQueue, timeout: timeoutQueue)
    }

    func queueName(_ queue: Int) -> String {
        switch queue {
        case deadLetterQueue: "chaos-dead"
        case streamQueue: "chaos-stream"
        case deduplicatedQueue: "chaos-deduplicated"
        case singleActiveQueue: "chaos-single-active"
        case timeoutQueue: "chaos-timeout"
        default: "chaos-q\(queue)"
        }
    }

    /// Routes to each queue by its name, once a publish's delay is over.
    static let delayedExchange = "chaos-delayed"
    /// A publish event's detail for one its quorum queue holds back (`x-opt-delivery-delay`).
    static let heldByQueue = "held by its queue"
    /// Routes to `deduplicatedQueue` what it has not seen the `x-deduplication-header` of.
    static let deduplicationExchange = "chaos-dedup"

    var configuration: ConnectionConfiguration {
        ConnectionConfiguration(
            credentials: Credentials(username: Cluster.credentials.user, password: Cluster.credentials.password),
            // A paused node is noticed within two intervals.
            heartbeat: .seconds(2),
            connectTimeout: .seconds(3),
            rpcTimeout: .seconds(5),
            closeTimeout: .seconds(2),
            connectionName: "berth-chaos"
        )
    }

    /// Connects to a node in a random order, another than `avoiding` first; over TLS or
    /// not as drawn, when the nodes serve amqps.
    func connect(avoiding: Int, random: inout SeededGenerator, preferring preferred: Int? = nil) async -> (AMQPConnection, Int)? {
        var order = random.shuffled(topology.slots)
        if order.count > 1, order.first == avoiding { order.append(order.removeFirst()) }
        if let preferred, let index = order.firstIndex(of: preferred) { order.insert(order.remove(at: index), at: 0) }
        var configuration = self.configuration
        var port = Cluster.amqpPort
        if let tls, random.next() % 2 == 0 {
            port = Cluster.amqpsPort
            configuration.prepareChannel = { channel, _ in
                try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: nil))
            }
        }
        let endpoints = order.map { Endpoint(host: topology.address($0), port: port) }
        guard let connection = try? await AMQPConnection.connect(to: endpoints, configuration: configuration, on: group) else { return nil }
        if port == Cluster.amqpsPort {
            connectionsOverTLS.add(1, ordering: .relaxed)
        } else {
            plainConnections.add(1, ordering: .relaxed)
        }
        let node = topology.slots.first(where: { topology.address($0) == connection.endpoint.host }) ?? 0
        return (connection, node)
    }

    /// Client connections made so far, over TLS and plain.
    var connectionCounts: (overTLS: Int, plain: Int) {
        (connectionsOverTLS.load(ordering: .relaxed), plainConnections.load(ordering: .relaxed))
    }

    /// A client context for the nodes' amqps: their certificate must chain to the test
    /// authority in `directory` (the nodes' addresses are not in it, so no name check).
    static func clientTLS(trusting directory: String) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file(directory + "/ca.pem")
        configuration.certificateVerification = .noHostnameVerification
        return try NIOSSLContext(configuration: configuration)
    }

    /// Declares the durable queues, retrying until the cluster serves.
    func declareQueues(timeout: Duration) async -> Bool {
        var random = SeededGenerator(seed: seed ^ 0xDECA_FBAD)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let reached = await connect(avoiding: 0, random: &random) {
                let connection = reached.0
                do {
                    let channel = try await connection.openChannel()
                    try await channel.queueDeclare(
                        queueName(deadLetterQueue), durable: true,
                        arguments: ["x-max-length": .int32(Int32(shape.deadLetterQueueLength)), "x-overflow": .longString(Array("reject-publish".utf8))])
                    let deadLettering: FieldTable = [
                        "x-queue-type": .longString(Array("quorum".utf8)),
                        "x-dead-letter-exchange": .longString([]),
                        "x-dead-letter-routing-key": .longString(Array(queueName(deadLetterQueue).utf8)),
                        // A dead letter the full dead-letter queue refuses waits in its source.
                        "x-dead-letter-strategy": .longString(Array("at-least-once".utf8)),
                        "x-overflow": .longString(Array("reject-publish".utf8)),
                        // Only what a consumer rejects may reach the dead-letter queue, not a
                        // message requeued past a delivery limit by crashing consumers.
                        "x-delivery-limit": .int32(-1),
                    ]
                    for queue in 0..<shape.queues { try await channel.queueDeclare(queueName(queue), durable: true, arguments: deadLettering) }
                    try await channel.exchangeDeclare(
                        Self.delayedExchange, type: "x-delayed-message", durable: true, arguments: ["x-delayed-type": .longString(Array("direct".utf8))])
                    for queue in 0..<shape.queues {
                        try await channel.queueBind(queue: queueName(queue), exchange: Self.delayedExchange, routingKey: queueName(queue))
                    }
                    try await declareFeatureQueues(on: channel)
                    await connection.close()
                    return true
                } catch {
                    await connection.close()
                }
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
        return false
    }

    // MARK: Publishers

    /// Stops new messages; publishers keep publishing what is unconfirmed until `settle` passes.
    func stopProducing(settle: Duration) {
        settleDeadline.withLock { $0 = ContinuousClock.now + settle }
        producing.store(false, ordering: .sequentiallyConsistent)
    }

    private var settled: Bool {
        settleDeadline.withLock { deadline in deadline.map { ContinuousClock.now >= $0 } ?? false }
    }

    private struct Pending {
        var sequence: Int
        var queue: Int
        var priority: Int
        /// How many times it was published so far.
        var attempts = 0
        /// Its delay (ms), the same for every attempt; 0 for none.
        var delayMillis = 0
        /// Held by its quorum queue (`x-opt-delivery-delay`) rather than the delayed exchange.
        var heldByQueue = false
    }

    func runPublisher(_ number: Int) async {
        var random = SeededGenerator(seed: seed &+ 0x5EED &+ UInt64(number) &* 7919)
        let actor = "p\(number)"
        var nextSequence = 0
        var unconfirmed: [Pending] = []
        var open: (connection: AMQPConnection, channel: AMQPChannel, node: Int)?
        var lastNode = 0
        /// Counts the channels it opened: a channel's publishes are stored in the order sent.
        var channelNumber = 0
        while true {
            let isProducing = producing.load(ordering: .sequentiallyConsistent)
            if !isProducing, unconfirmed.isEmpty || settled { break }
            if open == nil {
                guard let reached = await connect(avoiding: lastNode, random: &random) else {
                    try? await Task.sleep(for: .milliseconds(250))
                    continue
                }
                let (connection, node) = reached
                lastNode = node
                do {
                    let channel = try await connection.openChannel()
                    try await channel.confirmSelect(window: shape.batch, timeout: shape.confirmTimeout)
                    open = (connection, channel, node)
                    channelNumber += 1
                    history.record(.connect, actor: actor) { $0.node = node }
                } catch {
                    history.record(.disconnect, actor: actor) { $0.node = node; $0.detail = "\(error)" }
                    await connection.close()
                    try? await Task.sleep(for: .milliseconds(250))
                    continue
                }
            }
            guard let current = open else { continue }
            let (connection, channel, node) = (current.connection, current.channel, current.node)
            // What was not confirmed goes again first, oldest first, then new messages.
            var batch = Array(unconfirmed.prefix(shape.batch))
            unconfirmed.removeFirst(batch.count)
            while isProducing, batch.count < shape.batch {
                let queue = drawQueue(&random)
                let isMain = queue < shape.queues
                let delayed = isMain && random.below(100) < shape.delayedPercent
                batch.append(Pending(
                    sequence: nextSequence, queue: queue, priority: isMain ? random.below(shape.priorities) : 0,
                    delayMillis: delayed ? 1 + random.below(shape.delayMillisMax) : 0, heldByQueue: delayed && random.below(2) == 0))
                nextSequence += 1
            }
            var sent: [(Pending, PublishConfirmation)] = []
            var broken = false
            for var message in batch {
                let id = MessageID(publisher: number, sequence: message.sequence)
                if broken {
                    unconfirmed.append(message)
                    continue
                }
                message.attempts += 1
                let attempt = message.attempts
                let delay = message.delayMillis
                history.record(.publish, actor: actor) {
                    $0.publisher = number; $0.sequence = message.sequence; $0.attempt = attempt; $0.queue = message.queue; $0.node = node
                    $0.priority = message.priority; $0.delayMillis = delay; $0.channel = channelNumber
                    if message.heldByQueue { $0.detail = Self.heldByQueue }
                }
                let deduplicated = message.queue == deduplicatedQueue
                var headers: FieldTable?
                if delay > 0 { headers = [message.heldByQueue ? "x-opt-delivery-delay" : "x-delay": .int32(Int32(delay))] }
                // The key is the message, not the attempt: a retry of a stored one is dropped.
                if deduplicated { headers = ["x-deduplication-header": .longString(Array(id.deduplicationKey.utf8))] }
                do {
                    let confirmation = try await channel.publish(
                        exchange: delay > 0 && !message.heldByQueue ? Self.delayedExchange : deduplicated ? Self.deduplicationExchange : "",
                        routingKey: queueName(message.queue),
                        body: ByteBuffer(string: id.body(queue: message.queue, attempt: attempt)),
                        properties: BasicProperties(headers: headers, deliveryMode: 2, priority: UInt8(message.priority))
                    )
                    sent.append((message, confirmation))
                } catch {
                    history.record(.unsent, actor: actor) { $0.publisher = number; $0.sequence = message.sequence; $0.attempt = attempt; $0.queue = message.queue; $0.detail = "\(error)" }
                    unconfirmed.append(message)
                    broken = true
                }
            }
            for (message, confirmation) in sent {
                do {
                    try await confirmation.confirmed()
                    let watermark = nextSequence
                    history.record(.confirm, actor: actor) { $0.publisher = number; $0.sequence = message.sequence; $0.attempt = message.attempts; $0.queue = message.queue; $0.node = node; $0.watermark = watermark }
                } catch ClientError.confirmNacked {
                    history.record(.nack, actor: actor) { $0.publisher = number; $0.sequence = message.sequence; $0.attempt = message.attempts; $0.queue = message.queue; $0.node = node }
                    unconfirmed.append(message)
                } catch {
                    history.record(.indeterminate, actor: actor) { $0.publisher = number; $0.sequence = message.sequence; $0.attempt = message.attempts; $0.queue = message.queue; $0.node = node; $0.detail = "\(error)" }
                    unconfirmed.append(message)
                    // Lost, or stuck on a node that cannot confirm: go to another node.
                    broken = true
                }
            }
            unconfirmed.sort { $0.sequence < $1.sequence }
            if broken {
                history.record(.disconnect, actor: actor) { $0.node = node }
                await connection.close()
                open = nil
            }
            try? await Task.sleep(for: isProducing ? shape.pause : .milliseconds(100))
        }
        if let open { await open.connection.close() }
    }

    // MARK: Consumers

    func stopConsuming() async {
        consuming.store(false, ordering: .sequentiallyConsistent)
        let connections = consumerConnections.withLock { Array($0.values) }
        for connection in connections { await connection.close() }
    }

    /// Consumer `number` reads queue `queue`; its actor name is `prefix` and the number.
    /// A consumer's next connection, to a node other than `lastNode` first, kept where a stop
    /// closes it; nil once consuming stopped.
    func connectConsumer(
        _ actor: String, queue: Int, lastNode: inout Int, random: inout SeededGenerator
    ) async -> (connection: AMQPConnection, node: Int)? {
        while consuming.load(ordering: .sequentiallyConsistent) {
            guard let (connection, node) = await connect(avoiding: lastNode, random: &random) else {
                try? await Task.sleep(for: .milliseconds(250))
                continue
            }
            lastNode = node
            consumerConnections.withLock { $0[actor] = connection }
            // A stop that came while connecting did not see this connection.
            guard consuming.load(ordering: .sequentiallyConsistent) else {
                await connection.close()
                return nil
            }
            history.record(.connect, actor: actor) { $0.node = node; $0.queue = queue }
            return (connection, node)
        }
        return nil
    }

    /// Only the main queues' consumers reject (those queues dead-letter); `arguments` go with
    /// basic.consume. An ack, a requeue or a reject is recorded before it is sent, so that the
    /// history never shows a delivery held longer than it was.
    func runConsumer(_ number: Int, queue: Int, prefix: String = "c", arguments: FieldTable = [:], ackDelayMillisMax: Int? = nil) async {
        var random = SeededGenerator(seed: seed &+ 0xC0C0 &+ UInt64(number) &* 104_729 &+ UInt64(queue) &* 15_485_863)
        let actor = "\(prefix)\(number)"
        let rejects = queue < shape.queues
        let ackDelayMillisMax = ackDelayMillisMax ?? shape.ackDelayMillisMax
        var lastNode = 0
        while let (connection, node) = await connectConsumer(actor, queue: queue, lastNode: &lastNode, random: &random) {
            do {
                let channel = try await connection.openChannel()
                try await channel.qos(prefetchCount: shape.prefetch)
                consume: while true {
                    do {
                        for try await delivery in try await channel.consume(queue: queueName(queue), arguments: arguments) {
                            record(delivery, queue: queue, actor: actor, node: node)
                            if random.below(1000) < shape.crashPerMille {
                                history.record(.crash, actor: actor) { $0.node = node }
                                break consume
                            }
                            let parsed = MessageID.parse(String(buffer: delivery.body))
                            let roll = random.below(100)
                            if roll < shape.requeuePercent {
                                history.record(.requeue, actor: actor) { fill(&$0, parsed, queue: queue, node: node) }
                                try await channel.nack(deliveryTag: delivery.deliveryTag, requeue: true)
                            } else if rejects, roll < shape.requeuePercent + shape.rejectPercent {
                                // Recorded before it is sent: a dead-lettered copy may arrive at once.
                                history.record(.reject, actor: actor) { fill(&$0, parsed, queue: queue, node: node) }
                                try await channel.reject(deliveryTag: delivery.deliveryTag, requeue: false)
                            } else {
                                try await Task.sleep(for: .milliseconds(random.below(ackDelayMillisMax + 1)))
                                history.record(.ack, actor: actor) { fill(&$0, parsed, queue: queue, node: node) }
                                try await channel.ack(deliveryTag: delivery.deliveryTag)
                            }
                        }
                        break consume
                    } catch ClientError.consumerCancelledByServer(_) {
                        // Held too long (a paused node's): the broker took its deliveries back
                        // and keeps the channel, which consuming again on it shows.
                        history.record(.cancel, actor: actor) { $0.node = node; $0.queue = queue; $0.detail = "without a stall" }
                    }
                }
            } catch {
                recordEnd(of: actor, queue: queue, node: node, error)
            }
            consumerConnections.withLock { _ = $0.removeValue(forKey: actor) }
            await connection.close()
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    func record(_ delivery: Delivery, queue: Int, actor: String, node: Int) {
        let body = String(buffer: delivery.body)
        let parsed = MessageID.parse(body)
        history.record(.deliver, actor: actor) { event in
            fill(&event, parsed, queue: queue, node: node)
            event.redelivered = delivery.redelivered
            if queue == deadLetterQueue {
                if let parsed, let problem = deathProblem(delivery, from: queueName(parsed.queue)) { event.detail = problem }
            } else if let parsed, parsed.queue != queue {
                event.detail = "published to queue \(parsed.queue)"
            }
            if parsed == nil { event.detail = "unknown body: \(body.prefix(64))" }
            if let offset = delivery.properties.headers?["x-stream-offset"], case .int64(let value) = offset { event.offset = Int(value) }
        }
    }

    /// What is wrong with a dead-lettered delivery's `x-death` header, if anything: its first
    /// entry must name the queue the message was rejected from and the reason `rejected`.
    private func deathProblem(_ delivery: Delivery, from queue: String) -> String? {
        guard case .array(let deaths)? = delivery.properties.headers?["x-death"], case .table(let first)? = deaths.first else {
            return "dead-lettered without an x-death header"
        }
        guard case .longString(let name)? = first["queue"], String(decoding: name, as: UTF8.self) == queue,
              case .longString(let reason)? = first["reason"], String(decoding: reason, as: UTF8.self) == "rejected"
        else { return "x-death does not name queue \(queue) and reason rejected: \(first)" }
        return nil
    }

    func fill(_ event: inout Event, _ parsed: (id: MessageID, queue: Int, attempt: Int)?, queue: Int, node: Int) {
        if let parsed {
            event.publisher = parsed.id.publisher
            event.sequence = parsed.id.sequence
            event.attempt = parsed.attempt
        }
        event.queue = queue
        event.node = node
    }
}
