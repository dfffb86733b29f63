import AMQP
import Auth
import Broker
import NIOCore

/// The methods of an open channel, each turned into a request to the core.
extension AMQPConnectionHandler {
    func handleChannel(_ channel: UInt16, _ assembled: AssembledMethod) throws {
        switch assembled {
        case .content(.publish(let publish), let header, let body):
            try handlePublish(channel, publish, properties: header.properties, body: body)
            publishedDuringAlarmCheck()
        case .content(let method, _, _):
            throw Refusal.commandInvalid("\(method.method.name) from a client", method: method.method.id)
        case .method(let method):
            try handleMethod(channel, method)
        }
    }

    private func handleMethod(_ channel: UInt16, _ method: Method) throws {
        let id = method.id
        switch method {
        case .channel(let method):
            try handleChannelClass(channel, method, id: id)
        case .exchange(let method):
            try handleExchange(channel, method, id: id)
        case .queue(let method):
            try handleQueue(channel, method, id: id)
        case .basic(let method):
            try handleBasic(channel, method, id: id)
        case .confirm(.select(let select)):
            guard channels[channel]?.transactional == false else {
                throw Refusal(BrokerError(.preconditionFailed, "cannot switch from tx to confirm mode"), method: id)
            }
            channels[channel]?.confirmMode = true
            if !select.noWait { send(.method(channel: channel, .confirm(.selectOk)), flush: false) }
        case .tx(let method):
            try handleTx(channel, method, id: id)
        case .connection, .confirm(.selectOk):
            throw Refusal.commandInvalid("unexpected \(method.name)", method: id)
        }
    }

    // MARK: channel

    private func handleChannelClass(_ channel: UInt16, _ method: Method.Channel, id: MethodID) throws {
        switch method {
        case .close:
            core.closeChannel(ChannelID(connection: connectionID, number: channel))
            channels[channel] = nil
            // As RabbitMQ: what the channel had unacknowledged is back in its queues by the
            // time the client hears close-ok, for the next basic.get from anywhere.
            core.whenProposalsApplied { [weak self] in self?.send(.method(channel: channel, .channel(.closeOk)), flush: true) }
        case .flow(let flow):
            send(.method(channel: channel, .channel(.flowOk(.init(active: flow.active)))), flush: false)
        case .open:
            throw Refusal(code: .channelError, text: "CHANNEL_ERROR - second 'channel.open' seen", method: id, closesConnection: true)
        case .closeOk, .openOk, .flowOk:
            throw Refusal.commandInvalid("unexpected \(Method.channel(method).name)", method: id)
        }
    }

    // MARK: exchange

    private func handleExchange(_ channel: UInt16, _ method: Method.Exchange, id: MethodID) throws {
        switch method {
        case .declare(let d):
            if !d.passive {
                try checkPermitted(.configure, .exchange(d.exchange), method: id)
                if core.state.exchange(ExchangeName(vhost: vhost, d.exchange)) == nil, case .longString(let bytes)? = d.arguments["alternate-exchange"] {
                    try checkPermitted(.read, .exchange(d.exchange), method: id)
                    try checkPermitted(.write, .exchange(String(decoding: bytes, as: UTF8.self)), method: id)
                }
            }
            // A passive declare names no type worth checking.
            let type = d.passive ? ((try? ExchangeType.parse(d.type)) ?? .direct) : try brokerCall(id) { () throws(BrokerError) in try ExchangeType.parse(d.type) }
            let declaration = ExchangeDeclaration(
                vhost: vhost, name: d.exchange, type: type, durable: d.durable, autoDelete: d.autoDelete, isInternal: d.internal,
                passive: d.passive, arguments: ArgumentTable(d.arguments))
            execute(channel, .declareExchange(declaration), method: id, noWait: d.noWait) { _ in .exchange(.declareOk) }
        case .delete(let d):
            try checkPermitted(.configure, .exchange(d.exchange), method: id)
            execute(channel, .deleteExchange(ExchangeDeletion(vhost: vhost, name: d.exchange, ifUnused: d.ifUnused)), method: id, noWait: d.noWait) { _ in
                .exchange(.deleteOk)
            }
        case .bind(let b):
            try checkPermitted(.write, .exchange(b.destination), method: id)
            try checkPermitted(.read, .exchange(b.source), method: id)
            let change = bindingChange(source: b.source, to: .exchange(b.destination), routingKey: b.routingKey, arguments: b.arguments)
            execute(channel, .bind(change), method: id, noWait: b.noWait) { _ in .exchange(.bindOk) }
        case .unbind(let b):
            try checkPermitted(.write, .exchange(b.destination), method: id)
            try checkPermitted(.read, .exchange(b.source), method: id)
            let change = bindingChange(source: b.source, to: .exchange(b.destination), routingKey: b.routingKey, arguments: b.arguments)
            execute(channel, .unbind(change), method: id, noWait: b.noWait) { _ in .exchange(.unbindOk) }
        case .declareOk, .deleteOk, .bindOk, .unbindOk:
            throw Refusal.commandInvalid("unexpected \(Method.exchange(method).name)", method: id)
        }
    }

