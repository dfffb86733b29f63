/// The leader's delivery state, pure and not replicated: consumers, prefetch, which message
/// is out at which channel under which delivery tag. A new leader starts a new dispatcher;
/// everything unsettled is then ready again, and what was enqueued before it started goes
/// out with `redelivered = true` (the old leader may have delivered it).
///
/// The node drives it so (all on the leader):
/// - MUST create it (`init(state:now:)`) once the new leader has applied the first entry
///   of its own term, so every message the old leader could have delivered is in `state`.
/// - `consume`, `cancel`, `qos`, `ack`, `nack`, `reject`, `recover`, `get`,
///   `closeChannel`, `closeConnection` as clients ask.
/// - After each applied batch: `observe(effects, state:)`, then `dispatch(state:now:)`
///   until `more` is false; send the deliveries.
/// - Every second or so: `sweep(state:now:)` for expiry.
/// - By `nextHeldBackReadyAt`, when a message held back (delayed retry, a delivery time) is ready:
///   `dispatch(state:now:)` again.
/// - Every command it returns MUST be proposed (and re-proposed if refused while still
///   leader): the messages it names stay out until the command is applied.
public struct Dispatcher: Sendable {
    public let limits: BrokerLimits

    struct Consumer: Sendable {
        var queue: QueueName
        var noAck: Bool
        var exclusive: Bool
        /// basic.qos with global = false when it subscribed; 0: unlimited.
        var prefetch: UInt16
        /// `x-priority` of its basic.consume (0 without): a queue's messages go to the
        /// consumers of the highest priority that have room, round-robin among them.
        var priority: Int64
        /// `x-consumer-timeout` of its basic.consume: before its queue's and the node's.
        var timeoutMs: Int64?
        var unacked = 0
    }

    struct Channel: Sendable {
        var nextDeliveryTag: UInt64 = 1
        /// basic.qos global = false: the prefetch of consumers created afterwards.
        var prefetchPerConsumer: UInt16 = 0
        /// basic.qos global = true: shared by all the channel's consumers.
        var prefetchPerChannel: UInt16 = 0
        var unacked = UnackedLedger()
        var consumers: [String: Consumer] = [:]
        /// The channel's consumer of direct replies (see Dispatcher+DirectReply).
        var replyConsumer: ReplyConsumer?
        /// Delivery tags taken back when they timed out: a late ack, nack or reject of one
        /// is ignored, not refused (see Dispatcher+Expiry).
        var reclaimed: Set<UInt64> = []
    }

    var channels: [ChannelID: Channel] = [:]
    var queues: [QueueName: QueueDispatch] = [:]
    /// Every stream this dispatcher has served, with its consumers' offsets (Dispatcher+Stream).
    var streams: [QueueName: StreamDispatch] = [:]
    /// Queues that may have something to hand out.
    var dirty: Set<QueueName> = []
    /// Connections whose sockets take no more for now: nothing goes to them until they do,
    /// so a consumer that stops reading (a no-ack one above all) holds no growing buffer.
    var paused: Set<String> = []
    /// Queues that may hold messages back (delayed retry, a delivery time): their next ready time wakes them.
    var holdingQueues: Set<QueueName> = []
    /// Per queue with pending dead letters: when this leader last retried them, and how
    /// many were pending then.
    var deadLetterRetries: [QueueName: DeadLetterRetryMark] = [:]
    struct DeadLetterRetryMark: Sendable {
        var at: Int64
        var pending: Int
    }
    /// How long a retry of pending dead letters that forwarded none waits for the next.
    static let deadLetterRetryBackoffMs: Int64 = 5_000
    /// The channel each live reply address belongs to.
    var replyChannels: [String: ChannelID] = [:]
    /// Messages with smaller ids were enqueued before this leader began.
    public let redeliveredBelow: MessageID
    /// The leader's clock when it began: nothing is idle since before that.
    public let leaderSince: Int64
    private var consumerTagCounter: UInt64 = 0

    public init(state: BrokerState, now: Int64) {
        limits = state.limits
        redeliveredBelow = state.nextMessageID
        leaderSince = now
        dirty = Set(state.allQueueNames)
        holdingQueues = Set(dirty.filter { state.queue($0)?.heldUntil.isEmpty == false })
    }

    // MARK: Queries

    public func consumerCount(_ queue: QueueName) -> Int { queues[queue]?.consumers.count ?? 0 }

