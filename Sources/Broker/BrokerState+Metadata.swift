// Vhosts, exchanges, queues, bindings, purge: the commands that answer with one reply.
extension BrokerState {
    // MARK: Vhosts

    mutating func declareVHost(_ name: String, _ log: inout EffectLog) {
        do throws(BrokerError) {
            try checkName(name, kind: "vhost")
            if vhosts[name] == nil {
                guard vhosts.count < limits.vhostsMax else {
                    throw BrokerError(.preconditionFailed, "cannot declare vhost '\(name)': vhost limit (\(limits.vhostsMax)) is reached")
                }
                vhosts[name] = VirtualHost(name: name)
                exchangeCount += VirtualHost.standardExchanges.count
            }
            log.reply(.vhostDeclared)
        } catch {
            log.fail(error)
        }
    }

    mutating func deleteVHost(_ name: String, _ log: inout EffectLog) {
        guard let host = vhosts[name] else {
            log.fail(.vhostNotFound(name))
            return
        }
        log.reply(.vhostDeleted)
        for queue in host.queues.keys.sorted() { log.queueDeleted(QueueName(vhost: name, queue)) }
        for exchange in host.exchanges.keys.sorted() { log.exchangeDeleted(ExchangeName(vhost: name, exchange)) }
        for exchange in host.exchanges.values { closeDelayStore(of: exchange) }
        exchangeCount -= host.exchanges.count
        queueCount -= host.queues.count
        bindingCount -= host.bindingCount
        vhosts[name] = nil
        if permissions.removeValue(forKey: name) != nil { accessChangedAt = appliedIndex }
        resourceLimits[.vhost(name)] = nil
    }

    // MARK: Exchanges

    mutating func declareExchange(_ declaration: ExchangeDeclaration, index: UInt64, _ log: inout EffectLog) {
        do throws(BrokerError) {
            try declareExchange(declaration, index: index)
            log.reply(.exchangeDeclared)
        } catch {
            log.fail(error)
        }
    }

    private mutating func declareExchange(_ declaration: ExchangeDeclaration, index: UInt64) throws(BrokerError) {
        guard vhosts[declaration.vhost] != nil else { throw .vhostNotFound(declaration.vhost) }
        try checkName(declaration.name, kind: "exchange")
        let name = ExchangeName(vhost: declaration.vhost, declaration.name)
        if declaration.name.isEmpty { throw .defaultExchangeRefused }
        let existing = exchange(name)
        if declaration.passive {
            guard existing != nil else { throw .exchangeNotFound(name) }
            return
        }
        if let existing {
            try Self.assertEquivalent(existing, declaration)
            return
        }
        if declaration.name.hasPrefix("amq.") { throw .reservedPrefix(kind: "exchange", declaration.name) }
        if let alternate = declaration.arguments["alternate-exchange"], alternate.stringValue == nil {
            throw BrokerError(.preconditionFailed, "invalid type '\(alternate.typeName)' for arg 'alternate-exchange' in \(name)")
        }
        try checkArguments(declaration.arguments)
        if !declaration.type.routes { _ = try ExchangeType.delayedRoutingType(in: declaration.arguments) }
        let deduplication = declaration.type == .deduplication ? try DeduplicationCache(arguments: declaration.arguments, limits: limits) : nil
        guard exchangeCount < limits.exchangesMax else {
            throw BrokerError(.preconditionFailed, "cannot declare \(name): exchange limit (\(limits.exchangesMax)) is reached")
        }
        vhosts[declaration.vhost]?.exchanges[declaration.name] = Exchange(
            name: name, type: declaration.type, durable: declaration.durable, autoDelete: declaration.autoDelete,
            isInternal: declaration.isInternal, arguments: declaration.arguments)
        vhosts[declaration.vhost]?.exchanges[declaration.name]?.deduplication = deduplication
        exchangeCount += 1
        if !declaration.type.routes { openDelayStore(for: name, index: index) }
    }

