import AMQP
import DequeModule
import NIOCore
import Raft

/// The relay of one client connection on a node that does not lead, as a pure state machine:
/// the node has done the handshake itself up to connection.open (its open-ok waits for the
/// first session, so that the leader's refusal at open reaches the client at open), and the
/// relay carries every channel frame to the leader over a client session on the peer port (an
/// AMQP connection of its own, authenticated with the cluster secret), and the leader's frames
/// back. `LeaderRelay` is its shell: it feeds events in and carries out the directives each
/// event returns (`Directive`); the core does no I/O, reads no clock (time comes in with the
/// events that need it) and starts no task.
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
/// lost session never leaves half a message on either side.
///
/// Sessions are numbered (`generation`): every event of a session carries its number, and
/// the events of one that was abandoned are ignored.
struct RelayCore {
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

    /// What the session tells the leader of the client in its handshake.
    struct Handshake {
        var vhost: String
        /// The client's properties with where it is (`ForwardedClient`), as the handler gave them.
        var properties: FieldTable
        var frameSizeMax: UInt32
        var channelMax: UInt16
    }

    /// A frame or a content (method, header, bodies) that must travel together.
    typealias Unit = [Frame]

    enum SessionState: Equatable {
        /// No session; a dial is due (the retry timer runs) or the relay is closed.
        case down
        /// Dialling or in the AMQP handshake with this leader.
        case opening(leader: NodeID, generation: UInt64)
        /// Frames flow.
        case open(leader: NodeID, generation: UInt64)
    }

    let settings: Settings
    let handshake: Handshake

    var state = SessionState.down
    /// Counts sessions, so that events of an abandoned one are ignored.
    var generation: UInt64 = 0
    var readFromSessionSinceBeat = true
    var missedSessionBeats = 0
    /// Since when the client's frames wait for a leader; nil while a session is open.
    var waitingSince: NIODeadline?
    var retryScheduled = false
    var pending: Deque<Unit> = []
    /// What `pending` takes, by `Frame.approximateBytes`; bounded by `Settings.pendingBytesMax`.
    var pendingBytes = 0
    var channels: [UInt16: RelayedChannel] = [:]
    /// Channels whose close crossed the client's (see `AMQPConnectionHandler.crossedCloses`).
    var crossedCloses: Set<UInt16> = []
    var clientReadingPaused = false
    /// Whether the client has its connection.open-ok, sent when the first session opens.
    var clientOpened = false
    var closed = false
    /// The client closed its connection: the relay waits for the leader's close-ok (what the
    /// session held is given back by then), up to `Settings.upstreamCloseWait`.
    var awaitingUpstreamCloseOk = false
    /// Set by the client's connection.close: a lost session is not replaced.
    var clientClosing = false
    /// The directives of the event being handled, handed out when it returns.
    var output: [Directive] = []

    init(handshake: Handshake, settings: Settings = Settings()) {
        self.handshake = handshake
        self.settings = settings
    }

    // MARK: Events of the relay's life

    /// MUST be invoked once, first: starts reaching for `leader` (the one this node knows of).
    mutating func onStart(leader: NodeID?, now: NIODeadline) -> [Directive] {
        waitingSince = now
        connect(leader: leader, now: now)
        return takeOutput()
    }

    /// MUST be invoked when the client connection is gone: so is its session.
    mutating func onClose() -> [Directive] {
        close()
        return takeOutput()
    }

    /// MUST be invoked when this node learns of a leader. A session to another node is
    /// abandoned: that node no longer leads, and may be unreachable rather than closing it.
    mutating func onLeaderChanged(to leader: NodeID?, now: NIODeadline) -> [Directive] {
        guard let leader else { return [] }
        switch state {
        case .open(let current, _) where current != leader: sessionLost(now: now)
        case .opening(let current, _) where current != leader: sessionLost(now: now)
        default: break
        }
        return takeOutput()
    }