    /// Messages of the queue neither out at a consumer nor held back for delayed retry
    /// (queue.declare-ok's message count, as RabbitMQ 4.3 counts it).
    public mutating func readyCount(_ queue: QueueName, state: BrokerState, now: Int64) -> Int {
        guard let stored = state.queue(queue) else { return 0 }
        // A queue not served yet by this leader holds back what the replicated times say: its
        // view is built from them once, so that counting again is no scan of every time.
        if queues[queue] == nil, !stored.heldUntil.isEmpty { queues[queue] = QueueDispatch(for: stored, lastUsed: leaderSince) }
        let heldBack = queues[queue]?.heldCount(after: now) ?? 0
        return Swift.max(0, stored.deliverableCount - (queues[queue]?.out.count ?? 0) - heldBack)
    }

    /// When the earliest message held back (delayed retry, a delivery time) in a queue with consumers is
    /// ready: the node MUST run `dispatch(state:now:)` again by then.
    public var nextHeldBackReadyAt: Int64? {
        holdingQueues.compactMap { queues[$0]?.nextReadyAt }.min()
    }

    /// Messages the dispatcher has out (for a purge, which leaves them).
    public func outMessageIDs(_ queue: QueueName) -> [MessageID] { queues[queue]?.out.sorted() ?? [] }

    public func unackedCount(_ channel: ChannelID) -> Int { channels[channel]?.unacked.count ?? 0 }

    /// The channel's consumer tags, sorted.
    public func consumerTags(_ channel: ChannelID) -> [String] { channels[channel]?.consumers.keys.sorted() ?? [] }

    /// With single active consumer: the one consumer served.
    public func activeConsumer(_ queue: QueueName) -> ConsumerCancellation? {
        guard let active = queues[queue]?.active else { return nil }
        return ConsumerCancellation(channel: active.channel, consumerTag: active.tag, queue: queue)
    }

    // MARK: Connections

    /// A connection's socket stopped taking writes, or takes them again.
    public mutating func setWritable(connection: String, _ writable: Bool) {
        guard writable else {
            paused.insert(connection)
            return
        }
        guard paused.remove(connection) != nil else { return }
        for (id, channel) in channels where id.connection == connection {
            for consumer in channel.consumers.values { dirty.insert(consumer.queue) }
        }
    }

    // MARK: Consumers

    /// basic.qos. `global` false: for consumers created afterwards; true: shared by the
    /// channel. RabbitMQ refuses a prefetch size (540), as do we.
    public mutating func qos(channel: ChannelID, prefetchCount: UInt16, prefetchSize: UInt32 = 0, global: Bool) throws(BrokerError) {
        if prefetchSize != 0 { throw BrokerError(.notImplemented, "prefetch_size!=0 (\(prefetchSize))") }
        if global {
            channels[channel, default: Channel()].prefetchPerChannel = prefetchCount
            for consumer in channels[channel]?.consumers.values.map(\.queue) ?? [] { dirty.insert(consumer) }
        } else {
            channels[channel, default: Channel()].prefetchPerConsumer = prefetchCount
        }
    }

    /// basic.consume: returns the consumer tag (made up if the request's is empty).
    public mutating func consume(_ request: ConsumeRequest, state: BrokerState, now: Int64) throws(BrokerError) -> String {
        let name = request.queue
        try state.checkExclusiveAccess(name, connection: request.channel.connection)
        guard let stored = state.queue(name) else { throw .queueNotFound(name) }
        let tag = try consumerTag(request.consumerTag, on: request.channel)
        if channels[request.channel]?.consumers.count ?? 0 >= limits.consumersPerChannelMax {
            throw BrokerError(.notAllowed, "reached maximum (\(limits.consumersPerChannelMax)) of consumers per channel")
        }
        if let dispatch = queues[name], dispatch.hasExclusiveConsumer || (request.exclusive && !dispatch.consumers.isEmpty) {
            throw BrokerError(.accessRefused, "\(name) in exclusive use")
        }
        let priority = try Self.consumerPriority(request, of: name)
        let timeoutMs = try Self.consumerTimeout(request, of: name)
        let reader = stored.stream == nil ? nil : try streamReader(for: request, of: stored, state: state, now: now)
        let prefetch = channels[request.channel]?.prefetchPerConsumer ?? 0
        channels[request.channel, default: Channel()].consumers[tag] = Consumer(
            queue: name, noAck: request.noAck, exclusive: request.exclusive, prefetch: prefetch, priority: priority,
            timeoutMs: timeoutMs)
        var dispatch = queues.removeValue(forKey: name) ?? QueueDispatch(for: stored, lastUsed: now)
        if dispatch.heldCount > 0 { holdingQueues.insert(name) }
        let key = QueueDispatch.ConsumerKey(channel: request.channel, tag: tag)
        dispatch.consumers.append(key)
        if let reader { streams[name, default: StreamDispatch()].readers[key] = reader }
        if stored.settings.singleActiveConsumer, dispatch.active == nil { dispatch.active = key }
        dispatch.hasConsumerPriorities = dispatch.hasConsumerPriorities || priority != 0
        dispatch.hasExclusiveConsumer = dispatch.hasExclusiveConsumer || request.exclusive
        dispatch.lastUsed = now
        queues[name] = dispatch
        dirty.insert(name)
        return tag
    }

