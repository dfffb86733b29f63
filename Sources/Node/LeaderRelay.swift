import AMQP
import NIOCore
import Raft

/// Serves a client connection on a node that does not lead by relaying its channels to the
/// leader: the shell of `RelayCore`, which decides everything the relay does (see there). The
/// shell owns the session's NIO channel, the timers, the client's handler and this node's
/// view of the leader; it feeds each event to the core and carries out the directives the
/// core returns. Runs on the node's event loop.
final class LeaderRelay {
    typealias Settings = RelayCore.Settings

    private var core: RelayCore
    private let node: NodeCore
    private let loop: any EventLoop
    private weak var client: AMQPConnectionHandler?
    private let user: String
    private var session: (any Channel)?
    /// A connection just dialled, until the core adopts it as the session.
    private var dialed: (any Channel)?
    private var sessionHeartbeat: RepeatedTask?
    private var retryTask: Scheduled<Void>?
    private var sessionFlushScheduled = false
    /// The frames written to the session in this turn of the loop, gathered into one buffer:
    /// they leave in one write and one TLS record rather than one each (a turn's acks are
    /// hundreds of frames of a few bytes). Bounded by what the turn read: it goes at its end.
    private var sessionWrites: ByteBuffer?
    /// Answers the client's connection.close (see `closeUpstream`).
    private var upstreamClosed: (() -> Void)?

    init(client: AMQPConnectionHandler, core node: NodeCore, loop: any EventLoop, user: String, vhost: String, clientProperties: FieldTable,
         frameSizeMax: UInt32, channelMax: UInt16, settings: Settings = Settings()) {
        self.client = client
        self.node = node
        self.loop = loop
        self.user = user
        let handshake = RelayCore.Handshake(vhost: vhost, properties: clientProperties, frameSizeMax: frameSizeMax, channelMax: channelMax)
        self.core = RelayCore(handshake: handshake, settings: settings)
    }

    /// Starts reaching for the leader.
    func start() {
        node.watchLeader(self)
        let leader = node.leader
        drive { core, now in core.onStart(leader: leader, now: now) }
    }

    /// The client connection is gone: so is its session.
    func close() {
        drive { core, _ in core.onClose() }
    }

    /// This node learned of a leader.
    func leaderChanged(to leader: NodeID?) {
        drive { core, now in core.onLeaderChanged(to: leader, now: now) }
    }

    /// The client sent connection.close: `done` runs once the session has closed the same
    /// way (see `RelayCore.onCloseUpstream`).
    func closeUpstream(then done: @escaping () -> Void) {
        upstreamClosed = done
        drive { core, _ in core.onCloseUpstream() }
    }

    /// A frame on a channel other than 0, from the client.
    func fromClient(_ frame: Frame) throws(Refusal) {
        carryOut(try core.onClientFrame(frame))
    }

    /// The client's socket backs up: stop reading from the leader until it drains.
    func clientWritabilityChanged(_ writable: Bool) {
        drive { core, _ in core.onClientWritability(writable) }
    }

    fileprivate func fromLeader(_ frame: Frame, generation: UInt64) {
        drive { core, now in core.onLeaderFrame(frame, generation: generation, now: now) }
    }

    fileprivate func sessionClosed(generation: UInt64) {
        drive { core, now in core.onSessionClosed(generation: generation, now: now) }
    }

    fileprivate func sessionWritabilityChanged(_ writable: Bool, generation: UInt64) {
        drive { core, _ in core.onSessionWritability(writable, generation: generation) }
    }

    private func retry() {
        let leader = node.leader
        drive { core, now in core.onRetryTimer(leader: leader, now: now) }
    }

    // MARK: Carrying out directives

    /// Runs one event of the core and carries out what it returns. Carrying them out may
    /// feed the core another event (the client's teardown closes the relay): that one's
    /// directives are carried out at once, as the core has finished with the first.
    private func drive(_ event: (inout RelayCore, NIODeadline) -> [RelayCore.Directive]) {
        carryOut(event(&core, .now()))
    }

