import AMQP
import DequeModule
import NIOCore
import Raft

/// Serves a client connection on a node that does not lead: the node has done the
/// handshake itself up to connection.open (its open-ok waits for the first session, so that
/// the leader's refusal at open reaches the client at open), and relays every channel frame
/// to the leader over a client session on the peer port (an AMQP connection of its own,
/// authenticated with the cluster secret), and the leader's frames back.
///
/// The client's channels outlive the leader: when the session to the leader is lost (the
/// leader died, stepped down, or this node learned of a newer one), the relay opens a
/// session to the new leader and restores each channel there — channel.open, basic.qos,
/// confirm.select, tx.select and every consumer — before it sends anything the client sent
/// meanwhile. What cannot carry over is settled toward the client:
/// - publishes sent to the old leader and not yet confirmed are nacked (the client
///   republishes; a message may then arrive twice, never zero times once confirmed);
/// - deliveries the client held come again from the new leader with `redelivered = true`
///   (Raft state keeps every unsettled message); acks for them are dropped, as they name
///   deliveries of a session that is gone. Delivery tags and publish sequence numbers keep
///   counting up across sessions, so the client never sees one reused;
/// - a synchronous request without its reply is sent again;
/// - a transaction with uncommitted work closes its channel (541): the work is gone.
/// While no leader is reachable the client's frames wait, bounded in bytes (reading stops
/// past the bound) and in time (`Settings.leaderWait`): past it, every unconfirmed publish is
/// nacked and the connection closes with 320.
///
/// Frames of one content (a publish, a delivery) travel as a unit in both directions, so a
/// lost session never leaves half a message on either side. Runs on the node's event loop.
final class LeaderRelay {
    struct Settings {
        /// How long the client's frames wait for a reachable leader.
        var leaderWait = TimeAmount.seconds(10)
        /// Between attempts to reach a leader.
        var retryDelay = TimeAmount.milliseconds(50)
        /// A session not open by then is abandoned (a paused leader accepts the TCP
        /// connection but never answers).
        var openingTimeout = TimeAmount.seconds(2)
        /// Client bytes waiting for a leader before the relay stops reading the client.
        var pendingBytesMax = 8 << 20
        /// The heartbeat of the session to the leader, both ways: a silent leader is given up
        /// after two intervals even when Raft has not yet noticed, and the leader gives up the
        /// session of a silent (paused) node as soon, so that what it delivered to that node's
        /// consumers returns to the queue within seconds rather than when the node resumes.
        var sessionHeartbeatSeconds: UInt16 = 1
        /// The largest message body a client may publish through the relay.
        var messageSizeMax: UInt64 = ContentAssembler.messageSizeMaxDefault
        /// How long a client's connection.close waits for the leader's close-ok.
        var upstreamCloseWait = TimeAmount.seconds(2)
    }

    /// A frame or a content (method, header, bodies) that must travel together.
    private typealias Unit = [Frame]

    private let settings: Settings
    private let core: NodeCore
    private let loop: any EventLoop
    private weak var client: AMQPConnectionHandler?
    private let user: String
    private let vhost: String
    /// Whether the client has its connection.open-ok, sent when the first session opens.
    private var clientOpened = false
    private let clientProperties: FieldTable
    private let frameSizeMax: UInt32
    private let channelMax: UInt16

    private enum SessionState {
        /// No session; `connect()` is scheduled or running.
        case down
        /// Dialling or in the AMQP handshake with this leader.
        case opening(leader: NodeID, generation: UInt64)
        /// Frames flow.
        case open(leader: NodeID, generation: UInt64)
    }

