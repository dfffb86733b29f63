import AMQP
import NIOCore

/// The peer's side of one connection, confined to its event loop; what scripts act on.
final class PeerSession {
    private let context: ChannelHandlerContext
    let options: ScriptedPeer.Options
    /// The frame-max the client agreed to in tune-ok.
    var frameMax: UInt32
    /// Publishes received per channel (the n-th one in confirm mode has delivery tag n).
    var publishes: [UInt16: Int] = [:]
    /// Free counters for scripts.
    var counters: [String: Int] = [:]
    private var heartbeatTimer: Scheduled<Void>?

    init(context: ChannelHandlerContext, options: ScriptedPeer.Options) {
        self.context = context
        self.options = options
        self.frameMax = options.tune.frameMax == 0 ? UInt32.max : options.tune.frameMax
    }

    func send(_ frame: Frame) {
        var buffer = self.context.channel.allocator.buffer(capacity: 64)
        try! FrameWriter.writeFrame(frame, into: &buffer)
        self.context.writeAndFlush(NIOAny(buffer), promise: nil)
    }

    func send(channel: UInt16, _ method: Method) {
        self.send(.method(channel: channel, method))
    }

    func sendContent(
        channel: UInt16,
        _ method: ContentMethod,
        properties: BasicProperties = BasicProperties(),
        body: ByteBuffer,
        flush: Bool = true
    ) {
        var buffer = self.context.channel.allocator.buffer(capacity: body.readableBytes + 64)
        try! FrameWriter.writeContent(
            channel: channel,
            method: method,
            properties: properties,
            body: body,
            frameSizeMax: max(self.frameMax, Frame.sizeMin),
            into: &buffer
        )
        self.context.write(NIOAny(buffer), promise: nil)
        if flush {
            self.context.flush()
        }
    }

    func flush() {
        self.context.flush()
    }

    /// Sends a delivery of `body` to consumer `consumerTag`.
    func deliver(
        channel: UInt16,
        consumerTag: String,
        deliveryTag: UInt64,
        body: String,
        redelivered: Bool = false,
        flush: Bool = true
    ) {
        let deliver = Method.Basic.Deliver(
            consumerTag: consumerTag,
            deliveryTag: deliveryTag,
            redelivered: redelivered,
            exchange: "",
            routingKey: "q"
        )
        self.sendContent(channel: channel, .deliver(deliver), body: ByteBuffer(string: body), flush: flush)
    }

    func closeSocket() {
        self.heartbeatTimer?.cancel()
        self.context.close(promise: nil)
    }

    func startHeartbeats(intervalSeconds: UInt16) {
        let tick = TimeAmount.milliseconds(Int64(intervalSeconds) * 500)
        self.heartbeatTimer = self.context.eventLoop.assumeIsolated().scheduleTask(in: tick) {
            self.send(.heartbeat)
            self.startHeartbeats(intervalSeconds: intervalSeconds)
        }
    }

    func stopHeartbeats() {
        self.heartbeatTimer?.cancel()
    }

    /// What the peer answers when the script does not: the handshake, and "-ok" to every
    /// synchronous method (get-empty to basic.get).
    func answerByDefault(channel: UInt16, _ assembled: AssembledMethod) {
        guard case .method(let method) = assembled else {
            return
        }
        switch method {
        case .connection(.startOk):
            self.send(channel: 0, .connection(.tune(self.options.tune)))
        case .connection(.tuneOk(let tuneOk)):
            self.frameMax = tuneOk.frameMax == 0 ? UInt32.max : tuneOk.frameMax
            if tuneOk.heartbeat > 0, self.options.sendsHeartbeats {
                self.startHeartbeats(intervalSeconds: tuneOk.heartbeat)
            }
        case .connection(.open):
            self.send(channel: 0, .connection(.openOk(.init())))
        case .connection(.close):
            self.send(channel: 0, .connection(.closeOk))
            self.closeSocket()
        case .connection(.closeOk):
            self.closeSocket()
        case .channel(.open):
            self.send(channel: channel, .channel(.openOk(.init())))
        case .channel(.close):
            self.send(channel: channel, .channel(.closeOk))
        case .exchange(.declare):
            self.send(channel: channel, .exchange(.declareOk))
        case .exchange(.delete):
            self.send(channel: channel, .exchange(.deleteOk))
        case .exchange(.bind):
            self.send(channel: channel, .exchange(.bindOk))
        case .exchange(.unbind):
            self.send(channel: channel, .exchange(.unbindOk))
        case .queue(.declare(let declare)):
            let name = declare.queue.isEmpty ? "amq.gen-1" : declare.queue
            self.send(channel: channel, .queue(.declareOk(.init(queue: name, messageCount: 0, consumerCount: 0))))
        case .queue(.bind):
            self.send(channel: channel, .queue(.bindOk))
        case .queue(.unbind):
            self.send(channel: channel, .queue(.unbindOk))
        case .queue(.purge):
            self.send(channel: channel, .queue(.purgeOk(.init(messageCount: 0))))
        case .queue(.delete):
            self.send(channel: channel, .queue(.deleteOk(.init(messageCount: 0))))
        case .basic(.qos):
            self.send(channel: channel, .basic(.qosOk))
        case .basic(.consume(let consume)):
            self.send(channel: channel, .basic(.consumeOk(.init(consumerTag: consume.consumerTag))))
        case .basic(.cancel(let cancel)):
            self.send(channel: channel, .basic(.cancelOk(.init(consumerTag: cancel.consumerTag))))
        case .basic(.get):
            self.send(channel: channel, .basic(.getEmpty(.init())))
        case .confirm(.select):
            self.send(channel: channel, .confirm(.selectOk))
        case .tx(.select):
            self.send(channel: channel, .tx(.selectOk))
        case .tx(.commit):
            self.send(channel: channel, .tx(.commitOk))
        case .tx(.rollback):
            self.send(channel: channel, .tx(.rollbackOk))
        default:
            // Everything else (publishes, acks, close-oks, …) needs no answer.
            break
        }
    }
}
