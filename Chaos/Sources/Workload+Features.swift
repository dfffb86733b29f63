import AMQP
import Client
import NIOCore
import Synchronization

// The feature queues: a stream read back after the faults, a queue behind a deduplicating
// exchange, a single-active-consumer queue, and a queue whose consumers time out.
extension Workload {
    func declareFeatureQueues(on channel: AMQPChannel) async throws {
        try await channel.queueDeclare(
            queueName(streamQueue), durable: true,
            arguments: ["x-queue-type": .longString(Array("stream".utf8)), "x-stream-max-segment-size-bytes": .int32(Int32(shape.streamSegmentBytes))])
        // Crashing consumers must not push a message past a delivery limit, which drops it.
        let quorum: FieldTable = ["x-queue-type": .longString(Array("quorum".utf8)), "x-delivery-limit": .int32(-1)]
        try await channel.exchangeDeclare(
            Self.deduplicationExchange, type: "x-message-deduplication", durable: true,
            arguments: ["x-cache-size": .int32(Int32(shape.deduplicationCacheSize))])
        try await channel.queueDeclare(queueName(deduplicatedQueue), durable: true, arguments: quorum)
        try await channel.queueBind(queue: queueName(deduplicatedQueue), exchange: Self.deduplicationExchange, routingKey: "")
        var singleActive = quorum
        singleActive["x-single-active-consumer"] = .bool(true)
        try await channel.queueDeclare(queueName(singleActiveQueue), durable: true, arguments: singleActive)
        var timeout = quorum
        timeout["x-consumer-timeout"] = .int32(Int32(shape.consumerTimeoutMillis))
        try await channel.queueDeclare(queueName(timeoutQueue), durable: true, arguments: timeout)
    }

    /// A new message's queue: each feature queue takes its share, the main queues the rest.
    func drawQueue(_ random: inout SeededGenerator) -> Int {
        var roll = random.below(100)
        let shares = [
            (streamQueue, shape.streamPercent), (deduplicatedQueue, shape.deduplicatedPercent),
            (singleActiveQueue, shape.singleActivePercent), (timeoutQueue, shape.timeoutPercent),
        ]
        for (queue, percent) in shares {
            if roll < percent { return queue }
            roll -= percent
        }
        return random.below(shape.queues)
    }

    /// How a consumer's connection ended: the broker closing its channel is recorded apart
    /// (it should cancel a consumer, never close the channel), anything else as a disconnect.
    func recordEnd(of actor: String, queue: Int, node: Int, _ error: any Error) {
        if let error = error as? ClientError, case .channelClosedByServer = error {
            history.record(.channelClosed, actor: actor) { $0.node = node; $0.queue = queue; $0.detail = "\(error)" }
        } else {
            history.record(.disconnect, actor: actor) { $0.node = node; $0.queue = queue; $0.detail = "\(error)" }
        }
    }

    // MARK: Consumer timeout

