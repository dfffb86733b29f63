// The whole state as bytes: a version byte, the counters, then every vhost with its
// exchanges (and their bindings) and queues (their store and, per priority level, their
// messages: where each record is and what delivery needs, never a body), all in name order
// so equal states give equal bytes; then users, permissions and whether users were seeded,
// limits, and the delayed exchanges' stores with their held messages in firing order.
extension BrokerState {
    /// 6: every queue's held-back times (delivery times came with them) and its pending
    /// at-least-once dead letters. 5: a quorum queue's 32 priority levels, a deduplicating
    /// queue's keys, a delayed-retry queue's ready times, a stream's offsets, chunks and
    /// segments, and the delayed exchanges' stores and held messages last. 4: vhosts' and users' limits last. 3: users
    /// and permissions after the vhosts. 2: messages as records in their queue's store (a
    /// version 2 snapshot restores with a fresh state's users). Version 1 held whole messages.
    public static let snapshotFormatVersion: UInt8 = 6

    /// The state as of the last applied entry.
    public func snapshotData() -> [UInt8] {
        var w = ByteWriter(capacity: 4_096)
        w.byte(Self.snapshotFormatVersion)
        w.varint(appliedIndex)
        w.varint(nextMessageID)
        w.array(vhostNames) { w, vhost in
            guard let host = vhosts[vhost] else { preconditionFailure("vhost \(vhost) listed but absent") }
            w.string(vhost)
            w.array(host.exchanges.keys.sorted()) { w, name in
                guard let exchange = host.exchanges[name] else { preconditionFailure("exchange \(name) listed but absent") }
                w.string(name)
                w.byte(exchange.type.rawValue)
                w.byte((exchange.durable ? 1 : 0) | (exchange.autoDelete ? 2 : 0) | (exchange.isInternal ? 4 : 0))
                w.table(exchange.arguments)
                w.array(exchange.bindings) { $0.binding($1) }
                if let window = exchange.deduplication {
                    w.array(window.keys) { w, entry in
                        w.value(entry.key)
                        w.signed(entry.expiresAt)
                    }
                }
            }
            w.array(host.queues.keys.sorted()) { w, name in
                guard let queue = host.queues[name] else { preconditionFailure("queue \(name) listed but absent") }
                w.string(name)
                w.byte((queue.durable ? 1 : 0) | (queue.autoDelete ? 2 : 0))
                w.optionalString(queue.exclusiveOwner)
                w.table(queue.arguments)
                w.signed(queue.lastDeclaredAt)
                w.varint(queue.storeID)
                w.varint(queue.storeCursor)
                for level in 0..<queue.priorityLevels { w.messages(queue.level(level)) }
                if queue.settings.deduplicates { w.deduplicationKeys(queue.deduplicationKeys) }
                if let stream = queue.stream { w.streamLog(stream) }
                w.heldUntil(queue.heldUntil)
                w.pendingDeadLetters(queue.pendingDeadLetterEntries)
            }
        }
        w.array(allUsers) { $0.user($1) }
        w.array(allPermissions) { w, entry in
            w.string(entry.vhost)
            w.string(entry.user)
            w.permission(entry.permission)
        }
        w.bool(usersSeeded)
        w.array(allResourceLimits) { w, entry in
            w.limitSubject(entry.subject)
            w.array(ResourceLimit.allCases.filter { entry.limits[$0] != nil }) { w, limit in
                w.byte(limit.code)
                w.signed(entry.limits[limit] ?? -1)
            }
        }
        w.array(delayStores.keys.sorted()) { w, id in
            guard let store = delayStores[id] else { preconditionFailure("store \(id) listed but absent") }
            w.varint(id)
            w.string(store.exchange.vhost)
            w.string(store.exchange.name)
            w.varint(store.cursor)
        }
        w.count(delayedSchedule.count)
        var previousFireAt: Int64 = 0
        delayedSchedule.forEach { held in
            // Held messages are in firing order: each time as the step from the one before.
            w.signed(held.fireAt &- previousFireAt)
            w.varint(held.sequence)
            w.varint(held.store)
            w.varint(held.position)
            w.varint(UInt64(held.recordLength))
            previousFireAt = held.fireAt
        }
        return w.bytes
    }