    private func carryOut(_ directives: [RelayCore.Directive]) {
        for directive in directives {
            switch directive {
            case .sendToClient(let frames, let flush):
                client?.send(frames, flush: flush)
            case .closeClient(let refusal):
                client?.failConnection(refusal)
            case .pauseReadingClient:
                client?.setReading(false)
            case .resumeReadingClient:
                client?.setReading(true)
            case .readSession(let reading):
                session?.setOption(ChannelOptions.autoRead, value: reading).whenFailure { _ in }
            case .dial(let leader, let generation):
                dial(leader, generation: generation)
            case .scheduleOpeningTimeout(let generation, let delay):
                let bound = NIOLoopBound(self, eventLoop: loop)
                loop.scheduleTask(in: delay) {
                    bound.value.drive { core, now in core.onOpeningTimeout(generation: generation, now: now) }
                }
            case .adoptSession:
                session = dialed.take()
                session?.writeAndFlush(AMQPFrameEncoder.Outbound.protocolHeader(.amqp091), promise: nil)
            case .writeToSession(let frames):
                // Every write goes, flushed, by the end of the turn (see `sessionWrites`).
                guard let session else { continue }
                var buffer = sessionWrites.take() ?? session.allocator.buffer(capacity: Self.sessionWritesCapacity)
                do {
                    for frame in frames { try FrameWriter.writeFrame(frame, into: &buffer) }
                } catch {
                    // As the session's pipeline answers an error: it closes, and the core hears.
                    session.close(promise: nil)
                    continue
                }
                sessionWrites = buffer
                flushSessionByTheEndOfTheTurn()
            case .startHeartbeat(let generation, let interval):
                let bound = NIOLoopBound(self, eventLoop: loop)
                sessionHeartbeat = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                    bound.value.drive { core, now in core.onHeartbeatTimer(generation: generation, now: now) }
                }
            case .closeSession:
                sessionHeartbeat?.cancel()
                sessionHeartbeat = nil
                // As unflushed writes are when a channel closes: dropped.
                sessionWrites = nil
                session?.close(promise: nil)
                session = nil
            case .scheduleRetry(let delay):
                let bound = NIOLoopBound(self, eventLoop: loop)
                retryTask = loop.scheduleTask(in: delay) { bound.value.retry() }
            case .cancelRetry:
                retryTask?.cancel()
                retryTask = nil
            case .scheduleUpstreamCloseTimer(let delay):
                let bound = NIOLoopBound(self, eventLoop: loop)
                loop.scheduleTask(in: delay) { bound.value.drive { core, _ in core.onUpstreamCloseTimer() } }
            case .finishUpstreamClose:
                upstreamClosed.take()?()
            case .stopWatchingLeader:
                node.unwatchLeader(self)
            }
        }
    }

    /// Room for a turn's writes to the session to begin with: a few hundred acks (the buffer
    /// grows for more, and for publishes).
    private static let sessionWritesCapacity = 8192

    /// The writes of one turn of the loop leave together at its end, flushed once: the
    /// publishes and acks read from the client at once reach the leader in one write (and one
    /// TLS record, up to its size), not one each.
    private func flushSessionByTheEndOfTheTurn() {
        guard !sessionFlushScheduled else { return }
        sessionFlushScheduled = true
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.execute {
            let relay = bound.value
            relay.sessionFlushScheduled = false
            guard let bytes = relay.sessionWrites.take() else { return }
            relay.session?.writeAndFlush(AMQPFrameEncoder.Outbound.encoded(bytes), promise: nil)
        }
    }

    private func dial(_ leader: NodeID, generation: UInt64) {
        let bound = NIOLoopBound(self, eventLoop: loop)
        let frameSizeMax = core.handshake.frameSizeMax
        let channelMax = core.handshake.channelMax
        node.openSession(to: leader, user: user).flatMapThrowing { channel in
            try channel.pipeline.syncOperations.addHandlers([
                ByteToMessageHandler(AMQPFrameDecoder(role: .client, frameSizeMax: frameSizeMax, channelMax: channelMax)),
                AMQPFrameEncodingHandler(),
                LeaderSessionHandler(relay: bound.value, generation: generation),
            ])
            return channel
        }.whenComplete { result in
            let relay = bound.value
            switch result {
            case .success(let channel):
                relay.dialed = channel
                relay.drive { core, _ in core.onSessionConnected(generation: generation) }
                // Not adopted: the relay moved on (closed, or abandoned this session).
                relay.dialed.take()?.close(promise: nil)
            case .failure:
                relay.drive { core, _ in core.onSessionFailed(generation: generation) }
            }
        }
    }
}

/// The session's end of the pipeline: hands the leader's frames to the relay.
private final class LeaderSessionHandler: ChannelInboundHandler {
    typealias InboundIn = AMQPFrameDecoder.Inbound

    private let relay: LeaderRelay
    private let generation: UInt64

    init(relay: LeaderRelay, generation: UInt64) {
        self.relay = relay
        self.generation = generation
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .frame(let frame) = unwrapInboundIn(data) { relay.fromLeader(frame, generation: generation) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        relay.sessionClosed(generation: generation)
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        relay.sessionWritabilityChanged(context.channel.isWritable, generation: generation)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
