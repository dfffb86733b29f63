import AMQP
import Client
import NIOCore
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
    var crashPerMille = 2
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
    private let consuming = Atomic<Bool>(true)
    /// The consumers' current connections, closed to stop them.
    private let consumerConnections = Mutex<[Int: AMQPConnection]>([:])

    init(shape: WorkloadShape, history: History, topology: Topology, group: any EventLoopGroup, seed: UInt64) {
        self.shape = shape
        self.history = history
        self.topology = topology
        self.group = group
        self.seed = seed
    }

    static func queueName(_ queue: Int) -> String { "chaos-q\(queue)" }

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

    /// Connects to a node in a random order, another than `avoiding` first.
    func connect(avoiding: Int, random: inout SeededGenerator, preferring preferred: Int? = nil) async -> (AMQPConnection, Int)? {
        var order = random.shuffled(topology.slots)
        if order.count > 1, order.first == avoiding { order.append(order.removeFirst()) }
        if let preferred, let index = order.firstIndex(of: preferred) { order.insert(order.remove(at: index), at: 0) }
        let endpoints = order.map { Endpoint(host: topology.address($0), port: Cluster.amqpPort) }
        guard let connection = try? await AMQPConnection.connect(to: endpoints, configuration: configuration, on: group) else { return nil }
        let node = topology.slots.first(where: { topology.address($0) == connection.endpoint.host }) ?? 0
        return (connection, node)
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
                    for queue in 0..<shape.queues { try await channel.queueDeclare(Self.queueName(queue), durable: true) }
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
    }

    func runPublisher(_ number: Int) async {
        var random = SeededGenerator(seed: seed &+ 0x5EED &+ UInt64(number) &* 7919)
        let actor = "p\(number)"
        var nextSequence = 0
        var unconfirmed: [Pending] = []
        var open: (connection: AMQPConnection, channel: AMQPChannel, node: Int)?
        var lastNode = 0
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
                batch.append(Pending(sequence: nextSequence, queue: random.below(shape.queues)))
                nextSequence += 1
            }
            var sent: [(Pending, PublishConfirmation)] = []
            var broken = false
            for message in batch {
                let id = MessageID(publisher: number, sequence: message.sequence)
                if broken {
                    unconfirmed.append(message)
                    continue
                }
                history.record(.publish, actor: actor) { $0.publisher = number; $0.sequence = message.sequence; $0.queue = message.queue; $0.node = node }
                do {
                    let confirmation = try await channel.publish(
                        routingKey: Self.queueName(message.queue),
                        body: ByteBuffer(string: id.body(queue: message.queue)),
                        properties: BasicProperties(deliveryMode: 2)
                    )
                    sent.append((message, confirmation))
                } catch {
                    history.record(.unsent, actor: actor) { $0.publisher = number; $0.sequence = message.sequence; $0.queue = message.queue; $0.detail = "\(error)" }
                    unconfirmed.append(message)
                    broken = true
                }
            }
            for (message, confirmation) in sent {
                do {
                    try await confirmation.confirmed()
                    let watermark = nextSequence
                    history.record(.confirm, actor: actor) { $0.publisher = number; $0.sequence = message.sequence; $0.queue = message.queue; $0.node = node; $0.watermark = watermark }
                } catch ClientError.confirmNacked {
                    history.record(.nack, actor: actor) { $0.publisher = number; $0.sequence = message.sequence; $0.queue = message.queue; $0.node = node }
                    unconfirmed.append(message)
                } catch {
                    history.record(.indeterminate, actor: actor) { $0.publisher = number; $0.sequence = message.sequence; $0.queue = message.queue; $0.node = node; $0.detail = "\(error)" }
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

    func runConsumer(_ number: Int) async {
        var random = SeededGenerator(seed: seed &+ 0xC0C0 &+ UInt64(number) &* 104_729)
        let actor = "c\(number)"
        let queue = (number - 1) % shape.queues
        var lastNode = 0
        while consuming.load(ordering: .sequentiallyConsistent) {
            guard let reached = await connect(avoiding: lastNode, random: &random) else {
                try? await Task.sleep(for: .milliseconds(250))
                continue
            }
            let (connection, node) = reached
            lastNode = node
            consumerConnections.withLock { $0[number] = connection }
            // A stop that came while connecting did not see this connection.
            guard consuming.load(ordering: .sequentiallyConsistent) else {
                await connection.close()
                break
            }
            history.record(.connect, actor: actor) { $0.node = node; $0.queue = queue }
            do {
                let channel = try await connection.openChannel()
                try await channel.qos(prefetchCount: shape.prefetch)
                for try await delivery in try await channel.consume(queue: Self.queueName(queue)) {
                    record(delivery, queue: queue, actor: actor, node: node)
                    if random.below(1000) < shape.crashPerMille {
                        history.record(.crash, actor: actor) { $0.node = node }
                        break
                    }
                    let parsed = MessageID.parse(String(buffer: delivery.body))
                    if random.below(100) < shape.requeuePercent {
                        try await channel.nack(deliveryTag: delivery.deliveryTag, requeue: true)
                        history.record(.requeue, actor: actor) { fill(&$0, parsed, queue: queue, node: node) }
                    } else {
                        try await Task.sleep(for: .milliseconds(random.below(shape.ackDelayMillisMax + 1)))
                        try await channel.ack(deliveryTag: delivery.deliveryTag)
                        history.record(.ack, actor: actor) { fill(&$0, parsed, queue: queue, node: node) }
                    }
                }
            } catch {
                history.record(.disconnect, actor: actor) { $0.node = node; $0.detail = "\(error)" }
            }
            consumerConnections.withLock { _ = $0.removeValue(forKey: number) }
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
            if let parsed, parsed.queue != queue { event.detail = "published to queue \(parsed.queue)" }
            if parsed == nil { event.detail = "unknown body: \(body.prefix(64))" }
        }
    }

    private func fill(_ event: inout Event, _ parsed: (id: MessageID, queue: Int)?, queue: Int, node: Int) {
        if let parsed {
            event.publisher = parsed.id.publisher
            event.sequence = parsed.id.sequence
        }
        event.queue = queue
        event.node = node
    }
}