    private var state = SessionState.down
    /// Counts sessions, so that events of an abandoned one are ignored.
    private var generation: UInt64 = 0
    private var session: (any Channel)?
    private var sessionHeartbeat: RepeatedTask?
    private var readFromSessionSinceBeat = true
    private var missedSessionBeats = 0
    /// Since when the client's frames wait for a leader; nil while a session is open.
    private var waitingSince: NIODeadline?
    private var retryTask: Scheduled<Void>?
    private var pending: Deque<Unit> = []
    private var pendingBytes = 0
    private var channels: [UInt16: RelayedChannel] = [:]
    /// Channels whose close crossed the client's (see `AMQPConnectionHandler.crossedCloses`).
    private var crossedCloses: Set<UInt16> = []
    private var clientReadingPaused = false
    private var closed = false
    /// The client closed its connection: the relay waits for the leader's close-ok (what the
    /// session held is given back by then), up to `Settings.upstreamCloseWait`.
    private var upstreamClosed: (() -> Void)?
    /// Set by the client's connection.close: a lost session is not replaced.
    private var clientClosing = false

    init(client: AMQPConnectionHandler, core: NodeCore, loop: any EventLoop, user: String, vhost: String, clientProperties: FieldTable,
         frameSizeMax: UInt32, channelMax: UInt16, settings: Settings = Settings()) {
        self.client = client
        self.core = core
        self.loop = loop
        self.user = user
        self.vhost = vhost
        self.clientProperties = clientProperties
        self.frameSizeMax = frameSizeMax
        self.channelMax = channelMax
        self.settings = settings
    }

    /// Starts reaching for the leader.
    func start() {
        core.watchLeader(self)
        waitingSince = .now()
        connect()
    }

    /// The client connection is gone: so is its session.
    func close() {
        guard !closed else { return }
        closed = true
        core.unwatchLeader(self)
        retryTask?.cancel()
        endSession()
        pending = []
        channels = [:]
    }

    /// This node learned of a leader. A session to another node is abandoned: that node no
    /// longer leads, and may be unreachable rather than closing it.
    func leaderChanged(to leader: NodeID?) {
        guard let leader else { return }
        switch state {
        case .open(let current, _) where current != leader: sessionLost()
        case .opening(let current, _) where current != leader: sessionLost()
        default: break
        }
    }

    /// The client sent connection.close: the session closes the same way, so that the
    /// leader has requeued what the client held before the client hears close-ok; `done`
    /// runs on the leader's close-ok, at once without an open session, or after
    /// `upstreamCloseWait`.
    func closeUpstream(then done: @escaping () -> Void) {
        clientClosing = true
        guard case .open = state, !closed else { return done() }
        upstreamClosed = done
        let close = Method.Connection.Close(replyCode: .replySuccess, replyText: "the client closed its connection", classID: 0, methodID: 0)
        writeToSession(.method(channel: 0, .connection(.close(close))))
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.scheduleTask(in: settings.upstreamCloseWait) { bound.value.finishUpstreamClose() }
    }

    private func finishUpstreamClose() {
        guard let done = upstreamClosed.take() else { return }
        done()
    }

    // MARK: From the client

