import AMQP
import Auth
import Broker
import DequeModule
import NIOCore
import NIOSSL

/// One client connection: the AMQP 0-9-1 handshake, channels, and the translation of each
/// method into a request to the node's core. On a node that does not lead, the channels are
/// served by the leader through a `LeaderRelay` instead. Runs on the core's event loop.
///
/// Errors stay where they belong: a bad method closes its channel with the reply code the
/// spec gives, a framing error closes this connection, and nothing else on the node notices.
final class AMQPConnectionHandler: ChannelInboundHandler, CoreClient {
    typealias InboundIn = AMQPFrameDecoder.Inbound
    typealias OutboundOut = AMQPFrameEncoder.Outbound

    struct Settings {
        var channelMax: UInt16 = 2047
        var frameSizeMax: UInt32 = 131_072
        var heartbeatSeconds: UInt16 = 60
        var messageSizeMax: UInt64 = ContentAssembler.messageSizeMaxDefault
        /// Publishes awaiting their confirm before this connection stops reading.
        var publishesInFlightMax = 8_192
        /// What one transaction may hold until its commit (publishes and acknowledgements,
        /// and the publishes' bytes): past either, the channel closes with 406 rather than
        /// let a client grow the node's memory.
        var transactionMessagesMax = 65_536
        var transactionBytesMax = 128 << 20
        /// Methods held back until what their channel sent before is applied (see
        /// `order`), over all channels, before this connection stops reading.
        var heldMethodsMax = 4_096
        /// Direct reply bodies written while the socket takes no more, before more are
        /// dropped: a client that does not read cannot grow the node's memory with replies.
        var directReplyBytesWhileUnwritableMax = 16 << 20
        /// From the socket's accept to connection.open, as RabbitMQ's `handshake_timeout`:
        /// a connection that has not opened by then is closed, so an idle socket holds
        /// nothing for long.
        var handshakeTimeout = TimeAmount.seconds(10)
        /// Client sockets the node serves at once (RabbitMQ's `connection_max`); one more
        /// is refused at connection.open with 530.
        var connectionsMax = 65_536
    }

    enum Phase {
        case awaitingProtocolHeader
        case awaitingStartOk
        case awaitingTuneOk
        case awaitingOpen
        case open
        /// connection.close sent or received; only close/close-ok matter now.
        case closing
    }

    let core: NodeCore
    let settings: Settings
    private let peerIsLoopback: Bool
    /// Set for a client session another node forwards: that node authenticated the client
    /// as this user, and the session proved the cluster secret.
    private let forwardedUser: String?
    private var clientProperties: FieldTable = [:]
    private var authMechanism = ""
    /// When the connection was accepted, in milliseconds since the Unix epoch.
    private var acceptedAt: Int64 = 0
    /// Serves the channels through the leader when this node does not lead.
    private var relay: LeaderRelay?
    var phase = Phase.awaitingProtocolHeader {
        didSet {
            guard phase == .open, !opened else { return }
            opened = true
            if forwardedUser == nil { core.activity.connectionsOpened += 1 }
        }
    }
    /// Whether the connection reached connection.open, and why it ended, for its log line.
    private var opened = false
    private var closeReason: String?
    var context: ChannelHandlerContext?
    var connectionID = ""
    var vhost = "/"
    /// The authenticated user; a publish's user-id property must match it.
    var user = ""
    /// What the user may do in the vhost, checked on the node that serves the channels.
    var permissions = PermissionChecker(user: "", vhost: "/")
    var frameSizeMax: UInt32
    var channelMax: UInt16
    var channels: [UInt16: ChannelSession] = [:]
    private var flushScheduled = false
    private var heartbeatTask: RepeatedTask?
    private var handshakeDeadline: Scheduled<Void>?
    /// Counted in the core's `clientSockets` (a client's socket, not a forwarded session).
    private var countedSocket = false
    private var heartbeatSeconds: UInt16 = 0
    private var readSinceLastBeat = true
    private var missedBeats = 0
    var publishesInFlight = 0
    /// The socket is not read: too many publishes await their confirms (flow control, as
    /// RabbitMQ's credit flow: no notice to the client).
    var pausedForPublishes = false
    var heldMethods = 0
    /// Channels whose close crossed the client's: the close-ok the client may still send
    /// for ours is not an error.
    var crossedCloses: Set<UInt16> = []
    var pausedForHeldMethods = false
    var releasingHeld = false
    /// A resource alarm is set on this node: the reason, while it lasts.
    var alarm: String?
    /// The alarm blocks this connection (it published): its socket is not read.
    var blockedByAlarm = false
    /// The connection published at least once: an alarm blocks it at once.
    var hasPublished = false
    /// Frames read while blocked (what one read already in flight brought), taken once the
    /// block lifts: nothing a blocked connection sends is acted on.
    var heldFrames: [Frame] = []
    /// Direct reply bytes written since the socket last took writes, and whether replies
    /// are dropped for the bound on them (logged once each time).
    var directReplyBytesWhileUnwritable = 0
    var droppingDirectReplies = false