    /// Refuses with 403 ACCESS_REFUSED, closing the channel, what the user may not do, as
    /// RabbitMQ's channel checks each method before acting on it.
    func checkPermitted(_ access: Permission.Access, _ resource: PermissionChecker.Resource, method: MethodID) throws(Refusal) {
        if let reason = permissions.refusal(access, resource, in: core.state) {
            throw Refusal(BrokerError(.accessRefused, reason), method: method)
        }
    }

    /// A binding made or removed by this connection (its owner, for exclusive queues).
    private func bindingChange(source: String, to destination: BindingDestination, routingKey: String, arguments: FieldTable) -> BindingChange {
        let binding = Binding(source: source, destination: destination, routingKey: routingKey, arguments: ArgumentTable(arguments))
        return BindingChange(vhost: vhost, binding: binding, owner: connectionID)
    }

    // MARK: queue

    private func queueName(_ channel: UInt16, _ name: String, method: MethodID) throws -> QueueName {
        let resolved = name.isEmpty ? channels[channel]?.lastQueue ?? "" : name
        guard !resolved.isEmpty else {
            throw Refusal(BrokerError(.notFound, "no previously declared queue"), method: method)
        }
        return QueueName(vhost: vhost, resolved)
    }

    private func handleQueue(_ channel: UInt16, _ method: Method.Queue, id: MethodID) throws {
        switch method {
        case .declare(let d) where d.queue.hasPrefix(Dispatcher.replyQueue):
            // As RabbitMQ: every declare of the pseudo-queue or of a reply address is passive,
            // and one that exists has by definition one consumer.
            guard core.replyQueueExists(d.queue) else { throw Refusal(.queueNotFound(QueueName(vhost: vhost, d.queue)), method: id) }
            channels[channel]?.lastQueue = d.queue
            if !d.noWait { send(.method(channel: channel, .queue(.declareOk(.init(queue: d.queue, messageCount: 0, consumerCount: 1)))), flush: false) }
        case .declare(let d):
            if !d.passive {
                // A server-named queue is named when the declaration is applied; its name's
                // shape ("amq.gen-" and 22 characters) is what the pattern is checked against.
                let name = d.queue.isEmpty ? "amq.gen-" + String(repeating: "A", count: 22) : d.queue
                try checkPermitted(.configure, .queue(name), method: id)
                if core.state.queue(QueueName(vhost: vhost, name)) == nil, case .longString(let bytes)? = d.arguments["x-dead-letter-exchange"] {
                    try checkPermitted(.read, .queue(name), method: id)
                    try checkPermitted(.write, .exchange(String(decoding: bytes, as: UTF8.self)), method: id)
                }
            }
            let declaration = QueueDeclaration(
                vhost: vhost, name: d.queue, durable: d.durable, exclusive: d.exclusive, autoDelete: d.autoDelete, passive: d.passive,
                arguments: ArgumentTable(d.arguments), owner: connectionID, timestamp: core.now)
            execute(channel, .declareQueue(declaration), method: id, noWait: d.noWait) { [core] reply in
                guard case .queueDeclared(let name, _) = reply else { return nil }
                self.channels[channel]?.lastQueue = name.name
                let counts = core.counts(of: name)
                return .queue(.declareOk(.init(queue: name.name, messageCount: UInt32(clamping: counts.messages), consumerCount: UInt32(clamping: counts.consumers))))
            }
        case .bind(let b):
            let queue = try queueName(channel, b.queue, method: id)
            try checkPermitted(.write, .queue(queue.name), method: id)
            try checkPermitted(.read, .exchange(b.exchange), method: id)
            let change = bindingChange(source: b.exchange, to: .queue(queue.name), routingKey: b.routingKey, arguments: b.arguments)
            execute(channel, .bind(change), method: id, noWait: b.noWait) { _ in .queue(.bindOk) }
        case .unbind(let b):
            let queue = try queueName(channel, b.queue, method: id)
            try checkPermitted(.write, .queue(queue.name), method: id)
            try checkPermitted(.read, .exchange(b.exchange), method: id)
            let change = bindingChange(source: b.exchange, to: .queue(queue.name), routingKey: b.routingKey, arguments: b.arguments)
            execute(channel, .unbind(change), method: id, noWait: false) { _ in .queue(.unbindOk) }
        case .purge(let p):
            let queue = try queueName(channel, p.queue, method: id)
            try checkPermitted(.read, .queue(queue.name), method: id)
            let purge = QueuePurge(queue: queue, owner: connectionID, keeping: core.messagesOut(of: queue))
            execute(channel, .purge(purge), method: id, noWait: p.noWait) { reply in
                guard case .purged(let count) = reply else { return nil }
                return .queue(.purgeOk(.init(messageCount: UInt32(clamping: count))))
            }
        case .delete(let d):
            let queue = try queueName(channel, d.queue, method: id)
            try checkPermitted(.configure, .queue(queue.name), method: id)
            let deletion = QueueDeletion(
                vhost: vhost, name: queue.name, ifUnused: d.ifUnused, ifEmpty: d.ifEmpty, inUse: core.isInUse(queue), owner: connectionID,
                outstanding: core.messagesOut(of: queue))
            execute(channel, .deleteQueue(deletion), method: id, noWait: d.noWait) { reply in
                guard case .queueDeleted(let count) = reply else { return nil }
                return .queue(.deleteOk(.init(messageCount: UInt32(clamping: count))))
            }
        case .declareOk, .bindOk, .purgeOk, .deleteOk, .unbindOk:
            throw Refusal.commandInvalid("unexpected \(Method.queue(method).name)", method: id)
        }
    }