    /// Discards all state and takes the snapshot's. On failure the state is left unchanged.
    /// Only the canonical form `snapshotData` writes is accepted (names in order, no
    /// duplicates), so what restores snapshots to the same bytes.
    public mutating func restore(from data: [UInt8]) throws(BrokerCodecError) {
        var restored = BrokerState(limits: limits)
        try restored.read(data)
        self = restored
    }

    private mutating func read(_ data: [UInt8]) throws(BrokerCodecError) {
        guard !data.isEmpty else { throw .empty }
        var r = ByteReader(data)
        let version = try r.byte()
        guard (2...Self.snapshotFormatVersion).contains(version) else { throw .unsupportedVersion(version) }
        appliedIndex = try r.varint()
        nextMessageID = try r.varint()
        vhosts = [:]
        exchangeCount = 0
        queueCount = 0
        bindingCount = 0
        let limits = self.limits
        let vhostCount = try r.count(minimumBytes: 3, max: limits.vhostsMax)
        for _ in 0..<vhostCount {
            let at = r.offset
            let vhost = try r.string(max: limits.nameBytesMax)
            guard vhostNames.last.map({ $0 < vhost }) ?? true else { throw .invalidValue("vhost '\(vhost)' out of order", offset: at) }
            var host = VirtualHost(name: vhost, exchanges: [:], queues: [:])
            var previousExchange: String?
            var previousQueue: String?
            let exchanges = try r.count(minimumBytes: 5, max: limits.exchangesMax)
            for _ in 0..<exchanges {
                let exchangeAt = r.offset
                let exchange = try readExchange(&r, vhost: vhost)
                guard previousExchange.map({ $0 < exchange.name.name }) ?? true else {
                    throw .invalidValue("exchange '\(exchange.name.name)' out of order", offset: exchangeAt)
                }
                previousExchange = exchange.name.name
                host.exchanges[exchange.name.name] = exchange
                exchangeCount += 1
                bindingCount += exchange.bindingCount
            }
            let queues = try r.count(minimumBytes: 9, max: limits.queuesMax)
            for _ in 0..<queues {
                let queueAt = r.offset
                let queue = try readQueue(&r, vhost: vhost, version: version)
                guard previousQueue.map({ $0 < queue.name.name }) ?? true else {
                    throw .invalidValue("queue '\(queue.name.name)' out of order", offset: queueAt)
                }
                previousQueue = queue.name.name
                host.queues[queue.name.name] = queue
                queueCount += 1
            }
            vhosts[vhost] = host
        }
        if version >= 3 { try readAccess(&r) }
        if version >= 4 { try readResourceLimits(&r) }
        if version >= 5 { try readDelayed(&r) }
        accessChangedAt = appliedIndex
        try r.finish()
        guard exchangeCount <= limits.exchangesMax, queueCount <= limits.queuesMax, bindingCount <= limits.bindingsMax else {
            throw .limitExceeded("snapshot holds more than the limits allow", offset: r.offset)
        }
        try checkReferences()
    }

    /// The messages of a quorum queue from a snapshot older than version 5. A message was
    /// at level 0 unless the queue had `x-max-priority`, so its own priority is unknown: it
    /// takes the default, and keeps its place among the messages without one.
    private func restoreMoved(_ messages: [QueuedMessage], into queue: inout Queue, legacy: QueueSettings, at offset: Int) throws(BrokerCodecError) {
        let placed = messages.map { message in
            let priority = legacy.priorityMax == nil ? nil : message.priority
            return QueuedMessage(
                id: message.id, position: message.position, recordBytes: message.recordBytes, bodyBytes: message.bodyBytes,
                expiresAt: message.expiresAt, deliveryCount: message.deliveryCount, redelivered: message.redelivered,
                priority: queue.settings.servedPriority(priority))
        }
        for message in placed.sorted(by: { ($0.priority, $0.id) < ($1.priority, $1.id) }) {
            guard queue.message(message.id) == nil else { throw .invalidValue("message id \(message.id) twice in \(queue.name)", offset: offset) }
            queue.restore(message)
        }
    }