    private static func assertEquivalent(_ existing: Exchange, _ declaration: ExchangeDeclaration) throws(BrokerError) {
        let resource = existing.name.description
        func field(_ key: String, _ current: String, _ received: String) throws(BrokerError) {
            if current != received { throw .inequivalent(key, of: resource, received: "'\(received)'", current: "'\(current)'") }
        }
        try field("type", existing.type.name, declaration.type.name)
        try field("durable", String(existing.durable), String(declaration.durable))
        try field("auto_delete", String(existing.autoDelete), String(declaration.autoDelete))
        try field("internal", String(existing.isInternal), String(declaration.isInternal))
        if !existing.type.routes {
            let current = existing.arguments["x-delayed-type"]
            let received = declaration.arguments["x-delayed-type"]
            if current != received {
                throw .inequivalent(
                    "x-delayed-type", of: resource, received: "'\(received?.erlangText ?? "none")'",
                    current: "'\(current?.erlangText ?? "none")'")
            }
        }
        let current = existing.arguments["alternate-exchange"]
        let received = declaration.arguments["alternate-exchange"]
        switch (current, received) {
        case (nil, nil):
            return
        case (let current?, let received?):
            if current.typeClass == received.typeClass && current.matches(received) { return }
            throw .inequivalent("alternate-exchange", of: resource, received: "'\(received.erlangText)'", current: "'\(current.erlangText)'")
        case (nil, let received?):
            throw .inequivalent(
                "alternate-exchange", of: resource,
                received: "the value '\(received.erlangText)' of type '\(received.typeName)'", current: "none")
        case (let current?, nil):
            throw .inequivalent(
                "alternate-exchange", of: resource, received: "none",
                current: "the value '\(current.erlangText)' of type '\(current.typeName)'")
        }
    }

    mutating func deleteExchange(_ deletion: ExchangeDeletion, _ log: inout EffectLog) {
        let name = ExchangeName(vhost: deletion.vhost, deletion.name)
        if deletion.name.isEmpty { return log.fail(.defaultExchangeRefused) }
        if deletion.name.hasPrefix("amq.") {
            return log.fail(BrokerError(.accessRefused, "deletion of system \(name) not allowed"))
        }
        guard let existing = exchange(name) else { return log.reply(.exchangeDeleted) }
        if deletion.ifUnused, existing.bindingCount > 0 {
            return log.fail(BrokerError(.preconditionFailed, "\(name) in use"))
        }
        log.reply(.exchangeDeleted)
        removeExchange(name, &log)
    }

    /// Removes an exchange with every binding from or to it, then the auto-delete exchanges
    /// that this left without bindings, and so on.
    mutating func removeExchange(_ name: ExchangeName, _ log: inout EffectLog) {
        var pending = [name.name]
        while let next = pending.first {
            pending.removeFirst()
            guard let removed = vhosts[name.vhost]?.exchanges.removeValue(forKey: next) else { continue }
            closeDelayStore(of: removed)
            exchangeCount -= 1
            bindingCount -= removed.bindingCount
            log.exchangeDeleted(ExchangeName(vhost: name.vhost, next))
            pending += removeBindings(in: name.vhost, to: .exchange(next))
        }
    }

    /// Removes every binding to `destination`; returns the auto-delete sources this emptied.
    mutating func removeBindings(in vhost: String, to destination: BindingDestination) -> [String] {
        var emptied: [String] = []
        for source in exchangeNames(in: vhost) {
            guard vhosts[vhost]?.exchanges[source]?.hasBinding(to: destination) == true else { continue }
            let removed = vhosts[vhost]?.exchanges[source]?.removeBindings { $0.destination == destination } ?? []
            bindingCount -= removed.count
            if let exchange = vhosts[vhost]?.exchanges[source], exchange.autoDelete, exchange.bindingCount == 0 { emptied.append(source) }
        }
        return emptied
    }

    // MARK: Queues

    mutating func declareQueue(_ declaration: QueueDeclaration, index: UInt64, _ log: inout EffectLog) {
        do throws(BrokerError) {
            log.reply(try declareQueue(declaration, index: index))
        } catch {
            log.fail(error)
        }
    }