    /// A frame on a channel other than 0, from the client.
    func fromClient(_ frame: Frame) throws(Refusal) {
        let number = frame.channel
        switch frame {
        case .method(_, let method):
            if channels[number] == nil {
                if case .channel(.closeOk) = method, crossedCloses.remove(number) != nil { return }
                guard case .channel(.open) = method else {
                    throw Refusal(code: .channelError, text: "CHANNEL_ERROR - expected 'channel.open'", method: nil, closesConnection: true)
                }
                crossedCloses.remove(number)
                channels[number] = RelayedChannel()
            }
            channels[number]?.droppingOversizedBody = false
            guard var channel = channels[number] else { return }
            if channel.incoming != nil, channel.closing == nil {
                throw Refusal(AMQPError.unexpectedFrame(.methodDuringContent(method.id), channel: number))
            }
            switch channel.closing {
            case .locally?, .byServer?:
                // Only the close-ok the client owes matters now, or its own close, crossing ours.
                let forward = channel.closing == .byServer && channel.openedUpstream
                switch method {
                case .channel(.closeOk):
                    channels[number] = nil
                    if forward { relay([frame]) }
                case .channel(.close):
                    // As the leader answers a crossed close: close-ok, and the close-ok the
                    // client may still send for ours is not an error. The leader gets the
                    // close-ok it is owed.
                    channels[number] = nil
                    crossedCloses.insert(number)
                    if forward { relay([.method(channel: number, .channel(.closeOk))]) }
                    client?.send(.method(channel: number, .channel(.closeOk)), flush: true)
                default:
                    break
                }
                return
            case .byClient?, nil:
                break
            }
            switch method {
            case .basic(.publish):
                channel.incoming = GatheredContent(method: frame)
                channels[number] = channel
            case _ where method.contentMethod != nil:
                // As the leader answers it: only publish carries content from a client.
                throw Refusal.commandInvalid("\(method.name) from a client", method: method.id)
            case .channel(.close):
                channel.closing = .byClient
                channels[number] = channel
                if channel.openedUpstream || channel.awaiting != nil || isWaitingFor(channel: number) {
                    relay([frame])
                } else {
                    // Never reached a leader: nothing to close there.
                    channels[number] = nil
                    client?.send(.method(channel: number, .channel(.closeOk)), flush: true)
                }
            default:
                relay([frame])
            }
        case .header, .body:
            // After a channel.close, sent or received, the channel's content is dropped
            // unread, as the leader drops it.
            if let closing = channels[number]?.closing, closing != .byClient { return }
            // The leader refused the message from its header and drops its body unread.
            if case .body = frame, channels[number]?.droppingOversizedBody == true { return }
            guard var channel = channels[number] else {
                throw Refusal(code: .channelError, text: "CHANNEL_ERROR - expected 'channel.open'", method: nil, closesConnection: true)
            }
            guard var content = channel.incoming else {
                let misplaced: AMQPError.UnexpectedFrame = if case .header = frame { .contentHeaderWithoutMethod } else { .contentBodyWithoutHeader }
                throw Refusal(AMQPError.unexpectedFrame(misplaced, channel: number))
            }
            do { try content.add(frame) } catch { throw Refusal(error) }
            channel.incoming = content
            channels[number] = channel
            if case .header(_, let header) = frame, header.bodySize > settings.messageSizeMax {
                // Over the size limit: the leader refuses it from its header (closing the
                // channel, as RabbitMQ), and its body is not held here meanwhile.
                channels[number]?.incoming = nil
                channels[number]?.droppingOversizedBody = true
                relay(content.frames)
                return
            }
            if content.isComplete { completeIncoming(number) }
        case .heartbeat:
            break
        }
    }

    private func completeIncoming(_ number: UInt16) {
        guard var channel = channels[number], let content = channel.incoming else { return }
        channel.incoming = nil
        if channel.confirmModeForClient { channel.publishesFromClient += 1 }
        channels[number] = channel
        relay(content.frames)
    }

    /// Whether a frame sent by the client for this channel still waits for a leader.
    private func isWaitingFor(channel number: UInt16) -> Bool {
        pending.contains { $0.first?.channel == number }
    }

    /// Sends a unit now, or queues it behind the ones waiting for a leader.
    private func relay(_ unit: Unit) {
        if case .method(_, .confirm(.select)) = unit.first, let number = unit.first?.channel {
            channels[number]?.confirmModeForClient = true
        }
        if case .open = state, pending.isEmpty {
            sendToLeader(unit)
            return
        }
        pending.append(unit)
        pendingBytes += unit.reduce(0) { $0 + $1.approximateBytes }
        if pendingBytes > settings.pendingBytesMax { pauseClientReading(true) }
    }

