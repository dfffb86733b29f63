/// The broker's replicated state: vhosts, exchanges, bindings, queues and their messages.
/// A pure, deterministic state machine: every replica applies the same commands in log order
/// and reaches the same state and the same effects. It reads no clock (timestamps come in
/// commands), draws no random number and iterates no unordered collection where order
/// could show. Which message is out at which consumer is not here: that is the leader's
/// `Dispatcher`.
///
/// The node uses it so:
/// 1. On the leader, for each publish: `validatePublish`, then `route` → the queues.
/// 2. Propose `BrokerCommand.enqueue` (a batch) with those queues; metadata requests
///    become their commands likewise.
/// 3. Every replica, for each committed entry: `apply(encoded:at:reader:)` → effects, the
///    first of which to act on is `write`: the records of the messages it stored.
/// 4. The leader answers clients from the effects (replies, confirms, nacks) and feeds
///    them to its `Dispatcher`, which hands out deliveries and returns more commands to
///    propose (settle, requeue, reject, expire, auto-delete).
public struct BrokerState: Sendable {
    public let limits: BrokerLimits
    var vhosts: [String: VirtualHost]
    /// The next message id; one counter for all queues, so ids are never reused.
    public internal(set) var nextMessageID: MessageID = 1
    /// The index of the last applied entry.
    public internal(set) var appliedIndex: UInt64 = 0
    var exchangeCount: Int
    var queueCount = 0
    var bindingCount = 0
    var users: [String: User] = [Self.guest.name: Self.guest]
    /// By vhost, then user.
    var permissions: [String: [String: Permission]] = [Self.defaultVHost: [Self.guest.name: .all]]
    /// Limits as set, by subject (see `ResourceLimit`).
    var resourceLimits: [LimitSubject: [ResourceLimit: Int64]] = [:]
    /// Whether a node's initial users were added (see `seedUsers`).
    public internal(set) var usersSeeded = false
    /// The index of the last change to users or permissions: what a cache of their outcomes
    /// was made at tells whether it still holds.
    public internal(set) var accessChangedAt: UInt64 = 0
    /// The stores of `x-delayed-message` exchanges, by store id (`Exchange.delayStoreID`).
    var delayStores: [UInt64: DelayStore] = [:]
    /// Every message those exchanges hold, in the order they fire.
    var delayedSchedule = DelayedSchedule()

    public static let defaultVHost = "/"

    /// A fresh state: the default vhost "/" with its standard exchanges.
    public init(limits: BrokerLimits = BrokerLimits()) {
        precondition(limits.validate().isEmpty, "invalid broker limits: \(limits.validate())")
        self.limits = limits
        vhosts = [Self.defaultVHost: VirtualHost(name: Self.defaultVHost)]
        exchangeCount = VirtualHost.standardExchanges.count
    }

    // MARK: Applying

    /// Applies one committed command. MUST be called in log order with increasing indexes;
    /// the index names server-named queues and their stores, so every replica names them
    /// alike. `reader` reads back the records of earlier commands (see `MessageReader`);
    /// the `write` effect MUST reach the store before the next command is applied.
    public mutating func apply(_ command: BrokerCommand, at index: UInt64, reader: any MessageReader) -> [BrokerEffect] {
        precondition(index > appliedIndex, "entry \(index) applied after entry \(appliedIndex)")
        appliedIndex = index
        var log = EffectLog(reader: reader, limits: limits)
        switch command {
        case .declareVHost(let name): declareVHost(name, &log)
        case .deleteVHost(let name): deleteVHost(name, &log)
        case .declareExchange(let declaration): declareExchange(declaration, index: index, &log)
        case .deleteExchange(let deletion): deleteExchange(deletion, &log)
        case .declareQueue(let declaration): declareQueue(declaration, index: index, &log)
        case .deleteQueue(let deletion): deleteQueue(deletion, &log)
        case .bind(let change): bind(change, &log)
        case .unbind(let change): unbind(change, &log)
        case .purge(let purge): self.purge(purge, &log)
        case .enqueue(let enqueue): self.enqueue(enqueue, &log)
        case .settle(let batch): settle(batch, &log)
        case .requeue(let batch, let timestamp, let deliveryFailed): requeue(batch, timestamp: timestamp, deliveryFailed: deliveryFailed, &log)
        case .reject(let batch, let timestamp): reject(batch, timestamp: timestamp, &log)
        case .expire(let expiry): expire(expiry, &log)
        case .fireDelayed(let firing): fire(firing, &log)
        case .retryDeadLetters(let retry): retryDeadLetters(retry, &log)
        case .deleteQueuesOwned(let owner): deleteQueuesOwned(by: owner, &log)
        case .putUser(let user): putUser(user, &log)
        case .deleteUser(let name): deleteUser(name, &log)
        case .setPermission(let vhost, let user, let permission): setPermission(vhost: vhost, user: user, permission, &log)
        case .clearPermission(let vhost, let user): clearPermission(vhost: vhost, user: user, &log)
        case .seedUsers(let seed): seedUsers(seed, &log)
        case .setLimit(let subject, let limit, let value): setLimit(limit, of: subject, to: value, &log)
        case .clearLimit(let subject, let limit): clearLimit(limit, of: subject, &log)
        }
        return log.effects()
    }

