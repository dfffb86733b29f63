// `x-delayed-message` exchanges (RabbitMQ's delayed-message plugin, replicated): a publish
// with an `x-delay` is held in the exchange's store, its record on disk like a queued
// message's, and fires when the leader's sweep says its time has come, routed through the
// exchange's bindings as they are then.
extension BrokerState {
    /// The plugin's longest delay (Erlang's longest timer); a longer one routes at once.
    public static let delayMaxMs: Int64 = 4_294_967_295
    /// The records one command's apply reads back from the store and stores again, at most,
    /// unless one record alone is larger: a firing of delayed messages, a retry of dead letters.
    public static let commandRecordBytesMax = 8 << 20

    /// How long the exchange holds a publish to it: nil routes it at once, as the plugin
    /// does when the exchange is not `x-delayed-message`, or `x-delay` is absent, not a
    /// number, not positive, or past `delayMaxMs`. Integers count; strings are parsed and
    /// floats and decimals cut to whole milliseconds, as the plugin does.
    public func delay(of message: Message, vhost: String) -> Publish.Delay? {
        // The header first: most publishes carry none, and then no exchange is looked up.
        guard let value = message.properties.headers?["x-delay"],
            exchange(ExchangeName(vhost: vhost, message.exchange))?.type == .delayedMessage,
            let delay = Self.milliseconds(value), delay > 0, delay <= Self.delayMaxMs
        else { return nil }
        return Publish.Delay(vhost: vhost, milliseconds: delay)
    }

    static func milliseconds(_ value: ArgumentValue) -> Int64? {
        if let integer = value.integerValue { return integer }
        switch value {
        case .string(let text): return Int64(text)
        case .float(let v): return truncated(Double(v))
        case .double(let v): return truncated(v)
        case .decimal(let scale, let v):
            // Past 10^18 every Int32 value truncates to zero.
            guard scale <= 18 else { return 0 }
            var divisor: Int64 = 1
            for _ in 0..<scale { divisor *= 10 }
            return Int64(v) / divisor
        case .bool, .int8, .uint8, .int16, .uint16, .int32, .uint32, .int64, .uint64, .bytes, .timestamp, .array, .table, .void:
            return nil
        }
    }

    private static func truncated(_ value: Double) -> Int64? {
        guard value.isFinite, value.magnitude < 9.0e18 else { return nil }
        return Int64(value)
    }

    // MARK: Reading

    /// How many messages the x-delayed-message exchanges hold, all together.
    public var delayedMessageCount: Int { delayedSchedule.count }

    /// When the next held message is due, if any: the leader wakes then.
    public var nextDelayedFireAt: Int64? { delayedSchedule.first?.fireAt }

    /// Up to `limit` held messages in firing order, for management and tests.
    public func delayedMessages(limit: Int) -> [DelayedMessage] { delayedSchedule.messages(after: nil, limit: limit) }

    /// The store of an `x-delayed-message` exchange.
    public func delayStore(of name: ExchangeName) -> DelayStore? {
        exchange(name)?.delayStoreID.flatMap { delayStores[$0] }
    }

    /// The firing the leader proposes at `now`: nil while nothing is due.
    public func delayedFiring(at now: Int64) -> BrokerCommand? {
        guard let next = nextDelayedFireAt, next <= now else { return nil }
        return .fireDelayed(
            DelayedFiring(timestamp: now, messagesMax: limits.deliveriesPerDispatchMax, recordBytesMax: Self.commandRecordBytesMax))
    }

    // MARK: Applying

    /// Gives a newly declared `x-delayed-message` exchange its store, named by the entry.
    mutating func openDelayStore(for name: ExchangeName, index: UInt64) {
        precondition(delayStores[index] == nil, "store \(index) opened twice")
        vhosts[name.vhost]?.exchanges[name.name]?.delayStoreID = index
        delayStores[index] = DelayStore(exchange: name)
    }