    /// Writes a unit to the session, keeping the record that a new session is restored from.
    private func sendToLeader(_ unit: Unit, flush: Bool = true) {
        guard let first = unit.first, let session else { return }
        let number = first.channel
        if case .method(_, let method) = first, var channel = channels[number] {
            switch method {
            case .channel(.open):
                channel.awaiting = method
            case .basic(.publish):
                if channel.confirmSelected { channel.publishesSent += 1 }
                if channel.transactional { channel.transactionHasWork = true }
            case .basic(.ack(let ack)):
                guard let tag = channel.leaderTag(ack.deliveryTag, multiple: ack.multiple) else { return }
                if channel.transactional { channel.transactionHasWork = true }
                channels[number] = channel
                return write([.method(channel: number, .basic(.ack(.init(deliveryTag: tag, multiple: ack.multiple))))], to: session, flush: flush)
            case .basic(.nack(let nack)):
                guard let tag = channel.leaderTag(nack.deliveryTag, multiple: nack.multiple) else { return }
                if channel.transactional { channel.transactionHasWork = true }
                channels[number] = channel
                let rewritten = Method.Basic.Nack(deliveryTag: tag, multiple: nack.multiple, requeue: nack.requeue)
                return write([.method(channel: number, .basic(.nack(rewritten)))], to: session, flush: flush)
            case .basic(.reject(let reject)):
                guard let tag = channel.leaderTag(reject.deliveryTag, multiple: false) else { return }
                if channel.transactional { channel.transactionHasWork = true }
                channels[number] = channel
                return write([.method(channel: number, .basic(.reject(.init(deliveryTag: tag, requeue: reject.requeue))))], to: session, flush: flush)
            case .basic(.qos(let qos)):
                channel.qos[qos.global] = qos
                channel.awaiting = method
            case .confirm(.select(let select)):
                channel.confirmSelected = true
                if !select.noWait { channel.awaiting = method }
            case .basic(.consume(let consume)):
                if consume.noWait { channel.consumers[consume.consumerTag] = consume } else { channel.awaiting = method }
            case .basic(.cancel(let cancel)):
                channel.consumers[cancel.consumerTag] = nil
                if !cancel.noWait { channel.awaiting = method }
            default:
                if method.awaitsReply { channel.awaiting = method }
            }
            channels[number] = channel
        }
        write(unit, to: session, flush: flush)
    }

    private func write(_ unit: Unit, to session: any Channel, flush: Bool) {
        for frame in unit { session.write(AMQPFrameEncoder.Outbound.frame(frame), promise: nil) }
        if flush { session.flush() }
    }

    // MARK: From the leader

    fileprivate func fromLeader(_ frame: Frame, generation: UInt64) {
        guard generation == self.generation, !closed else { return }
        readFromSessionSinceBeat = true
        switch state {
        case .opening(let leader, _):
            handshake(frame, leader: leader)
        case .open:
            if frame.channel == 0 { connectionFrameFromLeader(frame) } else { channelFrameFromLeader(frame) }
        case .down:
            break
        }
    }