    /// Proposes a metadata command and answers with `answer(reply)` once it is applied, or
    /// closes the channel with the broker's error.
    private func execute(_ channel: UInt16, _ command: BrokerCommand, method: MethodID, noWait: Bool, answer: @escaping (BrokerReply) -> Method?) {
        channels[channel]?.commandsUnanswered += 1
        core.execute(command) { result in
            guard let session = self.channels[channel], !session.closing else { return }
            defer { self.commandAnswered(channel) }
            switch result {
            case .success(let reply):
                if !noWait, let method = answer(reply) { self.send(.method(channel: channel, method), flush: false) }
            case .failure(let error):
                let refusal = Refusal(error, method: method)
                if refusal.closesConnection { self.failConnection(refusal) } else { self.closeChannel(channel, refusal) }
            }
        }
    }

    private func brokerCall<Result>(_ method: MethodID, _ body: () throws(BrokerError) -> Result) throws(Refusal) -> Result {
        do { return try body() } catch { throw Refusal(error, method: method) }
    }

    // MARK: basic

    private func channelID(_ channel: UInt16) -> ChannelID {
        ChannelID(connection: connectionID, number: channel)
    }

    private func handleBasic(_ channel: UInt16, _ method: Method.Basic, id: MethodID) throws {
        let here = channelID(channel)
        switch method {
        case .qos(let q):
            try brokerCall(id) { () throws(BrokerError) in
                try core.qos(channel: here, prefetchCount: q.prefetchCount, prefetchSize: q.prefetchSize, global: q.global)
            }
            send(.method(channel: channel, .basic(.qosOk)), flush: false)
        case .consume(let c):
            let queue = try queueName(channel, c.queue, method: id)
            if queue.name == Dispatcher.replyQueue {
                let tag = try brokerCall(id) { () throws(BrokerError) in try core.consumeReplies(channel: here, consumerTag: c.consumerTag, noAck: c.noAck) }
                if !c.noWait { send(.method(channel: channel, .basic(.consumeOk(.init(consumerTag: tag)))), flush: false) }
                return
            }
            try checkPermitted(.read, .queue(queue.name), method: id)
            let request = ConsumeRequest(channel: here, queue: queue, consumerTag: c.consumerTag, noAck: c.noAck, exclusive: c.exclusive,
                                         arguments: ArgumentTable(c.arguments))
            let tag = try brokerCall(id) { () throws(BrokerError) in try core.consume(request) }
            if !c.noWait { send(.method(channel: channel, .basic(.consumeOk(.init(consumerTag: tag)))), flush: false) }
        case .cancel(let c):
            core.cancel(channel: here, consumerTag: c.consumerTag)
            if !c.noWait { send(.method(channel: channel, .basic(.cancelOk(.init(consumerTag: c.consumerTag)))), flush: false) }
        case .get(let g):
            let queue = try queueName(channel, g.queue, method: id)
            try checkPermitted(.read, .queue(queue.name), method: id)
            let outcome = try brokerCall(id) { () throws(BrokerError) in try core.get(channel: here, queue: queue, noAck: g.noAck) }
            if let delivery = outcome.delivery {
                core.countGot(delivery, noAck: g.noAck)
                let message = core.message(of: delivery)
                let getOk = Method.Basic.GetOk(
                    deliveryTag: delivery.deliveryTag, redelivered: delivery.redelivered, exchange: message.exchange,
                    routingKey: message.routingKey, messageCount: UInt32(clamping: outcome.messageCount))
                writeContent(channel: channel, method: .getOk(getOk), properties: message.properties, body: message.body)
            } else {
                core.activity.getEmpty += 1
                send(.method(channel: channel, .basic(.getEmpty(.init()))), flush: false)
            }
        case .ack(let a):
            try acknowledge(channel, tag: a.deliveryTag, multiple: a.multiple, kind: .ack, method: id)
        case .nack(let n):
            try acknowledge(channel, tag: n.deliveryTag, multiple: n.multiple, kind: .nack(requeue: n.requeue), method: id)
        case .reject(let r):
            try acknowledge(channel, tag: r.deliveryTag, multiple: false, kind: .reject(requeue: r.requeue), method: id)
        case .recover(let r):
            try brokerCall(id) { () throws(BrokerError) in try core.recover(channel: here, requeue: r.requeue) }
            send(.method(channel: channel, .basic(.recoverOk)), flush: false)
            awaitProposals(channel)
        case .recoverAsync(let r):
            try brokerCall(id) { () throws(BrokerError) in try core.recover(channel: here, requeue: r.requeue) }
            awaitProposals(channel)
        case .publish:
            throw Refusal.commandInvalid("basic.publish without content", method: id)
        case .qosOk, .consumeOk, .cancelOk, .return, .deliver, .getOk, .getEmpty, .recoverOk:
            throw Refusal.commandInvalid("unexpected \(Method.basic(method).name)", method: id)
        }
    }

