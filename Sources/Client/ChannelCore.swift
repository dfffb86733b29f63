import AMQP
import NIOCore

/// One AMQP channel's state machine: synchronous calls and their replies, publishes and
/// their confirms, consumers, returns and closing. Confined to the connection's event
/// loop; the public `AMQPChannel` reaches it through a `NIOLoopBound`.
///
/// Every way the channel ends fails what is outstanding, once, with the reason:
/// synchronous calls with it, sent-but-unconfirmed publishes with `confirmIndeterminate`
/// (cause: the reason), publishes not yet sent with it, consumers with it (or normally,
/// on this client's orderly close).
final class ChannelCore {
    enum State {
        /// channel.open was sent.
        case opening
        case open
        /// This client sent channel.close; waiting for channel.close-ok.
        case closing(ClientError)
        case closed(ClientError)
    }

    /// A publish waiting for room in the confirm window or the socket.
    struct WaitingPublish {
        /// The method, content header and body frames, encoded.
        var frames: ByteBuffer
        var promise: EventLoopPromise<PublishConfirmation>
    }

    /// The most returned messages kept for a reader that is not reading; older ones are
    /// dropped first.
    static let returnsBufferedMax = 256

    let number: UInt16
    private let connection: ConnectionHandler
    let eventLoop: any EventLoop
    private let tuning: Tuning
    private let rpcTimeout: TimeAmount
    private var state: State = .opening
    private var assembler: ContentAssembler
    private var rpcs = CircularBuffer<PendingRPC>()
    private var rpcTimer: Scheduled<Void>?
    private var closeTimer: Scheduled<Void>?
    /// Present in confirm mode.
    private var confirms: ConfirmTracker<EventLoopPromise<Void>>?
    private var confirmTimeout: TimeAmount?
    private var confirmTimer: Scheduled<Void>?
    private var publishesWaiting = CircularBuffer<WaitingPublish>()
    /// channel.flow from the server: false while it asks us to stop publishing.
    private var flowActive = true
    private var consumers: [String: ConsumerSink] = [:]
    private var consumersStarted = 0
    let returns: AsyncStream<ReturnedMessage>
    private let returnsContinuation: AsyncStream<ReturnedMessage>.Continuation
    private let closedPromise: EventLoopPromise<ClientError>

    init(number: UInt16, connection: ConnectionHandler, tuning: Tuning) {
        self.number = number
        self.connection = connection
        self.eventLoop = connection.eventLoop
        self.tuning = tuning
        self.rpcTimeout = connection.configuration.rpcTimeout
        self.assembler = ContentAssembler(channel: number, messageSizeMax: connection.configuration.messageSizeMax)
        (self.returns, self.returnsContinuation) = AsyncStream.makeStream(
            of: ReturnedMessage.self,
            bufferingPolicy: .bufferingNewest(Self.returnsBufferedMax)
        )
        self.closedPromise = connection.eventLoop.makePromise(of: ClientError.self)
    }

    /// Sends channel.open; completes when channel.open-ok arrives.
    func open() -> EventLoopFuture<OpenedChannel> {
        let opened = OpenedChannel(
            core: NIOLoopBound(self, eventLoop: self.eventLoop),
            number: self.number,
            returns: self.returns,
            closed: self.closedPromise.futureResult
        )
        do {
            return try self.startRPC(.channel(.open(.init())), replies: [.channelOpenOk]).map { _ in opened }
        } catch {
            return self.eventLoop.makeFailedFuture(error)
        }
    }

    // MARK: Synchronous methods

    /// Sends a synchronous method and returns its reply.
    func rpc(_ method: Method, replies: [MethodID]) -> EventLoopFuture<RPCReply> {
        do {
            return try self.startRPC(method, replies: replies)
        } catch {
            return self.eventLoop.makeFailedFuture(error)
        }
    }