    private func readExchange(_ r: inout ByteReader, vhost: String) throws(BrokerCodecError) -> Exchange {
        let name = try r.string(max: limits.nameBytesMax)
        let at = r.offset
        let rawType = try r.byte()
        guard let type = ExchangeType(rawValue: rawType) else { throw .unknownTag(rawType, offset: at) }
        let flagsAt = r.offset
        let flags = try r.byte()
        guard flags < 8 else { throw .invalidValue("exchange flags \(flags)", offset: flagsAt) }
        let argumentsAt = r.offset
        let arguments = try r.table(limits: limits)
        if !type.routes {
            do {
                _ = try ExchangeType.delayedRoutingType(in: arguments)
            } catch {
                throw .invalidValue("x-delayed-type of exchange '\(name)': \(error.replyText)", offset: argumentsAt)
            }
        }
        var exchange = Exchange(
            name: ExchangeName(vhost: vhost, name), type: type, durable: flags & 1 != 0, autoDelete: flags & 2 != 0,
            isInternal: flags & 4 != 0, arguments: arguments)
        let bindings = try r.count(minimumBytes: 5, max: limits.bindingsMax)
        for _ in 0..<bindings {
            let bindingAt = r.offset
            let binding = try r.binding(limits: limits)
            guard binding.source == name else { throw .invalidValue("binding of '\(binding.source)' under '\(name)'", offset: bindingAt) }
            do {
                guard try exchange.add(binding) else { throw BrokerCodecError.invalidValue("binding twice", offset: bindingAt) }
            } catch {
                throw .invalidValue("binding refused: \(error)", offset: bindingAt)
            }
        }
        if type == .deduplication {
            var window: DeduplicationCache
            do {
                window = try DeduplicationCache(arguments: arguments, limits: limits)
            } catch {
                throw .invalidValue("arguments of exchange '\(name)': \(error.replyText)", offset: argumentsAt)
            }
            for _ in 0..<(try r.count(minimumBytes: 2, max: window.capacity)) {
                let keyAt = r.offset
                let key = try r.value(limits: limits)
                guard window.restore(key, expiresAt: try r.signed()) else {
                    throw .invalidValue("deduplication key of exchange '\(name)' twice", offset: keyAt)
                }
            }
            exchange.deduplication = window
        }
        return exchange
    }