    /// Decodes an entry's payload and applies it. A payload that does not decode was written
    /// by a newer or broken node; the caller decides (the entry is not applied).
    public mutating func apply(encoded payload: [UInt8], at index: UInt64, reader: any MessageReader) throws(BrokerCodecError) -> [BrokerEffect] {
        let command = try BrokerCommand(decoding: payload, limits: limits)
        return apply(command, at: index, reader: reader)
    }

    // MARK: Reading

    public var vhostNames: [String] { vhosts.keys.sorted() }

    public func exchange(_ name: ExchangeName) -> Exchange? { vhosts[name.vhost]?.exchanges[name.name] }

    public func queue(_ name: QueueName) -> Queue? { vhosts[name.vhost]?.queues[name.name] }

    public func exchangeNames(in vhost: String) -> [String] { vhosts[vhost]?.exchanges.keys.sorted() ?? [] }

    public func queueNames(in vhost: String) -> [String] { vhosts[vhost]?.queues.keys.sorted() ?? [] }

    /// Every queue of every vhost, ordered by vhost then name.
    public var allQueueNames: [QueueName] {
        vhostNames.flatMap { vhost in queueNames(in: vhost).map { QueueName(vhost: vhost, $0) } }
    }

    /// Every binding of a vhost, by source exchange name then binding order.
    public func bindings(in vhost: String) -> [Binding] {
        guard let host = vhosts[vhost] else { return [] }
        return host.exchanges.keys.sorted().flatMap { host.exchanges[$0]?.bindings ?? [] }
    }

    /// The connections that own exclusive queues, sorted: after a node is lost, the leader
    /// deletes the queues of the connections that were on it.
    public var exclusiveOwners: [String] {
        Set(allQueueNames.compactMap { queue($0)?.exclusiveOwner }).sorted()
    }

    /// The exclusive queues a connection owns, ordered.
    public func queuesOwned(by owner: String) -> [QueueName] {
        allQueueNames.filter { queue($0)?.exclusiveOwner == owner }
    }

    /// RabbitMQ's exclusive-access check for consume, get, purge, delete and bind: an exclusive
    /// queue is usable only from its owner's connection.
    public func checkExclusiveAccess(_ name: QueueName, connection: String?) throws(BrokerError) {
        guard let queue = queue(name) else { throw .queueNotFound(name) }
        if let owner = queue.exclusiveOwner, let connection, owner != connection { throw .exclusiveLocked(name) }
    }

    // MARK: Publishing (on the leader, before proposing)

    /// Refuses, before it is proposed, a metadata command whose arguments `apply` would
    /// refuse or the command's codec could not carry (too deep, too many entries).
    public func validate(_ command: BrokerCommand) throws(BrokerError) {
        switch command {
        case .declareExchange(let declaration): try checkArguments(declaration.arguments)
        case .declareQueue(let declaration): try checkArguments(declaration.arguments)
        case .bind(let change), .unbind(let change): try checkArguments(change.binding.arguments)
        case .setPermission(_, _, let permission): try checkPatterns(permission)
        case .putUser(let user): try checkUser(user)
        case .seedUsers(let users): for user in users { try checkUser(user) }
        case .setLimit(let subject, let limit, _), .clearLimit(let subject, let limit): try checkLimit(limit, of: subject)
        case .declareVHost, .deleteVHost, .deleteExchange, .deleteQueue, .purge, .enqueue, .settle, .requeue, .reject, .expire,
            .fireDelayed, .retryDeadLetters, .deleteQueuesOwned, .deleteUser, .clearPermission:
            break
        }
    }