    /// Consumer `number` of the timeout queue, with a prefetch of 1: it acks as the others do,
    /// but now and then keeps a delivery and waits for the broker to cancel it (basic.cancel;
    /// the client announces `consumer_cancel_notify`) and take the delivery back. It then acks
    /// that delivery late (the broker ignores the ack) and consumes again on the same channel,
    /// which must still be open. A cancel that has not come within `stallBound` while the
    /// connection stayed up is recorded, and the connection closed.
    func runTimeoutConsumer(_ number: Int) async {
        var random = SeededGenerator(seed: seed &+ 0x7117 &+ UInt64(number) &* 104_729)
        let actor = "t\(number)"
        let queue = timeoutQueue
        var lastNode = 0
        while let (connection, node) = await connectConsumer(actor, queue: queue, lastNode: &lastNode, random: &random) {
            let stall = StallWatch()
            do {
                let channel = try await connection.openChannel()
                try await channel.qos(prefetchCount: 1)
                while true {
                    do {
                        for try await delivery in try await channel.consume(queue: queueName(queue)) {
                            record(delivery, queue: queue, actor: actor, node: node)
                            // What comes during a stall (a new leader's redelivery) is kept with it.
                            guard !stall.isStalling else { continue }
                            let parsed = MessageID.parse(String(buffer: delivery.body))
                            if random.below(1000) < shape.stallPerMille {
                                history.record(.stall, actor: actor) { fill(&$0, parsed, queue: queue, node: node) }
                                watch(stall, number: stall.begin(deliveryTag: delivery.deliveryTag), actor: actor, node: node, connection: connection)
                                continue
                            }
                            try await Task.sleep(for: .milliseconds(random.below(shape.ackDelayMillisMax + 1)))
                            history.record(.ack, actor: actor) { fill(&$0, parsed, queue: queue, node: node) }
                            try await channel.ack(deliveryTag: delivery.deliveryTag)
                        }
                        break
                    } catch ClientError.consumerCancelledByServer(_) {
                        let ended = stall.end()
                        history.record(.cancel, actor: actor) {
                            $0.node = node; $0.queue = queue
                            $0.detail = ended.map { "after a stall of \(History.millis(ContinuousClock.now - $0.started)) ms" } ?? "without a stall"
                        }
                        // Too late: the broker took the delivery back and ignores this.
                        if let ended { try await channel.ack(deliveryTag: ended.deliveryTag) }
                    }
                }
            } catch {
                _ = stall.end()
                recordEnd(of: actor, queue: queue, node: node, error)
            }
            _ = stall.end()
            consumerConnections.withLock { _ = $0.removeValue(forKey: actor) }
            await connection.close()
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Ends the stall numbered `number` once `stallBound` has passed without its cancel: the
    /// history says so, and the connection closes (which gives the delivery back).
    private func watch(_ stall: StallWatch, number: Int, actor: String, node: Int, connection: AMQPConnection) {
        let bound = shape.stallBound
        let history = self.history
        let queue = timeoutQueue
        Task {
            try? await Task.sleep(for: bound)
            guard stall.end(number: number) != nil else { return }
            history.record(.uncancelled, actor: actor) { $0.node = node; $0.queue = queue }
            await connection.close()
        }
    }

    /// After the drain, on a healed cluster: one message to the timeout queue, consumed on a
    /// connection to the leader and kept. The broker must cancel the consumer within
    /// `stallBound`, keep the channel open (a late ack and a new basic.consume on it), and
    /// deliver the message there again, redelivered. A connection lost on the way (a leader
    /// change closes it) voids the attempt; at most `attempts` are made. Whether the cancel
    /// came and the channel stayed is in the history (the checker judges it); returns what
    /// else went wrong, if anything.
    func probeConsumerTimeout(cluster: Cluster, attempts: Int = 3) async -> String? {
        var random = SeededGenerator(seed: seed ^ 0x7133)
        var problem: String? = "no probe connected"
        for attempt in 0..<attempts {
            let leader = await cluster.leader()
            guard let reached = await connect(avoiding: 0, random: &random, preferring: leader) else {
                try? await Task.sleep(for: .milliseconds(500))
                continue
            }
            let (connection, node) = reached
            history.record(.connect, actor: "probe") { $0.node = node; $0.queue = timeoutQueue }
            // Everything the probe waits on is the broker; this bounds it all.
            let bound = shape.stallBound * 3
            let watchdog = Task {
                try? await Task.sleep(for: bound)
                await connection.close()
            }
            let outcome = await probe(attempt, on: connection, node: node)
            watchdog.cancel()
            await connection.close()
            switch outcome {
            case .finished(let found): return found
            case .voided(let why): problem = why
            }
        }
        return problem
    }

    private enum ProbeOutcome {
        /// The probe ran to its end (nil) or found something wrong.
        case finished(String?)
        /// Its connection was lost: another attempt may run.
        case voided(String)
    }

    private func probe(_ attempt: Int, on connection: AMQPConnection, node: Int) async -> ProbeOutcome {
        let actor = "probe"
        let queue = timeoutQueue
        let stall = StallWatch()
        do {
            try await publishProbe(attempt, on: connection, node: node)
            let channel = try await connection.openChannel()
            try await channel.qos(prefetchCount: 1)
            var kept = try await channel.consume(queue: queueName(queue)).makeAsyncIterator()
            guard let delivery = try await kept.next() else { return .voided("the probe's consumer ended before a delivery") }
            record(delivery, queue: queue, actor: actor, node: node)
            history.record(.stall, actor: actor) { fill(&$0, MessageID.parse(String(buffer: delivery.body)), queue: queue, node: node) }
            watch(stall, number: stall.begin(deliveryTag: delivery.deliveryTag), actor: actor, node: node, connection: connection)
            switch try await awaitCancel(&kept, stall: stall, actor: actor, node: node) {
            case .cancelled(let deliveryTag):
                // Too late: the broker took the delivery back and ignores this.
                try await channel.ack(deliveryTag: deliveryTag)
            case .ended:
                return .finished(nil) // the bound passed without a cancel: the history has it
            case .delivered:
                return .finished("a second delivery came during the probe's stall, with a prefetch of 1")
            }
            var consumedAgain = try await channel.consume(queue: queueName(queue)).makeAsyncIterator()
            guard let again = try await consumedAgain.next() else { return .voided("the probe's second consumer ended before a delivery") }
            record(again, queue: queue, actor: actor, node: node)
            history.record(.ack, actor: actor) { fill(&$0, MessageID.parse(String(buffer: again.body)), queue: queue, node: node) }
            try await channel.ack(deliveryTag: again.deliveryTag)
            guard again.body == delivery.body, again.redelivered else {
                return .finished(
                    "after the cancel the probe's channel got \(String(buffer: again.body)) (redelivered \(again.redelivered)), not \(String(buffer: delivery.body)) again, redelivered")
            }
            return .finished(nil)
        } catch {
            let duringStall = stall.end() != nil
            recordEnd(of: actor, queue: queue, node: node, error)
            // A channel the broker closed is the checker's to report.
            if let error = error as? ClientError, case .channelClosedByServer = error { return .finished(nil) }
            return .voided("the probe's connection was lost\(duringStall ? " during its stall" : ""): \(error)")
        }
    }

    /// One confirmed message to the timeout queue, recorded as a publisher's.
    private func publishProbe(_ attempt: Int, on connection: AMQPConnection, node: Int) async throws {
        let queue = timeoutQueue
        let id = MessageID(publisher: 0, sequence: attempt)
        let channel = try await connection.openChannel()
        try await channel.confirmSelect(window: 1, timeout: .seconds(8))
        history.record(.publish, actor: "probe") {
            $0.publisher = 0; $0.sequence = attempt; $0.attempt = 1; $0.queue = queue; $0.node = node; $0.channel = attempt + 1
        }
        let confirmation = try await channel.publish(
            exchange: "", routingKey: queueName(queue), body: ByteBuffer(string: id.body(queue: queue, attempt: 1)),
            properties: BasicProperties(deliveryMode: 2))
        try await confirmation.confirmed()
        history.record(.confirm, actor: "probe") {
            $0.publisher = 0; $0.sequence = attempt; $0.attempt = 1; $0.queue = queue; $0.node = node; $0.watermark = attempt + 1
        }
    }

    private enum StallEnd {
        /// The broker cancelled the consumer; the stalled delivery's tag.
        case cancelled(UInt64)
        /// The consumer's sequence ended: the stall's bound closed the connection.
        case ended
        /// A delivery came instead (recorded).
        case delivered
    }

    /// Waits on a stalled consumer for the broker's basic.cancel.
    private func awaitCancel(_ consumer: inout AMQPConsumer.AsyncIterator, stall: StallWatch, actor: String, node: Int) async throws -> StallEnd {
        let next: Result<Delivery?, ClientError>
        do {
            next = .success(try await consumer.next())
        } catch {
            next = .failure(error)
        }
        switch next {
        case .failure(.consumerCancelledByServer):
            let ended = stall.end()
            history.record(.cancel, actor: actor) {
                $0.node = node; $0.queue = timeoutQueue
                $0.detail = ended.map { "after a stall of \(History.millis(ContinuousClock.now - $0.started)) ms" } ?? "without a stall"
            }
            return ended.map { .cancelled($0.deliveryTag) } ?? .ended
        case .failure(let error):
            throw error
        case .success(nil):
            return .ended
        case .success(let delivery?):
            record(delivery, queue: timeoutQueue, actor: actor, node: node)
        }
        return .delivered
    }

    // MARK: Stream

    /// Reads the stream from its first offset (`x-stream-offset` "first") to the length the
    /// leader counts, acking each delivery (which only gives credit back). A read cut short
    /// (its connection lost) starts again from the first offset as another reader ("replay1",
    /// "replay2", …). Returns the reader that read it all and the length, or nil when none
    /// did within `timeout`.
    func replayStream(cluster: Cluster, timeout: Duration) async -> (reader: String, length: Int)? {
        var random = SeededGenerator(seed: seed ^ 0x57EA)
        let deadline = ContinuousClock.now + timeout
        let name = queueName(streamQueue)
        var pass = 0
        while ContinuousClock.now < deadline {
            guard let leader = await cluster.leader(), let status = try? await cluster.statusClient(leader).queues(),
                let length = status.queues.first(where: { $0.name == name })?.messages,
                let reached = await connect(avoiding: 0, random: &random, preferring: leader)
            else {
                try? await Task.sleep(for: .milliseconds(500))
                continue
            }
            let (connection, node) = reached
            pass += 1
            let reader = "replay\(pass)"
            history.record(.connect, actor: reader) { $0.node = node; $0.queue = streamQueue }
            let watchdog = Task {
                try? await Task.sleep(until: deadline, clock: .continuous)
                await connection.close()
            }
            var read = 0
            do {
                let channel = try await connection.openChannel()
                try await channel.qos(prefetchCount: 200)
                if length > 0 {
                    let first: FieldTable = ["x-stream-offset": .longString(Array("first".utf8))]
                    for try await delivery in try await channel.consume(queue: name, arguments: first) {
                        record(delivery, queue: streamQueue, actor: reader, node: node)
                        try await channel.ack(deliveryTag: delivery.deliveryTag)
                        read += 1
                        if read >= length { break }
                    }
                }
            } catch {
                history.record(.disconnect, actor: reader) { $0.node = node; $0.queue = streamQueue; $0.detail = "\(error)" }
            }
            watchdog.cancel()
            await connection.close()
            if read >= length { return (reader, length) }
        }
        return nil
    }

    // MARK: Leader

    /// Records each change of the serving leader (slot and term) the harness sees, polling
    /// every half second until `stopWatchingLeader`: the checker sets aside what happened near
    /// one, as it does fault windows.
    func watchLeader(cluster: Cluster) async {
        var last: String?
        while watchingLeader.load(ordering: .sequentiallyConsistent) {
            let statuses = await cluster.statuses()
            let leading = statuses.filter { $0.value.role == .leader && $0.value.serving }.max { $0.value.term < $1.value.term }
            let seen = leading.map { "node \($0.key) term \($0.value.term)" } ?? "none"
            if seen != last {
                history.record(.leader, actor: "watch") { $0.node = leading?.key ?? 0; $0.detail = seen }
                last = seen
            }
            if let leader = leading?.key, let queues = try? await cluster.statusClient(leader).queues() {
                let waiting = queues.queues.reduce(0) { $0 + ($1.pendingDeadLetters ?? 0) }
                pendingDeadLettersMax.withLock { $0 = max($0, waiting) }
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    func stopWatchingLeader() {
        watchingLeader.store(false, ordering: .sequentiallyConsistent)
    }
}

/// A consumer's stall: the delivery it keeps, until the broker's basic.cancel comes, its
/// connection ends, or its bound passes; whichever ends it first owns the outcome.
final class StallWatch: Sendable {
    struct Stall: Sendable {
        var number: Int
        var deliveryTag: UInt64
        var started: ContinuousClock.Instant
    }

    private let state = Mutex<(current: Stall?, count: Int)>((nil, 0))

    var isStalling: Bool { state.withLock { $0.current != nil } }
    var hasStalled: Bool { state.withLock { $0.count > 0 } }

    /// Starts a stall of the delivery; returns its number.
    func begin(deliveryTag: UInt64) -> Int {
        state.withLock { state in
            state.count += 1
            state.current = Stall(number: state.count, deliveryTag: deliveryTag, started: ContinuousClock.now)
            return state.count
        }
    }

    /// Ends the running stall (only if it is the one numbered `number`, when given); nil when
    /// none was running.
    func end(number: Int? = nil) -> Stall? {
        state.withLock { state in
            guard let current = state.current, number.map({ $0 == current.number }) ?? true else { return nil }
            state.current = nil
            return current
        }
    }
}