    init(core: NodeCore, settings: Settings, peerIsLoopback: Bool, forwardedUser: String? = nil) {
        self.core = core
        self.settings = settings
        self.peerIsLoopback = peerIsLoopback
        self.forwardedUser = forwardedUser
        frameSizeMax = settings.frameSizeMax
        channelMax = settings.channelMax
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        acceptedAt = core.now
        alarm = core.watchAlarms(self)
        if forwardedUser == nil {
            countedSocket = true
            core.clientSockets += 1
        }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let timeout = settings.handshakeTimeout
        handshakeDeadline = context.eventLoop.scheduleTask(in: timeout) {
            let handler = bound.value
            guard handler.phase != .open, handler.phase != .closing, let context = handler.context else { return }
            handler.core.logger.info("closing a connection that did not open within the handshake timeout", metadata: [
                "peer": "\(context.remoteAddress.map { "\($0)" } ?? "unknown")", "timeout": "\(timeout)",
            ])
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        teardown()
        // The node a client reached logs its connection's end, as it logged its login.
        if opened, forwardedUser == nil {
            core.activity.connectionsClosed += 1
            core.logger.info("closed an AMQP connection", metadata: [
                "user": "\(user)", "vhost": "\(vhost)", "peer": "\(context.remoteAddress.map { "\($0)" } ?? "unknown")",
                "reason": "\(closeReason ?? "the socket closed without connection.close")",
            ])
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let amqpError = error as? AMQPError {
            // A framing or syntax error: the connection (or the channel) closes with its code.
            fail(amqpError)
        } else {
            context.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        readSinceLastBeat = true
        switch unwrapInboundIn(data) {
        case .protocolHeader(let header):
            guard header.isAMQP091 else {
                // The spec's answer to a wrong header: the right one, then close.
                context.writeAndFlush(wrapOutboundOut(.protocolHeader(.amqp091)), promise: nil)
                context.close(promise: nil)
                return
            }
            sendStart()
        case .frame(let frame):
            if blockedByAlarm {
                heldFrames.append(frame)
                return
            }
            take(frame)
        }
    }

    private func take(_ frame: Frame) {
        do {
            try handle(frame)
        } catch let error as AMQPError {
            fail(error)
        } catch let refusal as Refusal {
            failConnection(refusal)
        } catch {
            failConnection(Refusal(code: .internalError, text: "INTERNAL_ERROR - \(error)", method: nil, closesConnection: true))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            directReplyBytesWhileUnwritable = 0
            droppingDirectReplies = false
        }
        relay?.clientWritabilityChanged(context.channel.isWritable)
        if relay == nil { core.connectionWritabilityChanged(connectionID, writable: context.channel.isWritable) }
        context.fireChannelWritabilityChanged()
    }

    /// Starts or stops reading the client's socket.
    func setReading(_ reading: Bool) {
        context?.channel.setOption(ChannelOptions.autoRead, value: reading).whenFailure { _ in }
    }

    /// Reads the socket unless publishes in flight or an alarm say not to.
    func updateReading() {
        setReading(!pausedForPublishes && !pausedForHeldMethods && !blockedByAlarm)
    }

    /// Whether the client said it takes `connection.blocked` (its capabilities).
    var takesBlockedNotices: Bool { announcesCapability("connection.blocked") }

    /// Whether the client said it takes `consumer_cancel_notify` (its capabilities).
    var takesConsumerCancelNotices: Bool { announcesCapability("consumer_cancel_notify") }

    private func announcesCapability(_ name: String) -> Bool {
        guard case .table(let capabilities)? = clientProperties["capabilities"], case .bool(true)? = capabilities[name] else {
            return false
        }
        return true
    }

    // MARK: Resource alarms

    /// The node's alarms changed: a connection that publishes is blocked while one is set,
    /// and told so if it takes the notice; one that has not published yet is blocked once it
    /// does. Cleared, every blocked connection is read again.
    func resourceAlarm(_ reason: String?) {
        alarm = reason
        if reason != nil {
            if hasPublished { blockForAlarm() }
        } else if blockedByAlarm {
            blockedByAlarm = false
            if takesBlockedNotices { send(.method(channel: 0, .connection(.unblocked)), flush: true) }
            let held = heldFrames
            heldFrames = []
            for frame in held where phase != .closing || isClose(frame) { take(frame) }
            updateReading()
        }
    }

    /// After a publish: blocked now if an alarm is set.
    func publishedDuringAlarmCheck() {
        hasPublished = true
        if alarm != nil, !blockedByAlarm { blockForAlarm() }
    }

    func blockForAlarm() {
        guard !blockedByAlarm, let alarm else { return }
        blockedByAlarm = true
        updateReading()
        if takesBlockedNotices { send(.method(channel: 0, .connection(.blocked(.init(reason: alarm)))), flush: true) }
    }
}

/// Why a method was refused: the reply code and text to close with, the method that failed,
/// and whether the whole connection closes or only the channel.
struct Refusal: Error, Equatable {
    var code: AMQP.ReplyCode
    var text: String
    var method: MethodID?
    var closesConnection: Bool

    init(code: AMQP.ReplyCode, text: String, method: MethodID?, closesConnection: Bool) {
        self.code = code
        self.text = ShortString.replyText(text)
        self.method = method
        self.closesConnection = closesConnection
    }

    init(_ error: AMQPError) {
        self.init(code: error.replyCode, text: error.replyText, method: MethodID(classID: error.classID, methodID: error.methodID),
                  closesConnection: error.isHardError)
    }

    init(_ error: BrokerError, method: MethodID?) {
        self.init(code: AMQP.ReplyCode(rawValue: error.code.rawValue), text: error.replyText, method: method,
                  closesConnection: error.code.isConnectionError)
    }

    static func commandInvalid(_ text: String, method: MethodID?) -> Refusal {
        Refusal(code: .commandInvalid, text: "COMMAND_INVALID - " + text, method: method, closesConnection: true)
    }
}

/// The state of one open channel.
struct ChannelSession {
    var assembler: ContentAssembler
    /// channel.close sent: everything but close and close-ok is dropped until close-ok.
    var closing = false
    var confirmMode = false
    var nextPublishTag: UInt64 = 1
    /// Publish tags not yet confirmed, and confirms gathered in this turn of the loop.
    var unconfirmed: Set<UInt64> = []
    var confirmsDue: [(tag: UInt64, ack: Bool)] = []
    var transactional = false
    var transaction = Transaction()
    /// The queue last declared on this channel: an empty queue name means this one.
    var lastQueue = ""
    /// Publishes handed to the core, and metadata commands and requeues proposed, not yet
    /// answered; and the methods held until they are (see `AMQPConnectionHandler.order`).
    var publishesUnanswered = 0
    var commandsUnanswered = 0
    var held = Deque<AssembledMethod>()

    struct Transaction {
        var publishes: [(message: Broker.Message, mandatory: Bool)] = []
        var publishedBytes = 0
        var acknowledgements: [(tag: UInt64, multiple: Bool, kind: Acknowledgement)] = []
        /// tx.commit waits for this many publishes to be stored.
        var publishesAwaited = 0
        var commitPending = false
    }

    enum Acknowledgement {
        case ack
        case nack(requeue: Bool)
        /// A reject's requeue counts as a failed delivery (delayed retry tells them apart).
        case reject(requeue: Bool)
    }

    init(number: UInt16, messageSizeMax: UInt64) {
        assembler = ContentAssembler(channel: number, messageSizeMax: messageSizeMax)
    }

    /// The confirms gathered in this turn, in tag order, no longer unconfirmed; and the
    /// oldest tag still unconfirmed after them (`.max` when none is).
    mutating func takeConfirmsDue() -> (due: [(tag: UInt64, ack: Bool)], oldestOutstanding: UInt64) {
        let due = confirmsDue.sorted { $0.tag < $1.tag }
        confirmsDue = []
        for confirm in due { unconfirmed.remove(confirm.tag) }
        return (due, unconfirmed.min() ?? .max)
    }
}

extension AMQPConnectionHandler {
    // MARK: Handshake

    private func sendStart() {
        phase = .awaitingStartOk
        let capabilities: FieldTable = [
            "publisher_confirms": .bool(true), "exchange_exchange_bindings": .bool(true), "basic.nack": .bool(true),
            "consumer_cancel_notify": .bool(true), "connection.blocked": .bool(true), "authentication_failure_close": .bool(true),
            "per_consumer_qos": .bool(true), "consumer_priorities": .bool(true), "direct_reply_to": .bool(true),
        ]
        let properties: FieldTable = [
            "product": .longString(Array("Berth".utf8)), "version": .longString(Array(BerthVersion.current.utf8)),
            "platform": .longString(Array("Swift".utf8)), "capabilities": .table(capabilities),
        ]
        let start = Method.Connection.Start(
            versionMajor: 0, versionMinor: 9, serverProperties: properties,
            mechanisms: Array((forwardedUser == nil ? "PLAIN AMQPLAIN" : "EXTERNAL").utf8),
            locales: Array("en_US".utf8))
        send(.method(channel: 0, .connection(.start(start))), flush: true)
    }

    private func handleStartOk(_ startOk: Method.Connection.StartOk) throws(Refusal) {
        clientProperties = startOk.clientProperties
        authMechanism = startOk.mechanism
        if let forwardedUser {
            user = forwardedUser
        } else {
            try authenticate(startOk)
        }
        phase = .awaitingTuneOk
        let tune = Method.Connection.Tune(channelMax: settings.channelMax, frameMax: settings.frameSizeMax, heartbeat: settings.heartbeatSeconds)
        send(.method(channel: 0, .connection(.tune(tune))), flush: true)
    }

    private func authenticate(_ startOk: Method.Connection.StartOk) throws(Refusal) {
        guard let (name, password) = Credentials.parse(mechanism: startOk.mechanism, response: startOk.response) else {
            throw Refusal(code: .accessRefused, text: "ACCESS_REFUSED - mechanism \(startOk.mechanism) with an undecodable response",
                          method: nil, closesConnection: true)
        }
        let peer = context?.remoteAddress.map { "\($0)" } ?? "unknown"
        guard AccessControl.authenticate(core.state, name: name, password: password, fromLoopback: peerIsLoopback) != nil else {
            core.logger.warning("refused an AMQP login", metadata: ["user": "\(name)", "mechanism": "\(startOk.mechanism)", "peer": "\(peer)"])
            throw Refusal(code: .accessRefused, text: "ACCESS_REFUSED - Login was refused using authentication mechanism \(startOk.mechanism). For details see the broker logfile.",
                          method: nil, closesConnection: true)
        }
        core.logger.info("accepted an AMQP login", metadata: ["user": "\(name)", "peer": "\(peer)"])
        user = name
    }

    private func handleTuneOk(_ tuneOk: Method.Connection.TuneOk) throws(Refusal) {
        // Zero means "no limit" from the client: ours stands.
        channelMax = tuneOk.channelMax == 0 ? settings.channelMax : min(tuneOk.channelMax, settings.channelMax)
        let frameMax = tuneOk.frameMax == 0 ? settings.frameSizeMax : tuneOk.frameMax
        guard frameMax >= Frame.sizeMin else {
            throw Refusal(code: .notAllowed, text: "NOT_ALLOWED - frame_max=\(frameMax) < \(Frame.sizeMin) min size",
                          method: nil, closesConnection: true)
        }
        frameSizeMax = min(frameMax, settings.frameSizeMax)
        heartbeatSeconds = tuneOk.heartbeat
        phase = .awaitingOpen
        startHeartbeats()
    }

    /// The vhost's and the user's max-connections, with RabbitMQ's texts; checked where
    /// every connection of the cluster is counted, on the leader.
    private func checkConnectionLimits(vhost: String) throws(Refusal) {
        if let max = core.state.limit(.maxConnections, of: .vhost(vhost)), core.openConnections(vhost: vhost) >= max {
            throw Refusal(code: .notAllowed, text: "NOT_ALLOWED - access to vhost '\(vhost)' refused for user '\(user)': connection limit (\(max)) is reached",
                          method: nil, closesConnection: true)
        }
        if let max = core.state.limit(.maxConnections, of: .user(user)), core.openConnections(user: user) >= max {
            throw Refusal(code: .notAllowed, text: "NOT_ALLOWED - Connection refused for user '\(user)'. User connection limit (\(max)) is reached",
                          method: nil, closesConnection: true)
        }
    }

    var openChannels: Int { channels.count }

    var managementView: ClientConnectionView? {
        guard phase == .open, relay == nil, let context else { return nil }
        var view = ClientConnectionView(
            connection: connectionID, node: core.group.core.id, peer: ForwardedClient.hostPort(context.remoteAddress),
            local: ForwardedClient.hostPort(context.localAddress), tls: isTLS, user: user, vhost: vhost, authMechanism: authMechanism,
            channelMax: channelMax, frameMax: frameSizeMax, heartbeatSeconds: heartbeatSeconds, connectedAt: acceptedAt,
            clientProperties: ForwardedClient.clientsOwn(clientProperties),
            channels: channels.keys.sorted().map { number in
                let session = channels[number]!
                return .init(number: number, confirm: session.confirmMode, transactional: session.transactional, unconfirmed: session.unconfirmed.count)
            })
        if forwardedUser != nil, let origin = ForwardedClient.origin(clientProperties) {
            (view.node, view.peer, view.local, view.tls, view.authMechanism) = origin
        }
        return view
    }

    var socketName: String? {
        guard phase == .open, forwardedUser == nil, let context else { return nil }
        return ClientConnectionView.name(peer: ForwardedClient.hostPort(context.remoteAddress), local: ForwardedClient.hostPort(context.localAddress))
    }

    private var isTLS: Bool {
        (try? context?.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)) != nil
    }

    private func handleOpen(_ open: Method.Connection.Open) throws(Refusal) {
        guard !countedSocket || core.clientSockets <= settings.connectionsMax else {
            throw Refusal(code: .notAllowed, text: "NOT_ALLOWED - connection refused: node connection limit (\(settings.connectionsMax)) is reached",
                          method: nil, closesConnection: true)
        }
        guard core.state.vhostNames.contains(open.virtualHost) else {
            throw Refusal(code: .notAllowed, text: "NOT_ALLOWED - vhost \(open.virtualHost) not found", method: nil, closesConnection: true)
        }
        guard AccessControl.mayOpen(core.state, vhost: open.virtualHost, user: user) else {
            core.logger.warning("refused an AMQP connection to a vhost", metadata: ["user": "\(user)", "vhost": "\(open.virtualHost)"])
            throw Refusal(code: .notAllowed, text: "NOT_ALLOWED - " + AccessControl.vhostRefusal(vhost: open.virtualHost, user: user),
                          method: nil, closesConnection: true)
        }
        if core.isLeading { try checkConnectionLimits(vhost: open.virtualHost) }
        vhost = open.virtualHost
        permissions = PermissionChecker(user: user, vhost: vhost)
        guard core.isLeading else {
            // A forwarded session must reach the leader itself: relaying it again could loop.
            guard forwardedUser == nil, core.canRelayToLeader, let context else {
                let leader = core.leader.map { "node \($0) leads" } ?? "no leader is elected yet"
                throw Refusal(code: .connectionForced, text: "CONNECTION_FORCED - this node does not lead the cluster; \(leader)",
                              method: nil, closesConnection: true)
            }
            var relaySettings = LeaderRelay.Settings()
            relaySettings.messageSizeMax = settings.messageSizeMax
            let forwarded = ForwardedClient.properties(
                clientProperties, node: core.group.core.id, peer: context.remoteAddress, local: context.localAddress, tls: isTLS, mechanism: authMechanism)
            let relay = LeaderRelay(client: self, core: core, loop: context.eventLoop, user: user, vhost: vhost, clientProperties: forwarded,
                                    frameSizeMax: frameSizeMax, channelMax: channelMax, settings: relaySettings)
            self.relay = relay
            phase = .open
            // open-ok once the relay's first session to the leader is open (the relay sends it):
            // what the leader refuses at open (a vhost's or user's connection limit), the
            // client hears at open, as from the leader itself.
            relay.start()
            return
        }
        connectionID = core.register(self)
        phase = .open
        send(.method(channel: 0, .connection(.openOk(.init()))), flush: true)
    }

    private func startHeartbeats() {
        guard heartbeatSeconds > 0, let context else { return }
        let interval = TimeAmount.seconds(Int64(heartbeatSeconds))
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        heartbeatTask = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            bound.value.heartbeat()
        }
    }

    private func isClose(_ frame: Frame) -> Bool {
        if case .method(_, .connection) = frame { return true }
        return false
    }

    /// Sends a heartbeat, and gives up on a peer silent for two intervals (the spec's rule);
    /// a connection this node does not read is not silent.
    private func heartbeat() {
        if readSinceLastBeat || blockedByAlarm || pausedForPublishes || pausedForHeldMethods {
            missedBeats = 0
        } else {
            missedBeats += 1
        }
        readSinceLastBeat = false
        if missedBeats >= 2 {
            context?.close(promise: nil)
            return
        }
        send(.heartbeat, flush: true)
    }

    // MARK: Frames

    private func handle(_ frame: Frame) throws {
        if case .heartbeat = frame { return }
        let channel = frame.channel
        if channel == 0 {
            guard case .method(_, .connection(let method)) = frame else {
                throw Refusal.commandInvalid("unexpected frame on channel 0", method: nil)
            }
            try handleConnectionMethod(method)
            return
        }
        guard phase == .open else {
            if phase == .closing { return }
            throw Refusal.commandInvalid("channel \(channel) used before the connection is open", method: nil)
        }
        if let relay {
            try relay.fromClient(frame)
            return
        }
        // The session is changed where it lies: a copy would share the assembler's buffers
        // and make every frame copy them.
        guard let closing = channels[channel]?.closing else {
            if case .method(_, .channel(.open)) = frame {
                if let max = core.state.limit(.maxChannels, of: .user(user)), core.openChannels(user: user) >= max {
                    throw Refusal(code: .notAllowed, text: "NOT_ALLOWED - number of channels opened for user '\(user)' has reached the maximum allowed user limit of (\(max))",
                                  method: Method.channel(.open(.init())).id, closesConnection: true)
                }
                crossedCloses.remove(channel)
                channels[channel] = ChannelSession(number: channel, messageSizeMax: settings.messageSizeMax)
                send(.method(channel: channel, .channel(.openOk(.init()))), flush: false)
                return
            }
            if case .method(_, .channel(.closeOk)) = frame, crossedCloses.remove(channel) != nil { return }
            throw Refusal(code: .channelError, text: "CHANNEL_ERROR - expected 'channel.open'", method: nil, closesConnection: true)
        }
        if closing {
            switch frame {
            case .method(_, .channel(.closeOk)):
                channels[channel] = nil
            case .method(_, .channel(.close)):
                // Both sides closed at once: each answers the other's close, as RabbitMQ
                // does; the close-ok still owed for ours may follow.
                channels[channel] = nil
                crossedCloses.insert(channel)
                send(.method(channel: channel, .channel(.closeOk)), flush: true)
            default:
                break
            }
            return
        }
        let assembled: AssembledMethod?
        do {
            assembled = try channels[channel]!.assembler.receive(frame)
        } catch {
            guard !error.isHardError else { throw error }
            // A message over the size limit (406): the channel closes, the connection stays.
            closeChannel(channel, Refusal(error))
            return
        }
        guard let assembled else { return }
        try order(channel, assembled)
    }

    private func handleConnectionMethod(_ method: Method.Connection) throws {
        switch (phase, method) {
        case (.awaitingStartOk, .startOk(let startOk)):
            try handleStartOk(startOk)
        case (.awaitingTuneOk, .tuneOk(let tuneOk)):
            try handleTuneOk(tuneOk)
        case (.awaitingOpen, .open(let open)):
            try handleOpen(open)
        case (_, .close(let close)):
            if closeReason == nil { closeReason = "the client closed it (\(close.replyCode.rawValue) \(close.replyText))" }
            // Close-ok once what the connection held is given back (its unacknowledged
            // deliveries requeued, through the leader when relayed), as RabbitMQ's.
            phase = .closing
            let closeOk = { [weak self] in
                guard let self else { return }
                self.send(.method(channel: 0, .connection(.closeOk)), flush: true)
                self.context?.close(promise: nil)
            }
            if let relay {
                relay.closeUpstream(then: closeOk)
            } else if !connectionID.isEmpty {
                teardown()
                core.whenProposalsApplied(closeOk)
            } else {
                closeOk()
            }
        case (.closing, .closeOk):
            context?.close(promise: nil)
        case (.open, .updateSecret):
            send(.method(channel: 0, .connection(.updateSecretOk)), flush: true)
        case (.closing, _):
            break
        case (_, .start), (_, .startOk), (_, .secure), (_, .secureOk), (_, .tune), (_, .tuneOk), (_, .open), (_, .openOk),
            (_, .closeOk), (_, .blocked), (_, .unblocked), (_, .updateSecret), (_, .updateSecretOk):
            throw Refusal.commandInvalid("unexpected \(Method.connection(method).name)", method: Method.connection(method).id)
        }
    }

    // MARK: Errors and closing

    private func fail(_ error: AMQPError) {
        failConnection(Refusal(error))
    }

    func failConnection(_ refusal: Refusal) {
        guard phase != .closing else { return }
        phase = .closing
        closeReason = refusal.text
        let close = Method.Connection.Close(replyCode: refusal.code, replyText: refusal.text,
                                            classID: refusal.method?.classID ?? 0, methodID: refusal.method?.methodID ?? 0)
        send(.method(channel: 0, .connection(.close(close))), flush: true)
        // The peer answers close-ok, or we give up on it shortly.
        if let context {
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: .seconds(3)) { bound.value.close(promise: nil) }
        }
        teardown()
    }