    private func acknowledge(_ channel: UInt16, tag: UInt64, multiple: Bool, kind: ChannelSession.Acknowledgement, method: MethodID) throws {
        if let transaction = channels[channel]?.transaction, channels[channel]?.transactional == true {
            try checkRoom(in: transaction, adding: 0, method: method)
            channels[channel]?.transaction.acknowledgements.append((tag, multiple, kind))
            return
        }
        let here = channelID(channel)
        try brokerCall(method) { () throws(BrokerError) in
            switch kind {
            case .ack: try core.ack(channel: here, deliveryTag: tag, multiple: multiple)
            case .nack(let requeue): try core.nack(channel: here, deliveryTag: tag, multiple: multiple, requeue: requeue)
            case .reject(let requeue): try core.reject(channel: here, deliveryTag: tag, requeue: requeue)
            }
        }
        switch kind {
        case .nack(requeue: true), .reject(requeue: true): awaitProposals(channel)
        case .ack, .nack(requeue: false), .reject(requeue: false): break
        }
    }

    /// What the channel just had proposed (a requeue) is to be seen by what it does next:
    /// it counts as a command not yet answered until it is applied.
    func awaitProposals(_ channel: UInt16) {
        channels[channel]?.commandsUnanswered += 1
        core.whenProposalsApplied { [weak self] in self?.commandAnswered(channel) }
    }