    private func channelFrameFromLeader(_ frame: Frame) {
        let number = frame.channel
        guard var channel = channels[number] else { return }
        switch frame {
        case .method(_, let method):
            if method.isReply {
                if channel.repliesToSwallow > 0 {
                    // The answer to a method the relay sent to restore the channel.
                    channel.repliesToSwallow -= 1
                    channels[number] = channel
                    return
                }
                channel.replied(method)
                if case .channel(.closeOk) = method {
                    channels[number] = nil
                    client?.send(frame, flush: true)
                    return
                }
            }
            switch method {
            case .basic(.deliver(var deliver)):
                deliver.deliveryTag = channel.clientTag(deliver.deliveryTag)
                channel.outgoing = GatheredContent(method: .method(channel: number, .basic(.deliver(deliver))))
                channels[number] = channel
                return
            case .basic(.getOk(var getOk)):
                getOk.deliveryTag = channel.clientTag(getOk.deliveryTag)
                channel.outgoing = GatheredContent(method: .method(channel: number, .basic(.getOk(getOk))))
                channels[number] = channel
                return
            case .basic(.return):
                channel.outgoing = GatheredContent(method: frame)
                channels[number] = channel
                return
            case .basic(.ack(var ack)):
                // A publisher confirm, in the client's numbering.
                ack.deliveryTag += channel.publishOffset
                channels[number] = channel
                client?.send(.method(channel: number, .basic(.ack(ack))), flush: false)
                return
            case .basic(.nack(var nack)):
                nack.deliveryTag += channel.publishOffset
                channels[number] = channel
                client?.send(.method(channel: number, .basic(.nack(nack))), flush: false)
                return
            case .basic(.cancel(let cancel)):
                channel.consumers[cancel.consumerTag] = nil
            case .channel(.close):
                channel.closing = .byServer
            default:
                break
            }
            channels[number] = channel
            client?.send(frame, flush: false)
        case .header, .body:
            guard var content = channel.outgoing, (try? content.add(frame)) != nil else { return sessionFailed("a content frame out of place") }
            channel.outgoing = content
            channels[number] = channel
            if content.isComplete { completeOutgoing(number) }
        case .heartbeat:
            break
        }
    }

    private func completeOutgoing(_ number: UInt16) {
        guard var channel = channels[number], let content = channel.outgoing else { return }
        channel.outgoing = nil
        channels[number] = channel
        for frame in content.frames { client?.send(frame, flush: false) }
    }

    private func connectionFrameFromLeader(_ frame: Frame) {
        guard case .method(_, .connection(let method)) = frame else { return }
        switch method {
        case .close(let close):
            session?.writeAndFlush(AMQPFrameEncoder.Outbound.frame(.method(channel: 0, .connection(.closeOk))), promise: nil)
            leaderClosed(close)
        case .closeOk:
            finishUpstreamClose()
        case .blocked, .unblocked:
            client?.send(frame, flush: true)
        default:
            break
        }
    }

    /// The leader closed the session: 320 means it no longer serves (it stepped down or is
    /// stopping), and another leader takes over; any other code is the client's doing.
    private func leaderClosed(_ close: Method.Connection.Close) {
        if close.replyCode == .connectionForced {
            sessionLost()
        } else {
            client?.failConnection(Refusal(code: close.replyCode, text: close.replyText,
                                           method: MethodID(classID: close.classID, methodID: close.methodID), closesConnection: true))
        }
    }

    // MARK: The session's life

    private func connect() {
        guard !closed else { return }
        retryTask = nil
        if let waitingSince, NIODeadline.now() - waitingSince > settings.leaderWait { return giveUp() }
        guard let leader = core.leader else { return retryLater() }
        generation += 1
        let generation = self.generation
        state = .opening(leader: leader, generation: generation)
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.scheduleTask(in: settings.openingTimeout) {
            let relay = bound.value
            if case .opening(_, let opening) = relay.state, opening == generation { relay.sessionLost() }
        }
        let frameSizeMax = self.frameSizeMax
        let channelMax = self.channelMax
        core.openSession(to: leader, user: user).flatMapThrowing { channel in
            try channel.pipeline.syncOperations.addHandlers([
                ByteToMessageHandler(AMQPFrameDecoder(role: .client, frameSizeMax: frameSizeMax, channelMax: channelMax)),
                MessageToByteHandler(AMQPFrameEncoder()),
                LeaderSessionHandler(relay: bound.value, generation: generation),
            ])
            return channel
        }.whenComplete { result in
            let relay = bound.value
            guard relay.generation == generation, !relay.closed else {
                if case .success(let channel) = result { channel.close(promise: nil) }
                return
            }
            switch result {
            case .success(let channel):
                relay.session = channel
                channel.writeAndFlush(AMQPFrameEncoder.Outbound.protocolHeader(.amqp091), promise: nil)
            case .failure:
                relay.state = .down
                relay.retryLater()
            }
        }
    }