    func closeChannel(_ channel: UInt16, _ refusal: Refusal) {
        guard var session = channels[channel], !session.closing else { return }
        session.closing = true
        session.assembler.reset()
        channels[channel] = session
        dropHeld(channel)
        core.closeChannel(ChannelID(connection: connectionID, number: channel))
        let close = Method.Channel.Close(replyCode: refusal.code, replyText: refusal.text,
                                         classID: refusal.method?.classID ?? 0, methodID: refusal.method?.methodID ?? 0)
        // Sent once the channel's unacknowledged deliveries are back in their queues, as
        // RabbitMQ's close comes after it requeued them; not if the client's own close
        // crossed it meanwhile (answered with close-ok, the channel is gone).
        core.whenProposalsApplied { [weak self] in
            guard let self, self.channels[channel]?.closing == true else { return }
            self.send(.method(channel: channel, .channel(.close(close))), flush: true)
        }
    }

    /// Gives back what the connection held: its deliveries return, its exclusive queues go.
    private func teardown() {
        handshakeDeadline?.cancel()
        handshakeDeadline = nil
        if countedSocket {
            countedSocket = false
            core.clientSockets -= 1
        }
        core.unwatchAlarms(self)
        heartbeatTask?.cancel()
        heartbeatTask = nil
        relay?.close()
        relay = nil
        guard !connectionID.isEmpty else { return }
        core.unregister(connectionID)
        connectionID = ""
        channels = [:]
    }