    private mutating func declareQueue(_ declaration: QueueDeclaration, index: UInt64) throws(BrokerError) -> BrokerReply {
        guard vhosts[declaration.vhost] != nil else { throw .vhostNotFound(declaration.vhost) }
        try checkName(declaration.name, kind: "queue")
        var name = QueueName(vhost: declaration.vhost, declaration.name)
        if declaration.passive {
            guard let existing = queue(name) else { throw .queueNotFound(name) }
            if let owner = existing.exclusiveOwner, owner != declaration.owner { throw .exclusiveLocked(name) }
            return .queueDeclared(name, messageCount: existing.deliverableCount)
        }
        if declaration.name.isEmpty {
            var attempt: UInt64 = 0
            repeat {
                name.name = Self.generatedQueueName(index: index, attempt: attempt)
                attempt += 1
            } while queue(name) != nil
        } else if declaration.name.hasPrefix("amq.") {
            throw .reservedPrefix(kind: "queue", declaration.name)
        }
        let owner = declaration.exclusive ? declaration.owner : nil
        let durable = declaration.durable && !declaration.exclusive
        if let existing = queue(name) {
            if existing.exclusiveOwner != owner { throw .exclusiveLocked(name) }
            let resource = name.description
            if existing.durable != durable {
                throw .inequivalent("durable", of: resource, received: "'\(durable)'", current: "'\(existing.durable)'")
            }
            if existing.autoDelete != declaration.autoDelete {
                throw .inequivalent(
                    "auto_delete", of: resource, received: "'\(declaration.autoDelete)'", current: "'\(existing.autoDelete)'")
            }
            try QueueSettings.assertEquivalent(current: existing.arguments, received: declaration.arguments, resource: resource)
            vhosts[name.vhost]?.queues[name.name]?.lastDeclaredAt = declaration.timestamp
            return .queueDeclared(name, messageCount: existing.deliverableCount)
        }
        try checkArguments(declaration.arguments)
        let settings = try QueueSettings.parse(declaration.arguments, for: name)
        try Self.checkStreamProperties(settings, of: name, durable: durable, exclusive: owner != nil, autoDelete: declaration.autoDelete)
        if let exchange = settings.deadLetterExchange { try checkName(exchange, kind: "exchange") }
        guard queueCount < limits.queuesMax else {
            throw BrokerError(.preconditionFailed, "cannot declare \(name): queue limit (\(limits.queuesMax)) is reached")
        }
        if let max = limit(.maxQueues, of: .vhost(name.vhost)), Int64(vhosts[name.vhost]?.queues.count ?? 0) >= max {
            throw BrokerError(.preconditionFailed, "cannot declare queue '\(name.name)': queue limit in vhost '\(name.vhost)' (\(max)) is reached")
        }
        vhosts[name.vhost]?.queues[name.name] = Queue(
            name: name, durable: durable, exclusiveOwner: owner, autoDelete: declaration.autoDelete,
            arguments: declaration.arguments, settings: settings, declaredAt: declaration.timestamp, storeID: index)
        queueCount += 1
        return .queueDeclared(name, messageCount: 0)
    }

    mutating func deleteQueue(_ deletion: QueueDeletion, _ log: inout EffectLog) {
        let name = QueueName(vhost: deletion.vhost, deletion.name)
        guard let existing = queue(name) else { return log.reply(.queueDeleted(messageCount: 0)) }
        if deletion.autoDeleteOnly {
            guard existing.autoDelete, !deletion.inUse else { return log.reply(.queueDeleted(messageCount: 0)) }
        }
        if let owner = existing.exclusiveOwner, let requester = deletion.owner, owner != requester {
            return log.fail(.exclusiveLocked(name))
        }
        if deletion.ifUnused, deletion.inUse { return log.fail(BrokerError(.preconditionFailed, "\(name) in use")) }
        // As RabbitMQ, both the if-empty check and delete-ok's count are of ready messages.
        let ready = existing.deliverableCount - deletion.outstanding.count(where: { existing.message($0) != nil })
        if deletion.ifEmpty, ready > 0 { return log.fail(BrokerError(.preconditionFailed, "\(name) not empty")) }
        log.reply(.queueDeleted(messageCount: ready))
        removeQueue(name, &log)
    }

    /// Removes a queue, its messages and its bindings, then the auto-delete exchanges left
    /// without bindings.
    mutating func removeQueue(_ name: QueueName, _ log: inout EffectLog) {
        guard vhosts[name.vhost]?.queues.removeValue(forKey: name.name) != nil else { return }
        queueCount -= 1
        log.queueDeleted(name)
        for emptied in removeBindings(in: name.vhost, to: .queue(name.name)) {
            removeExchange(ExchangeName(vhost: name.vhost, emptied), &log)
        }
    }

    mutating func deleteQueuesOwned(by owner: String, _ log: inout EffectLog) {
        let owned = queuesOwned(by: owner)
        log.reply(.ownedQueuesDeleted(owned))
        for name in owned { removeQueue(name, &log) }
    }

    // MARK: Bindings

    mutating func bind(_ change: BindingChange, _ log: inout EffectLog) {
        do throws(BrokerError) {
            let binding = change.binding
            let exists: Bool
            do {
                let exchange = try checkBinding(change)
                try exchange.validate(binding)
                exists = exchange.contains(binding)
            }
            try checkArguments(binding.arguments)
            if !exists {
                guard bindingCount < limits.bindingsMax else {
                    throw BrokerError(.preconditionFailed, "cannot bind: binding limit (\(limits.bindingsMax)) is reached")
                }
                if try vhosts[change.vhost]?.exchanges[binding.source]?.add(binding) == true { bindingCount += 1 }
            }
            log.reply(.bound)
        } catch {
            log.fail(error)
        }
    }