    private func retryLater() {
        state = .down
        guard !closed, retryTask == nil else { return }
        let bound = NIOLoopBound(self, eventLoop: loop)
        retryTask = loop.scheduleTask(in: settings.retryDelay) { bound.value.connect() }
    }

    /// The AMQP handshake of the session, as a client.
    private func handshake(_ frame: Frame, leader: NodeID) {
        guard case .method(_, .connection(let method)) = frame else { return }
        switch method {
        case .start:
            // The client's properties with where it is (`ForwardedClient`), as the handler gave them.
            let startOk = Method.Connection.StartOk(clientProperties: clientProperties, mechanism: "EXTERNAL", response: [], locale: "en_US")
            writeToSession(.method(channel: 0, .connection(.startOk(startOk))))
        case .tune(let tune):
            let tuneOk = Method.Connection.TuneOk(
                channelMax: tune.channelMax == 0 ? channelMax : min(tune.channelMax, channelMax),
                frameMax: tune.frameMax == 0 ? frameSizeMax : min(tune.frameMax, frameSizeMax),
                heartbeat: settings.sessionHeartbeatSeconds)
            writeToSession(.method(channel: 0, .connection(.tuneOk(tuneOk))))
            writeToSession(.method(channel: 0, .connection(.open(.init(virtualHost: vhost)))))
        case .openOk:
            sessionOpened(leader: leader)
        case .close(let close):
            writeToSession(.method(channel: 0, .connection(.closeOk)))
            leaderClosed(close)
        default:
            sessionFailed("unexpected \(Method.connection(method).name) in the handshake")
        }
    }

    private func writeToSession(_ frame: Frame) {
        session?.writeAndFlush(AMQPFrameEncoder.Outbound.frame(frame), promise: nil)
    }

    /// Restores every channel, resends what had no reply, then sends what waited.
    private func sessionOpened(leader: NodeID) {
        guard let session else { return }
        state = .open(leader: leader, generation: generation)
        waitingSince = nil
        if !clientOpened {
            clientOpened = true
            client?.relayOpened()
        }
        startSessionHeartbeat()
        for number in channels.keys.sorted() {
            guard var channel = channels[number], channel.closing == nil, channel.openedUpstream else { continue }
            var restore: [Method] = [.channel(.open(.init()))]
            restore += channel.qos.keys.sorted { !$0 && $1 }.compactMap { channel.qos[$0] }.map { .basic(.qos($0)) }
            if channel.confirmSelected { restore.append(.confirm(.select(.init(noWait: true)))) }
            if channel.transactional { restore.append(.tx(.select)) }
            for tag in channel.consumers.keys.sorted() {
                var consume = channel.consumers[tag]!
                consume.noWait = true
                restore.append(.basic(.consume(consume)))
            }
            channel.repliesToSwallow = restore.filter(\.awaitsReply).count
            channels[number] = channel
            for method in restore { session.write(AMQPFrameEncoder.Outbound.frame(.method(channel: number, method)), promise: nil) }
        }
        // A request sent to the old leader without a reply goes again, in channel order.
        for number in channels.keys.sorted() {
            guard let channel = channels[number], channel.closing == nil, let awaiting = channel.awaiting else { continue }
            if case .channel(.open) = awaiting {} else if !channel.openedUpstream { continue }
            sendToLeader([.method(channel: number, awaiting)], flush: false)
        }
        while let unit = pending.popFirst() { sendToLeader(unit, flush: false) }
        pendingBytes = 0
        session.flush()
        pauseClientReading(false)
    }

    /// The session failed in a way the relay cannot explain: start over with a new one.
    private func sessionFailed(_ reason: String) {
        sessionLost()
    }

    fileprivate func sessionClosed(generation: UInt64) {
        guard generation == self.generation, !closed else { return }
        sessionLost()
    }