    /// Drops an exchange's held messages with its store: the plugin's messages die with
    /// their exchange too (they fire into an exchange that no longer routes).
    mutating func closeDelayStore(of exchange: Exchange) {
        guard let id = exchange.delayStoreID, delayStores.removeValue(forKey: id) != nil else { return }
        _ = delayedSchedule.removeAll { $0.store == id }
    }

    /// Holds a delayed publish in its exchange's store. One whose exchange went (or turned
    /// into another) before this applied is dropped, as a publish routed nowhere; one past
    /// `delayedMessagesMax` is refused (nacked).
    mutating func hold(_ publish: Publish, for delay: Publish.Delay, at timestamp: Int64, _ log: inout EffectLog) {
        let name = ExchangeName(vhost: delay.vhost, publish.message.exchange)
        guard let id = exchange(name)?.delayStoreID, let store = delayStores[id] else {
            return log.published(PublishOutcome(publisherToken: publish.publisherToken, stored: [], rejected: []))
        }
        guard delayedSchedule.count < limits.delayedMessagesMax else {
            return log.published(PublishOutcome(publisherToken: publish.publisherToken, stored: [], rejected: [], holdRefused: true))
        }
        let record = MessageRecord.encode(publish.message)
        let (position, next) = Queue.place(bytes: record.count, at: store.cursor, segmentBytes: limits.storeSegmentBytes)
        let (fireAt, overflow) = timestamp.addingReportingOverflow(delay.milliseconds)
        let held = DelayedMessage(
            fireAt: overflow ? .max : fireAt, sequence: nextMessageID, store: id, position: position, recordBytes: record.count)
        nextMessageID += 1
        delayedSchedule.insert(held)
        delayStores[id]?.cursor = next
        delayStores[id]?.messageCount += 1
        delayStores[id]?.recordBytes += record.count
        log.write(record, at: held.location)
        log.published(PublishOutcome(publisherToken: publish.publisherToken, stored: [], rejected: []))
    }

    /// Fires what is due at the firing's timestamp, next due first, within its bounds: each
    /// routed through its exchange's bindings as they are now, with `x-delay` turned
    /// negative as the plugin does (so that a further delayed exchange routes it at once).
    mutating func fire(_ firing: DelayedFiring, _ log: inout EffectLog) {
        var fired = 0
        var bytes = 0
        while fired < firing.messagesMax, let next = delayedSchedule.first, next.fireAt <= firing.timestamp {
            if fired > 0, bytes + next.recordBytes > firing.recordBytesMax { break }
            _ = delayedSchedule.removeFirst()
            fired += 1
            bytes += next.recordBytes
            guard let store = delayStores[next.store] else { preconditionFailure("a delayed message in store \(next.store), which is gone") }
            delayStores[next.store]?.messageCount -= 1
            delayStores[next.store]?.recordBytes -= next.recordBytes
            route(log.message(at: next.location), from: store.exchange, at: firing.timestamp, &log)
        }
    }

    private mutating func route(_ held: Message, from exchange: ExchangeName, at timestamp: Int64, _ log: inout EffectLog) {
        var message = held
        let routingKeys = message.routingKeys
        if let delay = message.properties.headers?["x-delay"].flatMap(Self.milliseconds), delay > 0 {
            message.properties.headers?["x-delay"] = Int32(exactly: -delay).map(ArgumentValue.int32) ?? .int64(-delay)
        }
        let targets = routeKeys(vhost: exchange.vhost, exchange: exchange.name, routingKeys: routingKeys, headers: message.properties.headers)
        guard !targets.isEmpty else { return }
        if message.properties.headers?["BCC"] != nil { message.properties.headers?["BCC"] = nil }
        let messageTTL = try? message.properties.expirationMs()
        let incoming = Incoming(message)
        for target in targets {
            _ = store(incoming, in: target, at: timestamp, messageTTL: messageTTL, hops: 0, &log)
        }
    }
}