    private func startRPC(_ method: Method, replies: [MethodID]) throws(ClientError) -> EventLoopFuture<RPCReply> {
        switch self.state {
        case .open:
            break
        case .opening where self.rpcs.isEmpty:
            // Only channel.open itself.
            break
        case .opening:
            preconditionFailure("\(method.name) on channel \(self.number) before it is open")
        case .closing(let error), .closed(let error):
            throw error
        }
        guard self.rpcs.count < ConnectionConfiguration.rpcsPendingMax else {
            throw ClientError.limitReached("\(self.rpcs.count) calls already wait on channel \(self.number)")
        }
        let buffer = try self.encode(.method(channel: self.number, method))
        let promise = self.eventLoop.makePromise(of: RPCReply.self)
        self.rpcs.append(
            PendingRPC(name: method.name, replies: replies, deadline: .now() + self.rpcTimeout, promise: promise)
        )
        self.connection.write(buffer)
        self.armRPCTimer()
        return promise.futureResult
    }

    private func armRPCTimer() {
        guard self.rpcTimer == nil, let deadline = self.rpcs.first?.deadline else {
            return
        }
        self.rpcTimer = self.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.rpcTimer = nil
            guard let first = self.rpcs.first else {
                return
            }
            guard first.deadline <= .now() else {
                return self.armRPCTimer()
            }
            // A reply that comes later could no longer be matched: the channel is done.
            let error = ClientError.timedOut("reply to \(first.name) on channel \(self.number)")
            self.beginClose(reason: error, orderly: false, replyCode: .replySuccess, replyText: "reply timed out")
        }
    }

    private func completeRPC(_ reply: RPCReply, id: MethodID, name: String) {
        guard let first = self.rpcs.first, first.replies.contains(id) else {
            return self.connection.protocolViolation(
                .commandInvalid,
                "unexpected \(name) on channel \(self.number)",
                classID: id.classID,
                methodID: id.methodID
            )
        }
        self.rpcs.removeFirst()
        if self.rpcs.isEmpty {
            self.rpcTimer?.cancel()
            self.rpcTimer = nil
        }
        first.promise.succeed(reply)
    }

    // MARK: Asynchronous methods

    /// Sends basic.ack, basic.nack or basic.reject, or any method without a reply.
    func send(_ method: Method) throws(ClientError) {
        guard case .open = self.state else {
            throw self.unavailableError
        }
        self.connection.write(try self.encode(.method(channel: self.number, method)))
    }

    // MARK: Confirms and publishing

    /// Enters confirm mode; publishes from now on are numbered and confirmed.
    func confirmSelect(windowSize: Int, timeout: TimeAmount?) -> EventLoopFuture<RPCReply> {
        do {
            let reply = try self.startRPC(.confirm(.select(.init(noWait: false))), replies: [.confirmSelectOk])
            if self.confirms == nil {
                // Numbering starts with the first publish after confirm.select on the wire.
                self.confirms = ConfirmTracker(windowSize: windowSize)
                self.confirmTimeout = timeout
            }
            return reply
        } catch {
            return self.eventLoop.makeFailedFuture(error)
        }
    }

    /// Queues a publish and sends it as soon as the confirm window, the socket and the
    /// server's channel.flow allow; completes when it was sent.
    func publish(_ message: OutgoingMessage) -> EventLoopFuture<PublishConfirmation> {
        let queued = self.enqueue([message])
        self.drainPublishes()
        return queued[0]
    }

    /// Queues publishes, in order, and sends what there is room for with one flush;
    /// each future completes when its message was sent.
    func publish(_ messages: [OutgoingMessage]) -> [EventLoopFuture<PublishConfirmation>] {
        let queued = self.enqueue(messages)
        self.drainPublishes()
        return queued
    }

    /// Encodes each message and queues it behind the publishes already waiting; a message
    /// that cannot be queued gets a failed future and does not stop the others.
    private func enqueue(_ messages: [OutgoingMessage]) -> [EventLoopFuture<PublishConfirmation>] {
        messages.map { message in
            guard case .open = self.state else {
                return self.eventLoop.makeFailedFuture(self.unavailableError)
            }
            guard self.publishesWaiting.count < ConnectionConfiguration.publishesWaitingMax else {
                return self.eventLoop.makeFailedFuture(
                    ClientError.limitReached(
                        "\(self.publishesWaiting.count) publishes already wait on channel \(self.number)"
                    )
                )
            }
            var frames = self.connection.allocator.buffer(capacity: message.body.readableBytes + 128)
            let method = Method.Basic.Publish(
                exchange: message.exchange,
                routingKey: message.routingKey,
                mandatory: message.mandatory
            )
            do {
                try FrameWriter.writeContent(
                    channel: self.number,
                    method: .publish(method),
                    properties: message.properties,
                    body: message.body,
                    frameSizeMax: self.tuning.frameSizeMax,
                    into: &frames
                )
            } catch {
                return self.eventLoop.makeFailedFuture(ClientError.invalidArgument(String(describing: error)))
            }
            let promise = self.eventLoop.makePromise(of: PublishConfirmation.self)
            self.publishesWaiting.append(WaitingPublish(frames: frames, promise: promise))
            return promise.futureResult
        }
    }

    private var canSendPublish: Bool {
        guard case .open = self.state, self.flowActive, self.connection.isWritable else {
            return false
        }
        return !(self.confirms?.isFull ?? false)
    }

    /// Sends waiting publishes, in order, while there is room, with one flush at the end.
    func drainPublishes() {
        var sent: [(EventLoopPromise<PublishConfirmation>, PublishConfirmation)] = []
        while !self.publishesWaiting.isEmpty, self.canSendPublish {
            let publish = self.publishesWaiting.removeFirst()
            self.connection.write(publish.frames, flush: false)
            guard self.confirms != nil else {
                sent.append((publish.promise, PublishConfirmation(deliveryTag: nil, confirm: nil)))
                continue
            }
            let confirm = self.eventLoop.makePromise(of: Void.self)
            let deadline = self.confirmTimeout.map { NIODeadline.now() + $0 }
            let tag = self.confirms!.register(confirm, deadline: deadline)
            sent.append((publish.promise, PublishConfirmation(deliveryTag: tag, confirm: confirm.futureResult)))
        }
        guard !sent.isEmpty else {
            return
        }
        self.connection.flush()
        self.armConfirmTimer()
        // Completed after the flush: a caller resumed by its promise may publish again at once.
        for (promise, confirmation) in sent {
            promise.succeed(confirmation)
        }
    }

    private func armConfirmTimer() {
        guard self.confirmTimer == nil, let deadline = self.confirms?.earliestDeadline else {
            return
        }
        self.confirmTimer = self.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.confirmTimer = nil
            guard self.confirms != nil else {
                return
            }
            for entry in self.confirms!.expire(now: .now()) {
                entry.token.fail(
                    ClientError.confirmIndeterminate(
                        deliveryTag: entry.deliveryTag,
                        cause: .timedOut("publisher confirm on channel \(self.number)")
                    )
                )
            }
            self.armConfirmTimer()
            self.drainPublishes()
        }
    }

    private func receiveConfirm(deliveryTag: UInt64, multiple: Bool, ack: Bool, method: Method) {
        guard self.confirms != nil else {
            return self.connection.unexpected(method, channel: self.number)
        }
        for entry in self.confirms!.settle(deliveryTag: deliveryTag, multiple: multiple) {
            if ack {
                entry.token.succeed(())
            } else {
                entry.token.fail(ClientError.confirmNacked(deliveryTag: entry.deliveryTag))
            }
        }
        self.drainPublishes()
    }

    // MARK: Consumers

    /// Sends basic.consume and registers the consumer; completes on basic.consume-ok.
    func consume(
        queue: String,
        noAck: Bool,
        exclusive: Bool,
        arguments: FieldTable,
        consumerTag: String?,
        deliveryBufferMax: Int
    ) -> EventLoopFuture<AMQPConsumer> {
        let tag = consumerTag ?? self.makeConsumerTag()
        guard self.consumers[tag] == nil else {
            return self.eventLoop.makeFailedFuture(
                ClientError.invalidArgument("consumer tag \(tag) is in use on channel \(self.number)")
            )
        }
        let sinkID = self.connection.makeSinkID()
        let delegate = ConsumerDelegate(
            connection: NIOLoopBound(self.connection, eventLoop: self.eventLoop),
            channelNumber: self.number,
            consumerTag: tag,
            sinkID: sinkID
        )
        let made = AMQPConsumer.Producer.makeSequence(
            elementType: Delivery.self,
            backPressureStrategy: .init(lowWatermark: max(1, deliveryBufferMax / 2), highWatermark: deliveryBufferMax),
            finishOnDeinit: false,
            delegate: delegate
        )
        let consume = Method.Basic.Consume(
            queue: queue,
            consumerTag: tag,
            noAck: noAck,
            exclusive: exclusive,
            arguments: arguments
        )
        let reply: EventLoopFuture<RPCReply>
        do {
            reply = try self.startRPC(.basic(.consume(consume)), replies: [.basicConsumeOk])
        } catch {
            made.source.finish()
            return self.eventLoop.makeFailedFuture(error)
        }
        self.consumers[tag] = ConsumerSink(consumerTag: tag, noAck: noAck, sinkID: sinkID, source: made.source)
        let consumer = AMQPConsumer(consumerTag: tag, producer: made.sequence)
        return reply.map { _ in consumer }
    }

    private func makeConsumerTag() -> String {
        repeat {
            self.consumersStarted += 1
        } while self.consumers["berth.ctag-\(self.number)-\(self.consumersStarted)"] != nil
        return "berth.ctag-\(self.number)-\(self.consumersStarted)"
    }

    private func receiveDelivery(_ deliver: Method.Basic.Deliver, header: ContentHeader, body: MessageBody) {
        guard let sink = self.consumers[deliver.consumerTag] else {
            // Not ours (any more): nothing to yield to, and nothing known about its ack mode.
            return
        }
        guard !sink.abandoned else {
            return self.requeue(deliver.deliveryTag, unless: sink.noAck)
        }
        let delivery = Delivery(
            consumerTag: deliver.consumerTag,
            deliveryTag: deliver.deliveryTag,
            redelivered: deliver.redelivered,
            exchange: deliver.exchange,
            routingKey: deliver.routingKey,
            properties: header.properties,
            body: body.collected()
        )
        switch sink.source.yield(delivery) {
        case .produceMore:
            break
        case .stopProducing:
            self.connection.pauseReading(for: sink.sinkID)
        case .dropped:
            self.abandon(sink)
            self.requeue(deliver.deliveryTag, unless: sink.noAck)
        }
    }

    private func requeue(_ deliveryTag: UInt64, unless noAck: Bool) {
        guard !noAck else {
            return
        }
        try? self.send(.basic(.reject(.init(deliveryTag: deliveryTag, requeue: true))))
    }

    /// The application stopped iterating a consumer.
    func consumerTerminated(consumerTag: String, sinkID: UInt64) {
        guard let sink = self.consumers[consumerTag], sink.sinkID == sinkID, !sink.abandoned else {
            return
        }
        self.abandon(sink)
    }

    /// Cancels a consumer nobody reads any more; its deliveries until basic.cancel-ok are
    /// rejected with requeue.
    private func abandon(_ sink: ConsumerSink) {
        sink.abandoned = true
        self.connection.resumeReading(for: sink.sinkID)
        let cancel = Method.Basic.Cancel(consumerTag: sink.consumerTag)
        _ = try? self.startRPC(.basic(.cancel(cancel)), replies: [.basicCancelOk])
    }

    private func receiveCancelOk(_ cancelOk: Method.Basic.CancelOk, method: Method) {
        if let sink = self.consumers.removeValue(forKey: cancelOk.consumerTag) {
            sink.source.finish()
            self.connection.resumeReading(for: sink.sinkID)
        }
        self.completeRPC(.method(method), id: method.id, name: method.name)
    }

    private func receiveServerCancel(_ cancel: Method.Basic.Cancel) {
        if !cancel.noWait {
            try? self.send(.basic(.cancelOk(.init(consumerTag: cancel.consumerTag))))
        }
        guard let sink = self.consumers.removeValue(forKey: cancel.consumerTag) else {
            return
        }
        sink.source.finish(ClientError.consumerCancelledByServer(consumerTag: cancel.consumerTag))
        self.connection.resumeReading(for: sink.sinkID)
    }

    // MARK: Receiving

    /// Takes the next frame of this channel.
    func receive(_ frame: Frame) {
        switch self.state {
        case .closed:
            return
        case .closing:
            return self.receiveWhileClosing(frame)
        case .opening, .open:
            break
        }
        let assembled: AssembledMethod?
        do {
            assembled = try self.assembler.receive(frame)
        } catch {
            return self.assemblyFailed(error)
        }
        switch assembled {
        case nil:
            return
        case .content(.deliver(let deliver), let header, let body):
            self.receiveDelivery(deliver, header: header, body: body)
        case .content(.return(let returned), let header, let body):
            self.returnsContinuation.yield(
                ReturnedMessage(
                    replyCode: returned.replyCode,
                    replyText: returned.replyText,
                    exchange: returned.exchange,
                    routingKey: returned.routingKey,
                    properties: header.properties,
                    body: body.collected()
                )
            )
        case .content(.getOk(let getOk), let header, let body):
            let method = Method.basic(.getOk(getOk))
            self.completeRPC(.getOk(getOk, header, body), id: method.id, name: method.name)
        case .content(.publish(let publish), _, _):
            self.connection.unexpected(.basic(.publish(publish)), channel: self.number)
        case .method(let method):
            self.receiveMethod(method)
        }
    }

    /// After channel.close only close and close-ok count (amqp0-9-1 §4.2.4).
    private func receiveWhileClosing(_ frame: Frame) {
        switch frame {
        case .method(_, .channel(.closeOk)):
            self.finishClosing(releaseNumber: true)
        case .method(_, .channel(.close)):
            // Both sides closed at once: answer, and keep waiting for our close-ok.
            self.connection.writeFrame(.method(channel: self.number, .channel(.closeOk)))
        case .method, .header, .body, .heartbeat:
            break
        }
    }

    private func receiveMethod(_ method: Method) {
        switch method {
        case .channel(.openOk):
            self.state = .open
            self.completeRPC(.method(method), id: method.id, name: method.name)
        case .channel(.close(let close)):
            self.receiveServerClose(close)
        case .channel(.flow(let flow)):
            self.flowActive = flow.active
            self.connection.writeFrame(.method(channel: self.number, .channel(.flowOk(.init(active: flow.active)))))
            self.drainPublishes()
        case .basic(.ack(let ack)):
            self.receiveConfirm(deliveryTag: ack.deliveryTag, multiple: ack.multiple, ack: true, method: method)
        case .basic(.nack(let nack)):
            self.receiveConfirm(deliveryTag: nack.deliveryTag, multiple: nack.multiple, ack: false, method: method)
        case .basic(.cancel(let cancel)):
            self.receiveServerCancel(cancel)
        case .basic(.cancelOk(let cancelOk)):
            self.receiveCancelOk(cancelOk, method: method)
        case .exchange(.declareOk), .exchange(.deleteOk), .exchange(.bindOk), .exchange(.unbindOk),
            .queue(.declareOk), .queue(.bindOk), .queue(.purgeOk), .queue(.deleteOk), .queue(.unbindOk),
            .basic(.qosOk), .basic(.consumeOk), .basic(.getEmpty), .basic(.recoverOk),
            .confirm(.selectOk), .tx(.selectOk), .tx(.commitOk), .tx(.rollbackOk):
            self.completeRPC(.method(method), id: method.id, name: method.name)
        case .channel(.open), .channel(.flowOk), .channel(.closeOk),
            .exchange(.declare), .exchange(.delete), .exchange(.bind), .exchange(.unbind),
            .queue(.declare), .queue(.bind), .queue(.purge), .queue(.delete), .queue(.unbind),
            .basic(.qos), .basic(.consume), .basic(.publish), .basic(.return), .basic(.deliver), .basic(.get),
            .basic(.getOk), .basic(.reject), .basic(.recoverAsync), .basic(.recover),
            .confirm(.select), .tx(.select), .tx(.commit), .tx(.rollback), .connection:
            // Client-to-server methods, replies to requests never made, and content
            // methods without their content (the assembler hands those over whole).
            self.connection.unexpected(method, channel: self.number)
        }
    }

    /// The codec rejected a frame: a hard error ends the connection, a soft one (a
    /// message above `messageSizeMax`) this channel.
    private func assemblyFailed(_ error: AMQPError) {
        guard !error.isHardError else {
            return self.connection.protocolViolation(
                error.replyCode,
                error.replyText,
                classID: error.classID,
                methodID: error.methodID
            )
        }
        self.beginClose(
            reason: .protocolViolation(error.replyCode, error.replyText),
            orderly: false,
            replyCode: error.replyCode,
            replyText: error.replyText
        )
    }

    // MARK: Closing

    /// This client's orderly close: channel.close 200; completes on close-ok.
    func close() -> EventLoopFuture<ClientError> {
        self.beginClose(
            reason: .channelClosed(channel: self.number),
            orderly: true,
            replyCode: .replySuccess,
            replyText: "closed by client"
        )
        return self.closedPromise.futureResult
    }

    var closedFuture: EventLoopFuture<ClientError> {
        self.closedPromise.futureResult
    }

    /// Sends channel.close and fails everything outstanding with `reason` at once; the
    /// channel number is freed on close-ok (or never, if it does not come in time).
    private func beginClose(reason: ClientError, orderly: Bool, replyCode: ReplyCode, replyText: String) {
        switch self.state {
        case .closing, .closed:
            return
        case .opening, .open:
            break
        }
        self.state = .closing(reason)
        let close = Method.Channel.Close(replyCode: replyCode, replyText: replyText, classID: 0, methodID: 0)
        self.connection.writeFrame(.method(channel: self.number, .channel(.close(close))))
        self.failOutstanding(reason, orderly: orderly)
        self.closeTimer = self.eventLoop.assumeIsolated().scheduleTask(in: self.rpcTimeout) {
            self.finishClosing(releaseNumber: false)
        }
    }

    private func finishClosing(releaseNumber: Bool) {
        guard case .closing(let reason) = self.state else {
            return
        }
        self.closeTimer?.cancel()
        self.closeTimer = nil
        self.state = .closed(reason)
        self.connection.channelFinished(self, releaseNumber: releaseNumber)
        self.closedPromise.succeed(reason)
    }

    private func receiveServerClose(_ close: Method.Channel.Close) {
        let error = ClientError.channelClosedByServer(channel: self.number, CloseReason(close))
        self.connection.writeFrame(.method(channel: self.number, .channel(.closeOk)))
        self.state = .closed(error)
        self.failOutstanding(error, orderly: false)
        self.connection.channelFinished(self, releaseNumber: true)
        self.closedPromise.succeed(error)
    }

    /// The connection ended.
    func connectionClosed(_ error: ClientError) {
        switch self.state {
        case .closed:
            return
        case .closing(let reason):
            // Our own channel close was under way; it ends with the connection.
            self.closeTimer?.cancel()
            self.closeTimer = nil
            self.state = .closed(reason)
            self.closedPromise.succeed(reason)
        case .opening, .open:
            self.state = .closed(error)
            self.failOutstanding(error, orderly: error == .connectionClosed)
            self.closedPromise.succeed(error)
        }
    }

    private func failOutstanding(_ error: ClientError, orderly: Bool) {
        self.rpcTimer?.cancel()
        self.rpcTimer = nil
        self.confirmTimer?.cancel()
        self.confirmTimer = nil
        let rpcs = self.rpcs
        self.rpcs.removeAll()
        for rpc in rpcs {
            rpc.promise.fail(error)
        }
        let unconfirmed = self.confirms?.removeAll() ?? []
        for entry in unconfirmed {
            entry.token.fail(ClientError.confirmIndeterminate(deliveryTag: entry.deliveryTag, cause: error))
        }
        let waiting = self.publishesWaiting
        self.publishesWaiting.removeAll()
        for publish in waiting {
            publish.promise.fail(error)
        }
        let sinks = self.consumers.values
        self.consumers.removeAll()
        for sink in sinks {
            if orderly {
                sink.source.finish()
            } else {
                sink.source.finish(error)
            }
            self.connection.resumeReading(for: sink.sinkID)
        }
        self.returnsContinuation.finish()
    }

    /// The error for an operation on a channel that is not open.
    var unavailableError: ClientError {
        switch self.state {
        case .closing(let error), .closed(let error):
            error
        case .opening, .open:
            // Not reached: callers check the state first.
            .channelClosed(channel: self.number)
        }
    }

    // MARK: Encoding

    private func encode(_ frame: Frame) throws(ClientError) -> ByteBuffer {
        var buffer = self.connection.allocator.buffer(capacity: 128)
        do {
            try FrameWriter.writeFrame(frame, into: &buffer)
        } catch {
            throw ClientError.invalidArgument(String(describing: error))
        }
        return buffer
    }

    // MARK: Introspection

    /// Publishes sent and awaiting their confirm, and publishes waiting to be sent.
    var publishCounts: (unconfirmed: Int, waiting: Int) {
        (self.confirms?.count ?? 0, self.publishesWaiting.count)
    }
}