    fileprivate func sessionWritabilityChanged(_ writable: Bool, generation: UInt64) {
        guard generation == self.generation else { return }
        pauseClientReading(!writable)
    }

    /// Settles toward the client what the lost session took with it (see the type's
    /// comment), and reaches for the next leader.
    private func sessionLost() {
        guard !closed else { return }
        guard !clientClosing else { return endSession() }
        endSession()
        for number in channels.keys.sorted() {
            guard var channel = channels[number] else { continue }
            channel.outgoing = nil
            channel.repliesToSwallow = 0
            switch channel.closing {
            case .byClient?:
                channels[number] = nil
                client?.send(.method(channel: number, .channel(.closeOk)), flush: false)
                continue
            case .byServer?:
                channel.closing = .locally
            case .locally?, nil:
                break
            }
            if channel.confirmSelected, channel.publishesSent > channel.publishOffset {
                let nack = Method.Basic.Nack(deliveryTag: channel.publishesSent, multiple: true, requeue: false)
                client?.send(.method(channel: number, .basic(.nack(nack))), flush: false)
            }
            channel.publishOffset = channel.publishesSent
            channel.deliveryTagOffset = channel.lastDeliveryTag
            if channel.closing == nil, channel.transactional, channel.transactionHasWork {
                channel.closing = .locally
                let close = Method.Channel.Close(replyCode: .internalError,
                                                 replyText: "INTERNAL_ERROR - the leader changed during the transaction; its work is lost, retry it",
                                                 classID: 0, methodID: 0)
                client?.send(.method(channel: number, .channel(.close(close))), flush: false)
            }
            channels[number] = channel
        }
        client?.scheduleFlush()
        if waitingSince == nil { waitingSince = .now() }
        retryLater()
    }

    private func endSession() {
        finishUpstreamClose()
        generation += 1
        state = .down
        sessionHeartbeat?.cancel()
        sessionHeartbeat = nil
        session?.close(promise: nil)
        session = nil
    }

    /// No leader within `leaderWait`: every unconfirmed publish is nacked, then the
    /// connection closes with 320.
    private func giveUp() {
        for number in channels.keys.sorted() {
            guard let channel = channels[number], channel.confirmModeForClient, channel.publishesFromClient > channel.publishOffset else { continue }
            let nack = Method.Basic.Nack(deliveryTag: channel.publishesFromClient, multiple: true, requeue: false)
            client?.send(.method(channel: number, .basic(.nack(nack))), flush: false)
        }
        let seconds = settings.leaderWait.nanoseconds / 1_000_000_000
        client?.failConnection(Refusal(code: .connectionForced, text: "CONNECTION_FORCED - no leader could be reached within \(seconds) s; reconnect",
                                       method: nil, closesConnection: true))
        close()
    }

    private func startSessionHeartbeat() {
        let interval = TimeAmount.seconds(Int64(settings.sessionHeartbeatSeconds))
        readFromSessionSinceBeat = true
        missedSessionBeats = 0
        let bound = NIOLoopBound(self, eventLoop: loop)
        sessionHeartbeat = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in bound.value.sessionBeat() }
    }

    private func sessionBeat() {
        missedSessionBeats = readFromSessionSinceBeat ? 0 : missedSessionBeats + 1
        readFromSessionSinceBeat = false
        if missedSessionBeats >= 2 { return sessionLost() }
        writeToSession(.heartbeat)
    }

    private func pauseClientReading(_ pause: Bool) {
        let shouldPause = pause || pendingBytes > settings.pendingBytesMax
        guard shouldPause != clientReadingPaused else { return }
        clientReadingPaused = shouldPause
        client?.setReading(!shouldPause)
    }

    /// The client's socket backs up: stop reading from the leader until it drains.
    func clientWritabilityChanged(_ writable: Bool) {
        session?.setOption(ChannelOptions.autoRead, value: writable).whenFailure { _ in }
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