    private func readQueue(_ r: inout ByteReader, vhost: String, version: UInt8) throws(BrokerCodecError) -> Queue {
        let name = QueueName(vhost: vhost, try r.string(max: limits.nameBytesMax))
        let flagsAt = r.offset
        let flags = try r.byte()
        guard flags < 4 else { throw .invalidValue("queue flags \(flags)", offset: flagsAt) }
        let owner = try r.optionalString(max: limits.nameBytesMax)
        let argumentsAt = r.offset
        let arguments = try r.table(limits: limits)
        let settings: QueueSettings
        do {
            settings = try QueueSettings.parse(arguments, for: name)
        } catch {
            throw .invalidValue("arguments of \(name): \(error.replyText)", offset: argumentsAt)
        }
        let declaredAt = try r.signed()
        let storeID = try r.varint()
        let storeCursor = try r.varint()
        var queue = Queue(
            name: name, durable: flags & 1 != 0, exclusiveOwner: owner, autoDelete: flags & 2 != 0, arguments: arguments,
            settings: settings, declaredAt: declaredAt, storeID: storeID, storeCursor: storeCursor)
        // Before version 5 a quorum queue had a classic queue's levels: they are read as
        // written and each message moves to the level it is served at now.
        var legacy = settings
        if version < 5 { legacy.queueType = .classic }
        var moved: [QueuedMessage] = []
        var total = 0
        for level in 0..<legacy.priorityLevels {
            let count = try r.count(minimumBytes: 6, max: limits.queueMessagesMax - total)
            total += count
            var id: MessageID = 0
            var recordEnd: UInt64 = 0
            for _ in 0..<count {
                let at = r.offset
                let (idStep, idOverflow) = id.addingReportingOverflow(try r.varint())
                let (position, positionOverflow) = recordEnd.addingReportingOverflow(try r.varint())
                let recordBytes = try r.varint()
                let bodyBytes = try r.varint()
                let flags = try r.byte()
                guard flags < 4 else { throw .invalidValue("message flags \(flags)", offset: at) }
                let expiresAt = flags & 2 != 0 ? try r.signed() : nil
                let rawCount = try r.varint()
                id = idStep
                guard !idOverflow, !positionOverflow, id > 0, id < nextMessageID, legacy.queueType != settings.queueType || queue.message(id) == nil else {
                    throw .invalidValue("message id \(id) out of order in \(name)", offset: at)
                }
                guard recordBytes > UInt64(MessageRecord.headerBytes), recordBytes <= UInt64(UInt32.max), bodyBytes < recordBytes,
                    position.addingReportingOverflow(recordBytes).partialValue <= storeCursor, position <= storeCursor
                else {
                    throw .invalidValue("record of message \(id) in \(name) lies outside its store", offset: at)
                }
                guard let deliveryCount = UInt32(exactly: rawCount) else { throw .invalidValue("delivery count \(rawCount)", offset: at) }
                recordEnd = position + recordBytes
                let message = QueuedMessage(
                    id: id, position: position, recordBytes: Int(recordBytes), bodyBytes: Int(bodyBytes), expiresAt: expiresAt,
                    deliveryCount: deliveryCount, redelivered: flags & 1 != 0, priority: UInt8(level))
                if legacy.queueType == settings.queueType {
                    queue.restore(message)
                } else {
                    moved.append(message)
                }
            }
        }
        try restoreMoved(moved, into: &queue, legacy: legacy, at: r.offset)
        if version >= 5, settings.deduplicates {
            let count = try r.count(minimumBytes: 2, max: queue.messageCount)
            var id: MessageID = 0
            for _ in 0..<count {
                let at = r.offset
                let (next, overflow) = id.addingReportingOverflow(try r.varint())
                let key = try r.value(limits: limits)
                guard !overflow, next > id, queue.name(next, deduplicationKey: key) else {
                    throw .invalidValue("deduplication key of message \(next) in \(name)", offset: at)
                }
                id = next
            }
        }
        // Streams came with version 5: an older snapshot has none.
        if queue.stream != nil {
            guard version >= 5 else { throw .invalidValue("\(name) is a stream in a version \(version) snapshot", offset: argumentsAt) }
            queue.stream = try r.streamLog(for: queue, limits: limits)
        }
        // Version 5 wrote them only for queues with delayed retry, an argument no older snapshot could hold.
        if version >= 6 || (version == 5 && settings.delayedRetry != nil) {
            let count = try r.count(minimumBytes: 2, max: queue.messageCount)
            var id: MessageID = 0
            for _ in 0..<count {
                let at = r.offset
                let (next, overflow) = id.addingReportingOverflow(try r.varint())
                let readyAt = try r.signed()
                guard !overflow, next > id, queue.holdBack(next, until: readyAt) else {
                    throw .invalidValue("retry time of message \(next) in \(name)", offset: at)
                }
                id = next
            }
        }
        if version >= 6 {
            let count = try r.count(minimumBytes: 4, max: queue.messageCount)
            for _ in 0..<count {
                let at = r.offset
                let id = try r.varint()
                let rawReason = try r.byte()
                let deadAt = try r.signed()
                let forwardedTo = try r.array(minimumBytes: 1, max: limits.queuesMax) {
                    (r: inout ByteReader) throws(BrokerCodecError) in QueueName(vhost: vhost, try r.string(max: limits.nameBytesMax))
                }
                guard let reason = DeadLetterReason(rawValue: rawReason), queue.message(id)?.isDeadLettered == false,
                    queue.keepDeadLettered(id, PendingDeadLetter(reason: reason, deadAt: deadAt, forwardedTo: forwardedTo))
                else { throw .invalidValue("pending dead letter \(id) in \(name)", offset: at) }
            }
        }
        return queue
    }