    /// A consumer's `x-priority`, an integer of any width, as RabbitMQ takes it.
    static func consumerPriority(_ request: ConsumeRequest, of queue: QueueName) throws(BrokerError) -> Int64 {
        guard let value = request.arguments["x-priority"] else { return 0 }
        guard let priority = value.integerValue else {
            throw .invalidArgument("x-priority", for: queue, "{unacceptable_type,\(value.typeName)}")
        }
        return priority
    }

    /// A consumer's `x-consumer-timeout` in milliseconds, a non-negative integer.
    static func consumerTimeout(_ request: ConsumeRequest, of queue: QueueName) throws(BrokerError) -> Int64? {
        guard let value = request.arguments["x-consumer-timeout"] else { return nil }
        guard let timeout = value.integerValue else {
            throw .invalidArgument("x-consumer-timeout", for: queue, "{unacceptable_type,\(value.typeName)}")
        }
        guard timeout >= 0 else { throw .invalidArgument("x-consumer-timeout", for: queue, "{value_negative,\(timeout)}") }
        return timeout
    }

    /// A consumer's `x-priority`, 0 for one that is gone.
    func priority(of key: QueueDispatch.ConsumerKey) -> Int64 {
        channels[key.channel]?.consumers[key.tag]?.priority ?? 0
    }

    /// The consumer of the highest priority, the earliest to subscribe among equals.
    func highestPriority(of consumers: [QueueDispatch.ConsumerKey]) -> QueueDispatch.ConsumerKey? {
        var best: QueueDispatch.ConsumerKey?
        for key in consumers where best.map({ priority(of: key) > priority(of: $0) }) ?? true { best = key }
        return best
    }

    /// basic.cancel. Its unacknowledged deliveries stay with the channel. Returns the
    /// auto-delete of the queue if this was its last consumer.
    public mutating func cancel(channel: ChannelID, consumerTag: String, state: BrokerState, now: Int64) -> [BrokerCommand] {
        if channels[channel]?.replyConsumer?.tag == consumerTag {
            removeReplyConsumer(of: channel)
            return []
        }
        guard let consumer = channels[channel]?.consumers.removeValue(forKey: consumerTag) else { return [] }
        return detach(QueueDispatch.ConsumerKey(channel: channel, tag: consumerTag), from: consumer.queue, state: state, now: now)
    }

    mutating func detach(_ key: QueueDispatch.ConsumerKey, from queue: QueueName, state: BrokerState, now: Int64) -> [BrokerCommand] {
        guard var dispatch = queues.removeValue(forKey: queue) else { return [] }
        dispatch.consumers.removeAll { $0 == key }
        streams[queue]?.readers[key] = nil
        if dispatch.active == key { dispatch.active = highestPriority(of: dispatch.consumers) }
        dispatch.hasExclusiveConsumer = dispatch.consumers.contains { channels[$0.channel]?.consumers[$0.tag]?.exclusive == true }
        dispatch.hasConsumerPriorities = dispatch.consumers.contains { (channels[$0.channel]?.consumers[$0.tag]?.priority ?? 0) != 0 }
        if dispatch.nextConsumer >= dispatch.consumers.count { dispatch.nextConsumer = 0 }
        dispatch.lastUsed = now
        queues[queue] = dispatch
        dirty.insert(queue)
        guard dispatch.consumers.isEmpty, let stored = state.queue(queue), stored.autoDelete else { return [] }
        return [.deleteQueue(QueueDeletion(vhost: queue.vhost, name: queue.name, inUse: false, autoDeleteOnly: true))]
    }

