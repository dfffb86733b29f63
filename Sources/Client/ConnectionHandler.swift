import AMQP
import NIOCore

/// One AMQP connection's state machine and I/O: handshake, heartbeats, the channel table,
/// connection-level close and read back-pressure. Confined to its channel's event loop;
/// the public `AMQPConnection` reaches it through a `NIOLoopBound`.
///
/// Pipeline: `ByteToMessageHandler(AMQPFrameDecoder(role: .client))`, then this handler,
/// which writes bytes it encodes itself with `FrameWriter`, so that a publish (method,
/// content header and body frames) goes out as one contiguous write.
///
/// Every way the connection ends goes through `fail(_:)`, once: it records the reason,
/// fails everything outstanding on every channel with it, completes `closedPromise` and
/// closes the socket.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = AMQPFrameDecoder.Inbound
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum State {
        /// Before the socket is active.
        case connecting
        /// The protocol header was sent; waiting for `connection.start`.
        case awaitingStart
        /// `connection.start-ok` was sent; waiting for `connection.tune`.
        case awaitingTune
        /// `connection.tune-ok` and `connection.open` were sent.
        case awaitingOpenOk
        case open
        /// This client sent `connection.close`; waiting for `connection.close-ok`.
        case closing
        case closed(ClientError)
    }

    let configuration: ConnectionConfiguration
    let endpoint: Endpoint
    let eventLoop: any EventLoop
    let status = ConnectionStatus()
    let events: AsyncStream<ConnectionEvent>
    private let eventsContinuation: AsyncStream<ConnectionEvent>.Continuation
    /// The most connection events kept for a reader that is not reading.
    static let eventsBufferedMax = 64

    private(set) var state: State = .connecting
    private var context: ChannelHandlerContext?
    private(set) var tuning: Tuning?
    private(set) var serverProperties: FieldTable = [:]
    private var handshakePromise: EventLoopPromise<Void>?
    private let handshakeFuture: EventLoopFuture<Void>
    private let closedPromise: EventLoopPromise<ClientError>
    private var handshakeTimer: Scheduled<Void>?
    private var heartbeatTimer: Scheduled<Void>?
    private var closeTimer: Scheduled<Void>?
    private var lastReceived = NIODeadline.now()
    private var channels: [UInt16: ChannelCore] = [:]
    private var channelNumbers: ChannelNumberPool?
    /// The consumers whose delivery buffer is full; reading stops while any is.
    private var readPausers: Set<UInt64> = []
    /// A `read` arrived while paused; pass it on when resuming.
    private var readPending = false
    private var nextSinkID: UInt64 = 0

    init(configuration: ConnectionConfiguration, endpoint: Endpoint, eventLoop: any EventLoop) {
        self.configuration = configuration
        self.endpoint = endpoint
        self.eventLoop = eventLoop
        let promise = eventLoop.makePromise(of: Void.self)
        self.handshakePromise = promise
        self.handshakeFuture = promise.futureResult
        self.closedPromise = eventLoop.makePromise(of: ClientError.self)
        (self.events, self.eventsContinuation) = AsyncStream.makeStream(
            of: ConnectionEvent.self,
            bufferingPolicy: .bufferingNewest(Self.eventsBufferedMax)
        )
    }

    /// The reason the connection ended; completes (never fails) when it does.
    var closedFuture: EventLoopFuture<ClientError> {
        self.closedPromise.futureResult
    }

    /// Completes when the connection is open, with what a public `AMQPConnection` needs;
    /// fails with why the handshake failed.
    func established() -> EventLoopFuture<EstablishedConnection> {
        let bound = NIOLoopBound(self, eventLoop: self.eventLoop)
        return self.handshakeFuture.map { () -> EstablishedConnection in
            let handler = bound.value
            return EstablishedConnection(
                handler: bound,
                endpoint: handler.endpoint,
                tuning: handler.tuning!,
                serverProperties: handler.serverProperties,
                events: handler.events,
                status: handler.status,
                closed: handler.closedFuture
            )
        }
    }

    // MARK: Pipeline events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive {
            self.start(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.fail(.connectionLost)
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        self.start(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch self.state {
        case .closing:
            self.fail(.connectionClosed)
        case .connecting, .awaitingStart, .awaitingTune, .awaitingOpenOk, .open, .closed:
            self.fail(.connectionLost)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? AMQPError {
            // The server sent bytes the codec rejects: answer as a server would answer a client.
            self.protocolViolation(error.replyCode, error.replyText, classID: error.classID, methodID: error.methodID)
        } else {
            self.fail(.io(String(describing: error)))
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .protocolHeader:
            // Only a server's decoder emits one.
            break
        case .frame(let frame):
            self.receive(frame)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            for core in self.channels.values {
                core.drainPublishes()
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if self.readPausers.isEmpty {
            context.read()
        } else {
            self.readPending = true
        }
    }

    // MARK: Handshake

    private func start(context: ChannelHandlerContext) {
        guard case .connecting = self.state else {
            return
        }
        self.state = .awaitingStart
        self.lastReceived = .now()
        let endpoint = self.endpoint
        self.handshakeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: self.configuration.connectTimeout) {
            self.fail(.timedOut("AMQP handshake with \(endpoint)"))
        }
        var buffer = context.channel.allocator.buffer(capacity: ProtocolHeader.size)
        ProtocolHeader.amqp091.write(into: &buffer)
        context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
    }

    private func receive(_ frame: Frame) {
        if case .closed = self.state {
            return
        }
        self.lastReceived = .now()
        switch frame {
        case .heartbeat:
            return
        case .method(0, .connection(let method)):
            self.receiveConnectionMethod(method)
        case .method, .header, .body:
            // The parser keeps connection methods on channel 0 and everything else off it.
            self.receiveChannelFrame(frame)
        }
    }

    private func receiveChannelFrame(_ frame: Frame) {
        switch self.state {
        case .open:
            // Frames for a channel that is not open (a late one after its close) are dropped.
            self.channels[frame.channel]?.receive(frame)
        case .closing:
            // After connection.close only close and close-ok count (amqp0-9-1 §4.2.4).
            break
        case .connecting, .awaitingStart, .awaitingTune, .awaitingOpenOk:
            self.protocolViolation(.unexpectedFrame, "frame on channel \(frame.channel) during the handshake")
        case .closed:
            break
        }
    }

    private func receiveConnectionMethod(_ method: Method.Connection) {
        if case .closing = self.state {
            switch method {
            case .close(let close):
                // Both sides closed at once: answer, and wait no longer.
                self.writeFrame(.method(channel: 0, .connection(.closeOk)))
                self.fail(.connectionClosedByServer(CloseReason(close)))
            case .closeOk:
                self.fail(.connectionClosed)
            case .start, .startOk, .secure, .secureOk, .tune, .tuneOk, .open, .openOk, .blocked, .unblocked,
                .updateSecret, .updateSecretOk:
                break
            }
            return
        }
        switch method {
        case .start(let start):
            guard case .awaitingStart = self.state else {
                return self.unexpected(.connection(method))
            }
            self.receiveStart(start)
        case .tune(let tune):
            guard case .awaitingTune = self.state else {
                return self.unexpected(.connection(method))
            }
            self.receiveTune(tune)
        case .openOk:
            guard case .awaitingOpenOk = self.state else {
                return self.unexpected(.connection(method))
            }
            self.state = .open
            self.handshakeTimer?.cancel()
            self.handshakeTimer = nil
            self.handshakePromise?.succeed(())
            self.handshakePromise = nil
        case .close(let close):
            let closeOk = self.writeFrameAndWait(.method(channel: 0, .connection(.closeOk)))
            self.fail(.connectionClosedByServer(CloseReason(close)), closingAfter: closeOk)
        case .blocked(let blocked):
            self.status.blockedReason.withLock { $0 = blocked.reason }
            self.eventsContinuation.yield(.blocked(reason: blocked.reason))
        case .unblocked:
            self.status.blockedReason.withLock { $0 = nil }
            self.eventsContinuation.yield(.unblocked)
        case .secure, .closeOk, .startOk, .secureOk, .tuneOk, .open, .updateSecret, .updateSecretOk:
            self.unexpected(.connection(method))
        }
    }

    private func receiveStart(_ start: Method.Connection.Start) {
        let offered = String(decoding: start.mechanisms, as: UTF8.self)
        guard offered.split(separator: " ").contains("PLAIN") else {
            return self.fail(.authenticationMechanismUnsupported(offered: offered))
        }
        self.serverProperties = start.serverProperties
        let startOk = Method.Connection.StartOk(
            clientProperties: self.clientProperties,
            mechanism: "PLAIN",
            response: self.configuration.credentials.plainResponse,
            locale: "en_US"
        )
        self.state = .awaitingTune
        self.writeFrame(.method(channel: 0, .connection(.startOk(startOk))))
    }

    private func receiveTune(_ tune: Method.Connection.Tune) {
        switch Tuning.negotiate(requested: self.configuration.requestedTuning, offered: tune) {
        case .failure(.frameMaxBelowMinimum(let frameMax)):
            self.protocolViolation(.syntaxError, "frame-max \(frameMax) is below \(Frame.sizeMin)")
        case .success(let tuning):
            self.tuning = tuning
            self.channelNumbers = ChannelNumberPool(channelMax: tuning.channelMax)
            self.state = .awaitingOpenOk
            let tuneOk = Method.Connection.TuneOk(
                channelMax: tuning.channelMax,
                frameMax: tuning.frameMax,
                heartbeat: tuning.heartbeatSeconds
            )
            self.writeFrame(.method(channel: 0, .connection(.tuneOk(tuneOk))), flush: false)
            let open = Method.Connection.Open(virtualHost: self.configuration.virtualHost)
            guard self.tryWriteFrame(.method(channel: 0, .connection(.open(open)))) else {
                return self.fail(.invalidArgument("virtual host name longer than 255 bytes"))
            }
            self.startHeartbeats()
        }
    }

    private var clientProperties: FieldTable {
        var capabilities = FieldTable()
        for capability in [
            "publisher_confirms", "exchange_exchange_bindings", "basic.nack", "consumer_cancel_notify",
            "connection.blocked", "authentication_failure_close", "per_consumer_qos",
        ] {
            capabilities[capability] = .bool(true)
        }
        var properties: FieldTable = [
            "product": "Berth client",
            "platform": "Swift",
            "capabilities": .table(capabilities),
        ]
        if let name = self.configuration.connectionName {
            properties["connection_name"] = .string(name)
        }
        return properties
    }

    // MARK: Heartbeats

    private func startHeartbeats() {
        guard let seconds = self.tuning?.heartbeatSeconds, seconds > 0 else {
            return
        }
        self.lastReceived = .now()
        self.scheduleHeartbeat(intervalSeconds: seconds)
    }

    /// Ticks every half interval: sends a heartbeat, and fails the connection when nothing
    /// arrived for two intervals (unless reading is paused for back-pressure, when
    /// nothing can arrive).
    private func scheduleHeartbeat(intervalSeconds: UInt16) {
        let interval = TimeAmount.seconds(Int64(intervalSeconds))
        let tick = TimeAmount.nanoseconds(interval.nanoseconds / 2)
        self.heartbeatTimer = self.eventLoop.assumeIsolated().scheduleTask(in: tick) {
            switch self.state {
            case .closed:
                return
            case .connecting, .awaitingStart, .awaitingTune, .awaitingOpenOk, .open, .closing:
                break
            }
            let now = NIODeadline.now()
            if self.readPausers.isEmpty, now - self.lastReceived > interval * 2 {
                return self.fail(.heartbeatTimeout(intervalSeconds: intervalSeconds))
            }
            self.writeFrame(.heartbeat)
            self.scheduleHeartbeat(intervalSeconds: intervalSeconds)
        }
    }

    // MARK: Read back-pressure

    /// A consumer's buffer is full: stop reading the socket until it has room.
    func pauseReading(for sinkID: UInt64) {
        self.readPausers.insert(sinkID)
    }

    /// A consumer has room again (or is gone): read again once no consumer is full.
    func resumeReading(for sinkID: UInt64) {
        guard self.readPausers.remove(sinkID) != nil, self.readPausers.isEmpty else {
            return
        }
        // Nothing could arrive while paused; the dead-peer clock starts afresh.
        self.lastReceived = .now()
        if self.readPending, let context = self.context {
            self.readPending = false
            context.read()
        }
    }

    /// True while a consumer's full buffer holds reading back.
    var isReadingPaused: Bool {
        !self.readPausers.isEmpty
    }

    func makeSinkID() -> UInt64 {
        self.nextSinkID += 1
        return self.nextSinkID
    }

    /// A consumer's sequence ended on the consumer's side.
    func consumerTerminated(channel: UInt16, consumerTag: String, sinkID: UInt64) {
        self.resumeReading(for: sinkID)
        self.channels[channel]?.consumerTerminated(consumerTag: consumerTag, sinkID: sinkID)
    }

    // MARK: Channels

    /// Opens a channel on the next free number.
    func openChannel() -> EventLoopFuture<OpenedChannel> {
        guard case .open = self.state, let tuning = self.tuning else {
            return self.eventLoop.makeFailedFuture(self.unavailableError)
        }
        guard let number = self.channelNumbers?.allocate() else {
            return self.eventLoop.makeFailedFuture(
                ClientError.limitReached("all \(tuning.channelMax) channel numbers are in use")
            )
        }
        let core = ChannelCore(number: number, connection: self, tuning: tuning)
        self.channels[number] = core
        return core.open()
    }

    /// A channel closed: forget it, and free its number unless a late frame might still
    /// come for it (`releaseNumber` false: its close-ok never came).
    func channelFinished(_ core: ChannelCore, releaseNumber: Bool) {
        guard let existing = self.channels[core.number], existing === core else {
            return
        }
        self.channels[core.number] = nil
        if releaseNumber {
            self.channelNumbers?.release(core.number)
        }
    }

    /// The error for an operation on a connection that is not open.
    var unavailableError: ClientError {
        switch self.state {
        case .closed(let error):
            error
        case .closing:
            .connectionClosed
        case .connecting, .awaitingStart, .awaitingTune, .awaitingOpenOk, .open:
            .connectionLost
        }
    }

    var isWritable: Bool {
        self.context?.channel.isWritable ?? false
    }

    var allocator: ByteBufferAllocator {
        self.context?.channel.allocator ?? ByteBufferAllocator()
    }

    // MARK: Writing

    /// Writes (and flushes) bytes already encoded. Write errors surface through
    /// `errorCaught` / `channelInactive`, which end the connection.
    func write(_ buffer: ByteBuffer, flush: Bool = true, promise: EventLoopPromise<Void>? = nil) {
        guard let context = self.context else {
            promise?.fail(ClientError.connectionLost)
            return
        }
        context.write(self.wrapOutboundOut(buffer), promise: promise)
        if flush {
            context.flush()
        }
    }

    func flush() {
        self.context?.flush()
    }

    /// Writes a frame this client composed from its own values, which always encodes.
    func writeFrame(_ frame: Frame, flush: Bool = true, promise: EventLoopPromise<Void>? = nil) {
        var buffer = self.allocator.buffer(capacity: 64)
        do {
            try FrameWriter.writeFrame(frame, into: &buffer)
        } catch {
            preconditionFailure("frame \(frame) of our own failed to encode: \(error)")
        }
        self.write(buffer, flush: flush, promise: promise)
    }

    /// Writes a frame of our own and returns when it is written.
    private func writeFrameAndWait(_ frame: Frame) -> EventLoopFuture<Void> {
        let promise = self.eventLoop.makePromise(of: Void.self)
        self.writeFrame(frame, promise: promise)
        return promise.futureResult
    }

    /// Writes a frame that holds user input; false, writing nothing, when it does not encode.
    private func tryWriteFrame(_ frame: Frame) -> Bool {
        var buffer = self.allocator.buffer(capacity: 64)
        do {
            try FrameWriter.writeFrame(frame, into: &buffer)
        } catch {
            return false
        }
        self.write(buffer)
        return true
    }

    // MARK: Closing

    /// Starts the orderly close: `connection.close` 200, then the socket once the server
    /// answers (or `closeTimeout` passes). Channels fail with `connectionClosed` at once.
    func close() -> EventLoopFuture<ClientError> {
        switch self.state {
        case .closed, .closing:
            break
        case .connecting, .awaitingStart, .awaitingTune, .awaitingOpenOk:
            self.fail(.connectionClosed)
        case .open:
            self.state = .closing
            self.failChannels(.connectionClosed)
            let close = Method.Connection.Close(
                replyCode: .replySuccess,
                replyText: "closed by client",
                classID: 0,
                methodID: 0
            )
            self.writeFrame(.method(channel: 0, .connection(.close(close))))
            self.closeTimer = self.eventLoop.assumeIsolated().scheduleTask(in: self.configuration.closeTimeout) {
                self.fail(.connectionClosed)
            }
        }
        return self.closedFuture
    }

    /// The server broke the protocol: tell it why with `connection.close`, and end.
    func protocolViolation(_ code: ReplyCode, _ text: String, classID: UInt16 = 0, methodID: UInt16 = 0) {
        switch self.state {
        case .closed:
            return
        case .connecting, .awaitingStart, .awaitingTune, .awaitingOpenOk, .open, .closing:
            break
        }
        let truncated = String(decoding: text.utf8.prefix(250), as: UTF8.self)
        let close = Method.Connection.Close(replyCode: code, replyText: truncated, classID: classID, methodID: methodID)
        let written = self.writeFrameAndWait(.method(channel: 0, .connection(.close(close))))
        self.fail(.protocolViolation(code, text), closingAfter: written)
    }

    /// A method the client does not expect in this state.
    func unexpected(_ method: Method, channel: UInt16 = 0) {
        self.protocolViolation(.commandInvalid, "unexpected \(method.name) on channel \(channel)")
    }

    /// Ends the connection with `error`, once: fails everything outstanding and closes the
    /// socket, after `written` completes when given (bounded by `closeTimeout`).
    private func fail(_ error: ClientError, closingAfter written: EventLoopFuture<Void>? = nil) {
        if case .closed = self.state {
            return
        }
        self.state = .closed(error)
        self.handshakeTimer?.cancel()
        self.heartbeatTimer?.cancel()
        self.closeTimer?.cancel()
        self.handshakeTimer = nil
        self.heartbeatTimer = nil
        self.closeTimer = nil
        if let promise = self.handshakePromise {
            self.handshakePromise = nil
            promise.fail(error)
        }
        self.failChannels(error)
        self.readPausers.removeAll()
        self.status.blockedReason.withLock { $0 = nil }
        self.eventsContinuation.finish()
        self.closedPromise.succeed(error)
        self.closeSocket(after: written)
    }

    private func failChannels(_ error: ClientError) {
        let cores = self.channels.values
        self.channels.removeAll()
        for core in cores {
            core.connectionClosed(error)
        }
    }

    private func closeSocket(after written: EventLoopFuture<Void>?) {
        guard let context = self.context else {
            return
        }
        guard let written else {
            context.close(promise: nil)
            return
        }
        let timeout = self.eventLoop.assumeIsolated().scheduleTask(in: self.configuration.closeTimeout) {
            context.close(promise: nil)
        }
        written.assumeIsolated().whenComplete { _ in
            timeout.cancel()
            context.close(promise: nil)
        }
    }
}