    /// Every binding leads somewhere that exists, as apply keeps it.
    private mutating func readAccess(_ r: inout ByteReader) throws(BrokerCodecError) {
        let limits = self.limits
        users = [:]
        permissions = [:]
        var previousUser: String?
        for _ in 0..<(try r.count(minimumBytes: 3, max: limits.usersMax)) {
            let at = r.offset
            let user = try r.user(limits: limits)
            guard previousUser.map({ $0 < user.name }) ?? true else { throw .invalidValue("user '\(user.name)' out of order", offset: at) }
            previousUser = user.name
            users[user.name] = user
        }
        var previous: (vhost: String, user: String)?
        for _ in 0..<(try r.count(minimumBytes: 5, max: limits.usersMax * limits.vhostsMax)) {
            let at = r.offset
            let vhost = try r.string(max: limits.nameBytesMax)
            let user = try r.string(max: limits.nameBytesMax)
            guard previous.map({ ($0.vhost, $0.user) < (vhost, user) }) ?? true else {
                throw .invalidValue("permission of '\(user)' in '\(vhost)' out of order", offset: at)
            }
            guard vhosts[vhost] != nil, users[user] != nil else {
                throw .invalidValue("permission of '\(user)' in '\(vhost)' for a missing user or vhost", offset: at)
            }
            previous = (vhost, user)
            permissions[vhost, default: [:]][user] = try r.permission(limits: limits)
        }
        usersSeeded = try r.bool()
    }

    /// Each subject once, in `allResourceLimits`' order, existing, with limits it takes.
    private mutating func readResourceLimits(_ r: inout ByteReader) throws(BrokerCodecError) {
        let limits = self.limits
        resourceLimits = [:]
        var previous: LimitSubject?
        for _ in 0..<(try r.count(minimumBytes: 3, max: limits.usersMax + limits.vhostsMax)) {
            let at = r.offset
            let subject = try r.limitSubject(limits: limits)
            guard previous.map({ Self.limitOrder($0) < Self.limitOrder(subject) }) ?? true else {
                throw .invalidValue("limits of \(subject) out of order", offset: at)
            }
            previous = subject
            let exists = switch subject {
            case .vhost(let name): vhosts[name] != nil
            case .user(let name): users[name] != nil
            }
            guard exists else { throw .invalidValue("limits of a missing \(subject)", offset: at) }
            var set: [ResourceLimit: Int64] = [:]
            var previousCode: UInt8?
            for _ in 0..<(try r.count(minimumBytes: 2, max: ResourceLimit.allCases.count)) {
                let limitAt = r.offset
                let limit = try r.resourceLimit()
                guard subject.allowed.contains(limit), previousCode.map({ $0 < limit.code }) ?? true else {
                    throw .invalidValue("\(limit.rawValue) on \(subject) out of order or not allowed", offset: limitAt)
                }
                previousCode = limit.code
                let value = try r.signed()
                guard value >= -1 else { throw .invalidValue("\(limit.rawValue) of \(value)", offset: limitAt) }
                set[limit] = value
            }
            guard !set.isEmpty else { throw .invalidValue("no limits on \(subject)", offset: at) }
            resourceLimits[subject] = set
        }
    }