    // MARK: Publishing

    private func handlePublish(_ channel: UInt16, _ publish: Method.Basic.Publish, properties: AMQP.BasicProperties, body: MessageBody) throws {
        // As RabbitMQ since 3.0: immediate delivery is not offered, and asking closes the
        // connection.
        if publish.immediate {
            throw Refusal(BrokerError(.notImplemented, "immediate=true"), method: Method.basic(.publish(publish)).id)
        }
        core.activity.received += 1
        try checkPermitted(.write, .exchange(publish.exchange), method: Method.basic(.publish(publish)).id)
        // As RabbitMQ: a user-id property must name the user who authenticated.
        if let claimed = properties.userID, claimed != user {
            throw Refusal(BrokerError(.preconditionFailed, "user_id property set to '\(claimed)' but authenticated user was '\(user)'"),
                          method: Method.basic(.publish(publish)).id)
        }
        var message = Broker.Message(
            exchange: publish.exchange, routingKey: publish.routingKey, properties: Broker.BasicProperties(properties),
            body: body.bytes())
        if properties.replyTo == Dispatcher.replyQueue {
            // A request that wants its reply sent to this channel's reply consumer.
            guard let address = core.replyAddress(of: channelID(channel)) else {
                throw Refusal(BrokerError(.preconditionFailed, "fast reply consumer does not exist"), method: Method.basic(.publish(publish)).id)
            }
            message.properties.replyTo = address
        }
        if let transaction = channels[channel]?.transaction, channels[channel]?.transactional == true {
            try checkRoom(in: transaction, adding: message.body.count, method: Method.basic(.publish(publish)).id)
            channels[channel]?.transaction.publishes.append((message, publish.mandatory))
            channels[channel]?.transaction.publishedBytes += message.body.count
            return
        }
        var tag: UInt64 = 0
        if channels[channel]?.confirmMode == true {
            tag = channels[channel]!.nextPublishTag
            channels[channel]!.nextPublishTag += 1
            channels[channel]!.unconfirmed.insert(tag)
        }
        try submit(channel, message, mandatory: publish.mandatory, confirmTag: tag, method: Method.basic(.publish(publish)).id)
    }

    /// Hands a publish to the core. Every publish carries a token back to this connection, so
    /// that the core's answer also counts it out of the in-flight bound; tag 0 wants no confirm.
    private func submit(_ channel: UInt16, _ message: Broker.Message, mandatory: Bool, confirmTag: UInt64, method: MethodID) throws {
        publishesInFlight += 1
        channels[channel]?.publishesUnanswered += 1
        do throws(BrokerError) {
            try core.publish(vhost: vhost, message: message, mandatory: mandatory, origin: (connectionID, channel), confirmTag: confirmTag)
        } catch {
            publishesInFlight -= 1
            channels[channel]?.publishesUnanswered -= 1
            throw Refusal(error, method: method)
        }
        applyBackPressure()
    }