    /// MUST be invoked when the client sends connection.close: the session closes the same
    /// way, so that the leader has requeued what the client held before the client hears
    /// close-ok. `Directive.finishUpstreamClose` comes on the leader's close-ok, at once
    /// without an open session, or on `onUpstreamCloseTimer`.
    mutating func onCloseUpstream() -> [Directive] {
        clientClosing = true
        guard case .open = state, !closed else {
            output.append(.finishUpstreamClose)
            return takeOutput()
        }
        awaitingUpstreamCloseOk = true
        let close = Method.Connection.Close(replyCode: .replySuccess, replyText: "the client closed its connection", classID: 0, methodID: 0)
        output.append(.writeToSession([.method(channel: 0, .connection(.close(close)))]))
        output.append(.scheduleUpstreamCloseTimer(after: settings.upstreamCloseWait))
        return takeOutput()
    }

    /// MUST be invoked when the timer of `Directive.scheduleUpstreamCloseTimer` fires.
    mutating func onUpstreamCloseTimer() -> [Directive] {
        finishUpstreamClose()
        return takeOutput()
    }

    /// MUST be invoked when the client's socket becomes writable or stops being so: while it
    /// backs up, the session is not read.
    mutating func onClientWritability(_ writable: Bool) -> [Directive] {
        [.readSession(writable)]
    }

    // MARK: Events of the session's life

    /// MUST be invoked when the timer of `Directive.scheduleRetry` fires.
    mutating func onRetryTimer(leader: NodeID?, now: NIODeadline) -> [Directive] {
        connect(leader: leader, now: now)
        return takeOutput()
    }

    /// MUST be invoked when the timer of `Directive.scheduleOpeningTimeout` fires.
    mutating func onOpeningTimeout(generation: UInt64, now: NIODeadline) -> [Directive] {
        if case .opening(_, let opening) = state, opening == generation { sessionLost(now: now) }
        return takeOutput()
    }

    /// MUST be invoked when the dial of `Directive.dial` connected. Unless the result holds
    /// `Directive.adoptSession`, the connection is not wanted any more: close it.
    mutating func onSessionConnected(generation: UInt64) -> [Directive] {
        guard generation == self.generation, !closed else { return [] }
        return [.adoptSession(generation: generation)]
    }

    /// MUST be invoked when the dial of `Directive.dial` failed.
    mutating func onSessionFailed(generation: UInt64) -> [Directive] {
        guard generation == self.generation, !closed else { return [] }
        retryLater()
        return takeOutput()
    }

    /// MUST be invoked when the session's connection closed.
    mutating func onSessionClosed(generation: UInt64, now: NIODeadline) -> [Directive] {
        guard generation == self.generation, !closed else { return [] }
        sessionLost(now: now)
        return takeOutput()
    }

    /// MUST be invoked when the session's socket becomes writable or stops being so: while it
    /// backs up, the client is not read.
    mutating func onSessionWritability(_ writable: Bool, generation: UInt64) -> [Directive] {
        guard generation == self.generation else { return [] }
        pauseClientReading(!writable)
        return takeOutput()
    }

    /// MUST be invoked at every beat of `Directive.startHeartbeat`: the session has been
    /// silent for two beats, or it gets a heartbeat.
    mutating func onHeartbeatTimer(generation: UInt64, now: NIODeadline) -> [Directive] {
        guard generation == self.generation, case .open = state else { return [] }
        missedSessionBeats = readFromSessionSinceBeat ? 0 : missedSessionBeats + 1
        readFromSessionSinceBeat = false
        if missedSessionBeats >= 2 {
            sessionLost(now: now)
        } else {
            output.append(.writeToSession([.heartbeat]))
        }
        return takeOutput()
    }

    // MARK: Steps

    mutating func takeOutput() -> [Directive] {
        defer { output = [] }
        return output
    }