    /// The channel closed: its unacknowledged deliveries go back (requeue commands, raising
    /// their delivery counts) and its consumers go (auto-deleting queues left without any).
    public mutating func closeChannel(_ id: ChannelID, state: BrokerState, now: Int64) -> [BrokerCommand] {
        removeReplyConsumer(of: id)
        guard var channel = channels.removeValue(forKey: id) else { return [] }
        var proposals = requeueCommands(channel.unacked.removeThrough(0), deliveryFailed: true, now: now)
        for tag in channel.consumers.keys.sorted() {
            guard let consumer = channel.consumers[tag] else { continue }
            proposals += detach(QueueDispatch.ConsumerKey(channel: id, tag: tag), from: consumer.queue, state: state, now: now)
        }
        return proposals
    }

    /// The connection closed: every channel of it closes, and its exclusive queues go.
    public mutating func closeConnection(_ connection: String, state: BrokerState, now: Int64) -> [BrokerCommand] {
        var proposals: [BrokerCommand] = []
        for id in channels.keys.filter({ $0.connection == connection }).sorted() {
            proposals += closeChannel(id, state: state, now: now)
        }
        paused.remove(connection)
        if !state.queuesOwned(by: connection).isEmpty { proposals.append(.deleteQueuesOwned(by: connection)) }
        return proposals
    }

    /// The tag a new consumer of the channel gets: the one asked for, or one made up when
    /// that is empty; one the channel's consumers (its reply consumer too) use is refused.
    mutating func consumerTag(_ requested: String, on channel: ChannelID) throws(BrokerError) -> String {
        var tag = requested
        if tag.isEmpty {
            repeat { tag = nextConsumerTag() } while channels[channel]?.consumers[tag] != nil
        } else if channels[channel]?.consumers[tag] != nil || channels[channel]?.replyConsumer?.tag == tag {
            throw BrokerError(.notAllowed, "attempt to reuse consumer tag '\(tag)'")
        }
        if tag.utf8.count > limits.nameBytesMax { throw .nameTooLong(kind: "consumer tag", bytesMax: limits.nameBytesMax) }
        return tag
    }

    private mutating func nextConsumerTag() -> String {
        consumerTagCounter += 1
        var seed = consumerTagCounter &* 0xD6E8_FEB8_6659_FD93 ^ redeliveredBelow
        var bytes: [UInt8] = []
        for _ in 0..<2 {
            let word = SplitMix64.next(&seed)
            for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return "amq.ctag-" + Base64URL.encode(bytes)
    }

    // MARK: Replicated changes

    /// Feeds the effects of applied commands, with the state after them. Returns the
    /// consumers cancelled because their queue was deleted.
    public mutating func observe(_ effects: [BrokerEffect], state: BrokerState) -> [ConsumerCancellation] {
        var cancelled: [ConsumerCancellation] = []
        for effect in effects {
            switch effect {
            case .ready(let name, let ids):
                dirty.insert(name)
                guard let stored = state.queue(name) else { continue }
                let holds = !stored.heldUntil.isEmpty
                if holds { holdingQueues.insert(name) }
                // New messages lie past every cursor: only requeued ones need placing.
                guard let highest = queues[name]?.cursor.max(), holds || ids.contains(where: { $0 < highest }),
                    var dispatch = queues.removeValue(forKey: name)
                else { continue }
                for id in ids {
                    if holds, let readyAt = stored.heldUntil[id] {
                        dispatch.holdBack(id, until: readyAt)
                    } else if id < highest, let message = stored.message(id) {
                        dispatch.makeReady(message)
                    }
                }
                if holds { dispatch.skipHeld(in: stored) }
                queues[name] = dispatch
            case .removed(let name, let ids, _):
                guard var dispatch = queues.removeValue(forKey: name) else { continue }
                for id in ids { dispatch.forget(id) }
                queues[name] = dispatch
            case .queueDeleted(let name):
                dirty.remove(name)
                streams[name] = nil
                holdingQueues.remove(name)
                guard let dispatch = queues.removeValue(forKey: name) else { continue }
                for key in dispatch.consumers {
                    channels[key.channel]?.consumers[key.tag] = nil
                    cancelled.append(ConsumerCancellation(channel: key.channel, consumerTag: key.tag, queue: name))
                }
            case .reply, .failed, .published, .deadLettered, .exchangeDeleted, .write:
                continue
            }
        }
        return cancelled
    }
}