    /// Past the in-flight bound the socket is no longer read, until half of it has drained:
    /// flow control, as RabbitMQ's, without a notice (`connection.blocked` is for alarms).
    private func applyBackPressure() {
        if !pausedForPublishes, publishesInFlight >= settings.publishesInFlightMax {
            pausedForPublishes = true
            updateReading()
        } else if pausedForPublishes, publishesInFlight <= settings.publishesInFlightMax / 2 {
            pausedForPublishes = false
            updateReading()
        }
    }

    // MARK: tx

    /// Refuses one more publish (of `bytes`) or acknowledgement past what a transaction holds.
    private func checkRoom(in transaction: ChannelSession.Transaction, adding bytes: Int, method: MethodID) throws(Refusal) {
        guard transaction.publishes.count + transaction.acknowledgements.count < settings.transactionMessagesMax,
            transaction.publishedBytes + bytes <= settings.transactionBytesMax
        else {
            throw Refusal(
                BrokerError(.preconditionFailed, "a transaction holds at most \(settings.transactionMessagesMax) publishes and acknowledgements, and \(settings.transactionBytesMax) bytes, until its commit"),
                method: method)
        }
    }

    private func handleTx(_ channel: UInt16, _ method: Method.Tx, id: MethodID) throws {
        switch method {
        case .select:
            guard channels[channel]?.confirmMode == false else {
                throw Refusal(BrokerError(.preconditionFailed, "cannot switch from confirm to tx mode"), method: id)
            }
            channels[channel]?.transactional = true
            send(.method(channel: channel, .tx(.selectOk)), flush: false)
        case .commit:
            guard var session = channels[channel], session.transactional else {
                throw Refusal(BrokerError(.preconditionFailed, "channel is not transactional"), method: id)
            }
            let transaction = session.transaction
            session.transaction = ChannelSession.Transaction()
            session.transaction.commitPending = true
            session.transaction.publishesAwaited = transaction.publishes.count
            channels[channel] = session
            for ack in transaction.acknowledgements {
                channels[channel]?.transactional = false
                defer { channels[channel]?.transactional = true }
                try acknowledge(channel, tag: ack.tag, multiple: ack.multiple, kind: ack.kind, method: id)
            }
            // Commit-ok once every publish of the transaction is stored: each gets an
            // internal confirm tag that the client never sees.
            for publish in transaction.publishes {
                try submit(channel, publish.message, mandatory: publish.mandatory, confirmTag: Self.transactionTag, method: id)
            }
            finishCommitIfDone(channel)
        case .rollback:
            guard channels[channel]?.transactional == true else {
                throw Refusal(BrokerError(.preconditionFailed, "channel is not transactional"), method: id)
            }
            channels[channel]?.transaction = ChannelSession.Transaction()
            send(.method(channel: channel, .tx(.rollbackOk)), flush: false)
        case .selectOk, .commitOk, .rollbackOk:
            throw Refusal.commandInvalid("unexpected \(Method.tx(method).name)", method: id)
        }
    }

    /// The confirm tag of a publish made by tx.commit.
    static let transactionTag = UInt64.max

    private func finishCommitIfDone(_ channel: UInt16) {
        guard let session = channels[channel], session.transaction.commitPending, session.transaction.publishesAwaited == 0 else { return }
        channels[channel]?.transaction.commitPending = false
        send(.method(channel: channel, .tx(.commitOk)), flush: false)
    }

    // MARK: What the core tells us

    func confirm(channel: UInt16, deliveryTag: UInt64, ack: Bool) {
        publishesInFlight -= 1
        applyBackPressure()
        // What the channel held behind this publish goes after its confirm.
        defer { publishAnswered(channel) }
        guard deliveryTag != 0, channels[channel] != nil else { return }
        if deliveryTag == Self.transactionTag {
            channels[channel]?.transaction.publishesAwaited -= 1
            finishCommitIfDone(channel)
            return
        }
        channels[channel]?.confirmsDue.append((deliveryTag, ack))
        scheduleFlush()
    }