    // MARK: Output

    func send(_ frame: Frame, flush: Bool) {
        guard let context else { return }
        context.write(wrapOutboundOut(.frame(frame)), promise: nil)
        if flush { context.flush() } else { scheduleFlush() }
    }

    /// Sends frames that belong together (a relayed delivery) as one buffer.
    func send(_ frames: [Frame], flush: Bool) {
        guard let context else { return }
        do {
            context.write(wrapOutboundOut(.encoded(try FrameWriter.encoded(frames, allocator: context.channel.allocator))), promise: nil)
        } catch {
            return errorCaught(context: context, error: error)
        }
        if flush { context.flush() } else { scheduleFlush() }
    }

    func scheduleFlush() {
        guard !flushScheduled, let context else { return }
        flushScheduled = true
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute { bound.value.flushNow() }
    }

    private func flushNow() {
        flushScheduled = false
        for number in channels.keys.sorted() { sendConfirms(number) }
        context?.flush()
    }

    /// Room for a message's method and header frames beside its body (the buffer grows when
    /// long names or many properties need more).
    private static let contentFramingBytes = 512

    func writeContent(channel: UInt16, method: ContentMethod, properties: Broker.BasicProperties, body: [UInt8]) {
        guard let context else { return }
        // The whole message as one buffer, its body copied once. Properties that cannot be
        // encoded fail the connection as a frame the encoder cannot encode does, and nothing
        // of the message is sent.
        var content = context.channel.allocator.buffer(capacity: body.count + Self.contentFramingBytes)
        do {
            try FrameWriter.writeContent(channel: channel, method: method, properties: AMQP.BasicProperties(properties), body: body,
                                         frameSizeMax: frameSizeMax, into: &content)
        } catch {
            return errorCaught(context: context, error: error)
        }
        context.write(wrapOutboundOut(.encoded(content)), promise: nil)
        scheduleFlush()
    }
}