    /// Checks a publish the way RabbitMQ's channel does before routing: the body's size, the
    /// `expiration` property, and that the exchange exists and is not internal. It also
    /// refuses whatever the log format would refuse (names, short strings and headers past
    /// `limits`), so that one bad publish cannot spoil the batch proposed with it.
    public func validatePublish(vhost: String, message: Message) throws(BrokerError) {
        if message.body.count > limits.messageBodyBytesMax {
            throw BrokerError(
                .preconditionFailed,
                "message size \(message.body.count) is larger than configured max size \(limits.messageBodyBytesMax)")
        }
        try checkName(message.exchange, kind: "exchange")
        try checkName(message.routingKey, kind: "routing key")
        let p = message.properties
        for text in [p.contentType, p.contentEncoding, p.correlationId, p.replyTo, p.expiration, p.messageId, p.type, p.userId, p.appId, p.clusterId] {
            if let text, text.utf8.count > limits.nameBytesMax {
                throw BrokerError(.preconditionFailed, "a property is longer than \(limits.nameBytesMax) bytes")
            }
        }
        if let headers = p.headers {
            try checkArguments(headers)
            if headers.keys.contains(where: { $0.utf8.count > limits.nameBytesMax }) {
                throw BrokerError(.preconditionFailed, "a header name is longer than \(limits.nameBytesMax) bytes")
            }
        }
        _ = try p.expirationMs()
        let name = ExchangeName(vhost: vhost, message.exchange)
        guard let exchange = exchange(name) else { throw .exchangeNotFound(name) }
        if exchange.isInternal { throw BrokerError(.accessRefused, "cannot publish to internal \(name)") }
    }

    /// The queues a message goes to, each once, in a deterministic order: through the exchange
    /// and every exchange bound to it (each visited once, so cycles end), and an exchange's
    /// `alternate-exchange` where it routes nowhere. The routing keys are the routing key and
    /// the `CC` and `BCC` headers. An empty result is unroutable: the node returns the message
    /// if it was mandatory. Done once, on the leader; `enqueue` records the outcome.
    public func route(vhost: String, exchange: String, routingKey: String, headers: ArgumentTable?) throws(BrokerError) -> [QueueName] {
        guard let host = vhosts[vhost] else { throw .vhostNotFound(vhost) }
        guard host.exchanges[exchange] != nil else { throw .exchangeNotFound(ExchangeName(vhost: vhost, exchange)) }
        let message = Message(exchange: exchange, routingKey: routingKey, properties: BasicProperties(headers: headers), body: [])
        return Self.route(in: host, exchange: exchange, routingKeys: message.routingKeys, headers: headers)
    }

    /// Routes with explicit routing keys, borrowing the vhost in place (no copy of it is
    /// kept, so stores that follow mutate queues without copying them).
    func routeKeys(vhost: String, exchange: String, routingKeys: [String], headers: ArgumentTable?) -> [QueueName] {
        guard let host = vhosts[vhost] else { return [] }
        return Self.route(in: host, exchange: exchange, routingKeys: routingKeys, headers: headers)
    }

    static func route(in host: VirtualHost, exchange start: String, routingKeys: [String], headers: ArgumentTable?) -> [QueueName] {
        var queues: [QueueName] = []
        var seenQueues: Set<String> = []
        var visited: Set<String> = []
        func take(_ queue: String) {
            if host.queues[queue] != nil, seenQueues.insert(queue).inserted { queues.append(QueueName(vhost: host.name, queue)) }
        }
        func visit(_ name: String) {
            guard visited.insert(name).inserted, let exchange = host.exchanges[name] else { return }
            if name.isEmpty {
                routingKeys.forEach(take)
                return
            }
            let destinations = exchange.destinations(routingKeys: routingKeys, headers: headers)
            if destinations.isEmpty, let alternate = exchange.alternateExchange {
                visit(alternate)
                return
            }
            for destination in destinations {
                switch destination {
                case .queue(let queue): take(queue)
                case .exchange(let next): visit(next)
                }
            }
        }
        visit(start)
        return queues
    }

    // MARK: Names

    func checkName(_ name: String, kind: String) throws(BrokerError) {
        if name.utf8.count > limits.nameBytesMax { throw .nameTooLong(kind: kind, bytesMax: limits.nameBytesMax) }
    }

    /// "amq.gen-" and 22 URL-safe base64 characters derived from the log index (and a
    /// counter, should a name be taken): the same on every replica.
    static func generatedQueueName(index: UInt64, attempt: UInt64) -> String {
        var seed = index &* 0x9E37_79B9_7F4A_7C15 &+ attempt
        var bytes: [UInt8] = []
        for _ in 0..<2 {
            let word = SplitMix64.next(&seed)
            for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return "amq.gen-" + Base64URL.encode(bytes)
    }
}