    func returnUnroutable(channel: UInt16, message: Broker.Message) {
        guard channels[channel] != nil else { return }
        let returned = Method.Basic.Return(replyCode: .noRoute, replyText: "NO_ROUTE", exchange: message.exchange, routingKey: message.routingKey)
        writeContent(channel: channel, method: .return(returned), properties: message.properties, body: message.body)
    }

    func deliver(_ delivery: Delivery, message: Broker.Message) {
        writeDeliver(channel: delivery.channel.number, consumerTag: delivery.consumerTag ?? "", deliveryTag: delivery.deliveryTag,
                     redelivered: delivery.redelivered, message: message)
    }

    private func writeDeliver(channel: UInt16, consumerTag: String, deliveryTag: UInt64, redelivered: Bool, message: Broker.Message) {
        guard channels[channel]?.closing == false else { return }
        let deliver = Method.Basic.Deliver(
            consumerTag: consumerTag, deliveryTag: deliveryTag, redelivered: redelivered, exchange: message.exchange, routingKey: message.routingKey)
        writeContent(channel: channel, method: .deliver(deliver), properties: message.properties, body: message.body)
    }

    /// A direct reply goes out even while the socket takes no more (nothing holds it
    /// elsewhere), up to `directReplyBytesWhileUnwritableMax`; past that it is dropped, as
    /// a reply to a gone channel is.
    func deliverReply(_ reply: Dispatcher.ReplyDelivery, message: Broker.Message) {
        guard channels[reply.channel.number]?.closing == false, let context else { return }
        if !context.channel.isWritable {
            guard directReplyBytesWhileUnwritable + message.body.count <= settings.directReplyBytesWhileUnwritableMax else {
                if !droppingDirectReplies {
                    droppingDirectReplies = true
                    core.logger.warning("direct replies dropped: the client does not read them",
                                        metadata: ["connection": "\(connectionID)", "bytes written meanwhile": "\(directReplyBytesWhileUnwritable)"])
                }
                return
            }
            directReplyBytesWhileUnwritable += message.body.count
        }
        writeDeliver(channel: reply.channel.number, consumerTag: reply.consumerTag, deliveryTag: reply.deliveryTag, redelivered: false,
                     message: message)
    }

    func consumerCancelled(channel: UInt16, consumerTag: String) {
        guard channels[channel] != nil, takesConsumerCancelNotices else { return }
        send(.method(channel: channel, .basic(.cancel(.init(consumerTag: consumerTag, noWait: true)))), flush: false)
    }

    func closeForced(_ reason: String) {
        failConnection(Refusal(code: .connectionForced, text: "CONNECTION_FORCED - \(reason)",
                               method: nil, closesConnection: true))
    }

    func closeChannel(_ channel: UInt16, error: BrokerError) {
        closeChannel(channel, Refusal(error, method: nil))
    }

    /// Coalesces the confirms gathered in this turn: one basic.ack with multiple = true
    /// covers every tag up to the oldest still unconfirmed, the rest go one by one.
    func sendConfirms(_ channel: UInt16) {
        guard channels[channel]?.confirmsDue.isEmpty == false, let (due, oldestOutstanding) = channels[channel]?.takeConfirmsDue() else { return }
        core.activity.confirmed += UInt64(due.count(where: \.ack))
        let allAcked = due.allSatisfy(\.ack)
        let coalescible = allAcked ? due.filter { $0.tag < oldestOutstanding } : []
        if coalescible.count > 1, let last = coalescible.last {
            send(.method(channel: channel, .basic(.ack(.init(deliveryTag: last.tag, multiple: true)))), flush: false)
        }
        for confirm in due where coalescible.count <= 1 || confirm.tag >= oldestOutstanding {
            let method: Method.Basic = confirm.ack
                ? .ack(.init(deliveryTag: confirm.tag, multiple: false))
                : .nack(.init(deliveryTag: confirm.tag, multiple: false, requeue: false))
            send(.method(channel: channel, .basic(method)), flush: false)
        }
    }
}