    /// Each delayed exchange's store once, in id order; then the held messages in firing
    /// order, each in a store and inside it, with a sequence the counter has passed.
    private mutating func readDelayed(_ r: inout ByteReader) throws(BrokerCodecError) {
        let limits = self.limits
        delayStores = [:]
        delayedSchedule = DelayedSchedule()
        var previousID: UInt64?
        for _ in 0..<(try r.count(minimumBytes: 5, max: limits.exchangesMax)) {
            let at = r.offset
            let id = try r.varint()
            let name = ExchangeName(vhost: try r.string(max: limits.nameBytesMax), try r.string(max: limits.nameBytesMax))
            let cursor = try r.varint()
            guard previousID.map({ $0 < id }) ?? true, let exchange = exchange(name), !exchange.type.routes, exchange.delayStoreID == nil
            else { throw .invalidValue("delay store \(id) of \(name) out of order, twice, or of no delayed exchange", offset: at) }
            previousID = id
            vhosts[name.vhost]?.exchanges[name.name]?.delayStoreID = id
            delayStores[id] = DelayStore(exchange: name, cursor: cursor)
        }
        for vhost in vhostNames {
            for name in exchangeNames(in: vhost) {
                guard let exchange = exchange(ExchangeName(vhost: vhost, name)), !exchange.type.routes else { continue }
                if exchange.delayStoreID == nil { throw .invalidValue("delayed \(exchange.name) without a store", offset: r.offset) }
            }
        }
        var fireAt: Int64 = 0
        var previous: DelayedMessage.Key?
        for _ in 0..<(try r.count(minimumBytes: 5, max: limits.delayedMessagesMax)) {
            let at = r.offset
            fireAt = fireAt &+ (try r.signed())
            let sequence = try r.varint()
            let id = try r.varint()
            let position = try r.varint()
            let recordBytes = try r.varint()
            let key = DelayedMessage.Key(fireAt: fireAt, sequence: sequence)
            guard previous.map({ $0 < key }) ?? true, sequence < nextMessageID else {
                throw .invalidValue("delayed message \(sequence) out of order", offset: at)
            }
            guard let store = delayStores[id], recordBytes > UInt64(MessageRecord.headerBytes), recordBytes <= UInt64(UInt32.max),
                position <= store.cursor, position.addingReportingOverflow(recordBytes).partialValue <= store.cursor,
                !position.addingReportingOverflow(recordBytes).overflow
            else { throw .invalidValue("record of delayed message \(sequence) lies outside its store", offset: at) }
            previous = key
            delayedSchedule.insert(DelayedMessage(fireAt: fireAt, sequence: sequence, store: id, position: position, recordBytes: Int(recordBytes)))
            delayStores[id]?.messageCount += 1
            delayStores[id]?.recordBytes += Int(recordBytes)
        }
    }

    private func checkReferences() throws(BrokerCodecError) {
        for vhost in vhostNames {
            guard let host = vhosts[vhost] else { continue }
            for exchange in host.exchanges.keys.sorted() {
                for binding in host.exchanges[exchange]?.bindings ?? [] where !host.exists(binding.destination) {
                    throw .invalidValue("binding from '\(exchange)' to a missing destination in vhost '\(vhost)'", offset: 0)
                }
            }
        }
    }
}

extension ByteWriter {
    /// A deduplicating queue's keys, by message id: each id as the step from the one before.
    mutating func deduplicationKeys(_ keys: [MessageID: ArgumentValue]) {
        count(keys.count)
        var id: MessageID = 0
        for next in keys.keys.sorted() {
            varint(next - id)
            value(keys[next] ?? .void)
            id = next
        }
    }

    /// A queue's held-back times, by message id: each id as the step from the one before.
    mutating func heldUntil(_ times: [MessageID: Int64]) {
        count(times.count)
        var id: MessageID = 0
        for next in times.keys.sorted() {
            varint(next - id)
            signed(times[next] ?? 0)
            id = next
        }
    }

    /// A queue's pending dead letters in the order retries take them, each with its reason,
    /// its death's time and the queues (of its vhost) that hold a copy already.
    mutating func pendingDeadLetters(_ entries: [(id: MessageID, pending: PendingDeadLetter)]) {
        count(entries.count)
        for (id, pending) in entries {
            varint(id)
            byte(pending.reason.rawValue)
            signed(pending.deadAt)
            array(pending.forwardedTo) { $0.string($1.name) }
        }
    }

    /// The messages of one priority level, in id order: each id and position as the step
    /// from the one before (from the end of the previous record), so a run of records costs
    /// a few bytes a message.
    mutating func messages(_ run: MessageRun) {
        count(run.count)
        var id: MessageID = 0
        var recordEnd: UInt64 = 0
        run.forEach { message in
            varint(message.id - id)
            varint(message.position - recordEnd)
            varint(UInt64(message.recordBytes))
            varint(UInt64(message.bodyBytes))
            byte((message.redelivered ? 1 : 0) | (message.expiresAt != nil ? 2 : 0))
            if let expiresAt = message.expiresAt { signed(expiresAt) }
            varint(UInt64(message.deliveryCount))
            id = message.id
            recordEnd = message.position + UInt64(message.recordBytes)
        }
    }
}