    mutating func close() {
        guard !closed else { return }
        closed = true
        output.append(.stopWatchingLeader)
        output.append(.cancelRetry)
        endSession()
        pending = []
        pendingBytes = 0
        channels = [:]
    }

    mutating func finishUpstreamClose() {
        guard awaitingUpstreamCloseOk else { return }
        awaitingUpstreamCloseOk = false
        output.append(.finishUpstreamClose)
    }

    mutating func connect(leader: NodeID?, now: NIODeadline) {
        guard !closed else { return }
        retryScheduled = false
        if let waitingSince, now - waitingSince > settings.leaderWait { return giveUp() }
        guard let leader else { return retryLater() }
        generation += 1
        state = .opening(leader: leader, generation: generation)
        output.append(.scheduleOpeningTimeout(generation: generation, after: settings.openingTimeout))
        output.append(.dial(leader, generation: generation))
    }

    mutating func retryLater() {
        state = .down
        guard !closed, !retryScheduled else { return }
        retryScheduled = true
        output.append(.scheduleRetry(after: settings.retryDelay))
    }

    /// Settles toward the client what the lost session took with it (see the type's
    /// comment), and reaches for the next leader.
    mutating func sessionLost(now: NIODeadline) {
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
                sendToClient(.method(channel: number, .channel(.closeOk)), flush: false)
                continue
            case .byServer?:
                channel.closing = .locally
            case .locally?, nil:
                break
            }
            if channel.confirmSelected, channel.publishesSent > channel.publishOffset {
                let nack = Method.Basic.Nack(deliveryTag: channel.publishesSent, multiple: true, requeue: false)
                sendToClient(.method(channel: number, .basic(.nack(nack))), flush: false)
            }
            channel.publishOffset = channel.publishesSent
            channel.deliveryTagOffset = channel.lastDeliveryTag
            if channel.closing == nil, channel.transactional, channel.transactionHasWork {
                channel.closing = .locally
                let close = Method.Channel.Close(replyCode: .internalError,
                                                 replyText: "INTERNAL_ERROR - the leader changed during the transaction; its work is lost, retry it",
                                                 classID: 0, methodID: 0)
                sendToClient(.method(channel: number, .channel(.close(close))), flush: false)
            }
            channels[number] = channel
        }
        if waitingSince == nil { waitingSince = now }
        retryLater()
    }

    mutating func endSession() {
        finishUpstreamClose()
        generation += 1
        state = .down
        output.append(.closeSession)
    }

    /// No leader within `leaderWait`: every unconfirmed publish is nacked, then the
    /// connection closes with 320.
    mutating func giveUp() {
        for number in channels.keys.sorted() {
            guard let channel = channels[number], channel.confirmModeForClient, channel.publishesFromClient > channel.publishOffset else { continue }
            let nack = Method.Basic.Nack(deliveryTag: channel.publishesFromClient, multiple: true, requeue: false)
            sendToClient(.method(channel: number, .basic(.nack(nack))), flush: false)
        }
        let seconds = settings.leaderWait.nanoseconds / 1_000_000_000
        output.append(.closeClient(Refusal(code: .connectionForced, text: "CONNECTION_FORCED - no leader could be reached within \(seconds) s; reconnect",
                                           method: nil, closesConnection: true)))
        close()
    }

    mutating func startSessionHeartbeat() {
        readFromSessionSinceBeat = true
        missedSessionBeats = 0
        output.append(.startHeartbeat(generation: generation, every: .seconds(Int64(settings.sessionHeartbeatSeconds))))
    }

    mutating func pauseClientReading(_ pause: Bool) {
        let shouldPause = pause || pendingBytes > settings.pendingBytesMax
        guard shouldPause != clientReadingPaused else { return }
        clientReadingPaused = shouldPause
        output.append(shouldPause ? .pauseReadingClient : .resumeReadingClient)
    }

    mutating func sendToClient(_ frame: Frame, flush: Bool) {
        output.append(.sendToClient([frame], flush: flush))
    }
}