    mutating func unbind(_ change: BindingChange, _ log: inout EffectLog) {
        do throws(BrokerError) {
            let binding = change.binding
            guard let source = try unbindingSource(change), source.contains(binding) else { return log.reply(.unbound) }
            log.reply(.unbound)
            let removed = vhosts[change.vhost]?.exchanges[binding.source]?.removeBindings { $0 == binding } ?? []
            bindingCount -= removed.count
            if let exchange = vhosts[change.vhost]?.exchanges[binding.source], exchange.autoDelete, exchange.bindingCount == 0 {
                removeExchange(exchange.name, &log)
            }
        } catch {
            log.fail(error)
        }
    }

    /// The source of an unbind, or nil where RabbitMQ answers unbind-ok all the same: its
    /// source or destination does not exist (a client tidying up after an auto-delete queue
    /// that already went).
    private func unbindingSource(_ change: BindingChange) throws(BrokerError) -> Exchange? {
        do {
            return try checkBinding(change)
        } catch {
            if error.code == .notFound { return nil }
            throw error
        }
    }

    /// RabbitMQ's checks of a bind or unbind; returns the source exchange.
    private func checkBinding(_ change: BindingChange) throws(BrokerError) -> Exchange {
        let binding = change.binding
        guard let host = vhosts[change.vhost] else { throw .vhostNotFound(change.vhost) }
        try checkName(binding.routingKey, kind: "routing key")
        if binding.source.isEmpty { throw .defaultExchangeRefused }
        if case .exchange("") = binding.destination { throw .defaultExchangeRefused }
        guard let source = host.exchanges[binding.source] else {
            throw .exchangeNotFound(ExchangeName(vhost: change.vhost, binding.source))
        }
        switch binding.destination {
        case .queue(let name):
            let queueName = QueueName(vhost: change.vhost, name)
            guard let queue = host.queues[name] else { throw .queueNotFound(queueName) }
            if let owner = queue.exclusiveOwner, let requester = change.owner, owner != requester {
                throw .exclusiveLocked(queueName)
            }
        case .exchange(let name):
            guard host.exchanges[name] != nil else { throw .exchangeNotFound(ExchangeName(vhost: change.vhost, name)) }
        }
        return source
    }

    // MARK: Purge

    mutating func purge(_ purge: QueuePurge, _ log: inout EffectLog) {
        let name = purge.queue
        let doomed: [MessageID]
        do {
            guard let existing = queue(name) else { return log.fail(.queueNotFound(name)) }
            if let owner = existing.exclusiveOwner, let requester = purge.owner, owner != requester {
                return log.fail(.exclusiveLocked(name))
            }
            // As RabbitMQ: a stream's readers hold offsets into it, which a purge would void.
            if existing.stream != nil { return log.fail(BrokerError(.notImplemented, "queue.purge not supported by stream queues \(name)")) }
            let keeping = Set(purge.keeping)
            // Pending dead letters stay: they wait to be forwarded, as in RabbitMQ.
            doomed = existing.messages.filter { !$0.isDeadLettered && !keeping.contains($0.id) }.map(\.id)
        }
        for id in doomed {
            _ = vhosts[name.vhost]?.queues[name.name]?.remove(id)
            log.removed(name, id, .purged)
        }
        log.reply(.purged(messageCount: doomed.count))
    }

    // MARK: Bounds

    /// Arguments and headers nest at most `argumentDepthMax` deep, with at most
    /// `argumentEntriesMax` entries per table or array.
    func checkArguments(_ table: ArgumentTable) throws(BrokerError) {
        if !Self.withinBounds(.table(table), depth: 0, limits: limits) {
            throw BrokerError(
                .preconditionFailed,
                "arguments nest deeper than \(limits.argumentDepthMax) or hold more than \(limits.argumentEntriesMax) entries")
        }
    }

    static func withinBounds(_ value: ArgumentValue, depth: Int, limits: BrokerLimits) -> Bool {
        switch value {
        case .array(let items):
            guard depth < limits.argumentDepthMax, items.count <= limits.argumentEntriesMax else { return false }
            return items.allSatisfy { withinBounds($0, depth: depth + 1, limits: limits) }
        case .table(let table):
            guard depth < limits.argumentDepthMax, table.count <= limits.argumentEntriesMax else { return false }
            return table.entries.allSatisfy { withinBounds($0.value, depth: depth + 1, limits: limits) }
        case .bool, .int8, .uint8, .int16, .uint16, .int32, .uint32, .int64, .uint64, .float, .double, .decimal,
            .string, .bytes, .timestamp, .void:
            return true
        }
    }
}
