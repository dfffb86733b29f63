import Broker
import Gossip
import Log
import Logging
import NIOCore
import Raft

/// Everything a node decides, on one event loop: the Raft group with the broker state, the
/// dispatcher while leading, and the bookkeeping that turns applied effects into replies,
/// confirms and deliveries for the connections.
///
/// Publishes that arrive while the loop is busy are batched into one `enqueue` command, and
/// commands proposed meanwhile ride on one Ready: one log append and one fdatasync for all.
final class NodeCore {
    let loop: any EventLoop
    let logger: Logger
    /// Drives the Raft group that holds the broker state.
    let driver: GroupDriver
    var group: RaftGroup<BrokerMachine> { driver.group }
    var snapshots: SnapshotShell { driver.snapshots }
    /// Raises and clears the memory and disk alarms.
    let resources: ResourceMonitor
    /// What this node counts, and how fast, for its Prometheus endpoint and the
    /// management API's `message_stats`.
    var activity = ActivityCounts()
    var activityRates = RateSampler<ActivityCounts>()
    /// Each queue's, on the leader (a new leader starts from nothing, as a restarted
    /// RabbitMQ node does).
    var queueActivity: [QueueName: QueueActivity] = [:]
    var queueActivityRates = RateSampler<[QueueName: QueueActivity]>()
    /// Its histograms of the log's syncs.
    let metrics: NodeMetrics
    /// What blocks publishers here: this node's alarms and every live member's (see
    /// NodeCore+Alarms).
    var blockingAlarms = ResourceAlarms()
    /// Connections told of alarms (every client connection, served here or relayed).
    var alarmWatchers: [ObjectIdentifier: any CoreClient] = [:]
    let clock: () -> Int64
    private let acknowledgementTimeoutMs: Int64?
    private(set) var dispatcher: Dispatcher?
    private(set) var clients: [String: any CoreClient] = [:]
    private var nextConnectionNumber: UInt64 = 0
    /// Client sockets open on this node, whether served here or relayed to the leader
    /// (not the sessions other nodes forward here): what `connectionsMax` bounds.
    var clientSockets = 0
    /// Raft messages dropped for naming a group this node does not run.
    private(set) var droppedMessagesOfUnknownGroups = 0
    /// Metadata requests awaiting the entry they were proposed as (index and term).
    private var replyWaiters: [LogIndex: (term: Term, reply: (Result<BrokerReply, BrokerError>) -> Void)] = [:]
    /// Peers, when the group has more than one member, and where this node listens for them.
    var transport: PeerTransport?
    /// Succeeds when the node is to stop: with nil when an operator asks (after it left the
    /// cluster) or at `stop()`, with the reason when it cannot go on (its data was lost).
    let stopRequest: EventLoopPromise<String?>
    var gossip: GossipShell?
    var peerListenAddress: PeerAddress?
    /// A port this node serves, with RabbitMQ's name for its protocol (the health checks'
    /// port and protocol listeners).
    struct Listener: Sendable {
        var protocolName: String
        var host: String
        var port: Int
    }
    /// The client and HTTP listeners, set once they listen.
    var listeners: [Listener] = []
    /// Every port this node serves, the peer port ("clustering") included.
    var allListeners: [Listener] {
        listeners + (peerListenAddress.map { [Listener(protocolName: "clustering", host: $0.host, port: $0.port)] } ?? [])
    }
    static let groupID: UInt64 = 1
    private var publishBatch: [Publish] = []
    private var proposalsPending: [BrokerCommand] = []
    /// Callers of `whenProposalsApplied`: those waiting for the next flush to know the index
    /// they wait for, and those waiting for an index to be applied.
    private var barriersAwaitingFlush: [() -> Void] = []
    private var barriers: [(index: LogIndex, body: () -> Void)] = []
    /// A requeue waits to be proposed, or is proposed through this index: until it is
    /// applied, a `basic.get` from any channel waits for it (`requeuesInFlight`).
    private var requeueAwaitingFlush = false
    private var requeuesProposedThrough: LogIndex = 0
    private var flushScheduled = false
    /// Set by `stop()`: the log is closed, and work already queued on the loop (a flush, a
    /// peer's message) must not reach it.
    private(set) var stopped = false
    private var timers: [RepeatedTask] = []
    /// Client connections served through the leader, told when this node learns of a new one.
    private var leaderWatchers: [ObjectIdentifier: LeaderRelay] = [:]
    private var lastKnownLeader: NodeID?
    private var lastAppliedMembership: Membership?
    /// The cluster as gossip sees it: each member's latest record, this node's included.
    var gossipMembers: [NodeID: SWIM.Member] = [:]
    /// The leader's latest firing of delayed messages, in flight until applied (NodeCore+Delayed).
    var delayedFiringProposed: (term: Term, index: LogIndex)?
    /// The leader's wake-up to fire the next delayed message.
    var delayedWakeUp = EarliestWakeUp()
    /// The leader's wake-up for the next held-back message (NodeCore+DelayedRetry).
    var heldBackWakeUp = EarliestWakeUp()
    /// Nodes an operator removed: not taken back as learners while this node leads.
    var removedNodes: Set<NodeID> = []
    /// Members that asked this leader to remove them (`leaveRequested`), until they are gone.
    var leaveRequests: Set<NodeID> = []
    /// What this node asked of the leader or another member, by request number
    /// (NodeCore+LeaderRequests).
    var askedOfPeers: [UInt64: AskedOfPeer] = [:]
    var nextPeerRequest: UInt64 = 0
    private var ticksSinceReconcile = 0

    static let tickIntervalMs: Int64 = 10
    /// The random part of a direct reply address: 144 bits, as unguessable as a UUID and more.
    static let replyKeyBytes = 18
    /// The largest log entry of a node that takes bodies of up to `messageSizeMax`: the body
    /// with room for its command around it (names, properties, the publisher's token).
    static func entryBytesMax(messageSizeMax: Int) -> Int { messageSizeMax + (1 << 20) }
    /// Publishes go into one enqueue entry until it holds this many body bytes: big enough
    /// to amortise the append, small enough that one entry never nears `entryBytesMax`.
    static let enqueueBatchBytesTarget = 1 << 20
    static let sweepIntervalMs: Int64 = 1_000
    /// The ids one coalesced `settle` carries (a turn's acks of a queue): at most about
    /// 128 KiB, far within the smallest entry bound a node allows.
    static let coalescedSettlementIDsMax = 16_384
    /// How often the leader compares the Raft membership with what gossip sees.
    static let reconcileIntervalTicks = 10

    /// `latestSnapshot`: what storage recovered, with `group.machine` as restored from it.
    init(loop: any EventLoop, group: RaftGroup<BrokerMachine>, persister: Persister, groupDirectory: String,
         latestSnapshot: StoredSnapshot?, clock: @escaping () -> Int64, acknowledgementTimeoutMs: Int64?,
         resourceLimits: ResourceLimits = .defaults, metrics: NodeMetrics = NodeMetrics(), logger: Logger = Logger(label: "berth.node")) {
        self.logger = logger
        self.metrics = metrics
        self.stopRequest = loop.makePromise()
        self.loop = loop
        driver = GroupDriver(
            id: Self.groupID, group: group, persister: persister, groupDirectory: groupDirectory, latestSnapshot: latestSnapshot,
            loop: loop, clock: clock, logger: logger)
        resources = ResourceMonitor(limits: resourceLimits, dataDirectory: groupDirectory, logger: logger)
        self.clock = clock
        self.acknowledgementTimeoutMs = acknowledgementTimeoutMs
        driver.owner = self
    }

    /// Whether a consumer that keeps a delivery past its timeout costs its channel even when
    /// its client takes basic.cancel (RabbitMQ's `consumer_timeout_response = close_channel`).
    var consumerTimeoutClosesChannel = false

    /// The users this node was started with: proposed as the cluster's seed when it leads
    /// and no seed was applied yet (`BrokerCommand.seedUsers`).
    var initialUsers: [User] = []

    var state: BrokerState { group.machine.state }
    /// Serving clients: leading, with the dispatcher set up.
    var isLeading: Bool { dispatcher != nil }
    var leader: NodeID? { group.core.leader }

    /// Applies what the log holds and starts the timers; a group of one elects itself first,
    /// a larger group elects over the network.
    func start() throws {
        // Applying the log first makes the membership known; until the timers start, the
        // recovered log is applied here, on the calling thread.
        try group.process(send: { [transport] in transport?.send([$0], group: Self.groupID) })
        if group.core.membership.voters == [group.core.id] {
            guard try group.campaignAlone() else { throw NodeError.notLeader }
        }
        actOnApplied()
        let bound = NIOLoopBound(self, eventLoop: loop)
        timers.append(loop.scheduleRepeatedTask(initialDelay: .milliseconds(Self.tickIntervalMs), delay: .milliseconds(Self.tickIntervalMs)) { _ in
            bound.value.tick()
        })
        timers.append(loop.scheduleRepeatedTask(initialDelay: .milliseconds(Self.sweepIntervalMs), delay: .milliseconds(Self.sweepIntervalMs)) { _ in
            bound.value.sweep()
        })
        checkResources()
        timers.append(loop.scheduleRepeatedTask(initialDelay: .milliseconds(ResourceMonitor.intervalMs), delay: .milliseconds(ResourceMonitor.intervalMs)) { _ in
            bound.value.checkResources()
        })
        sampleActivity()
        let sampling = TimeAmount.milliseconds(RateSampler<ActivityCounts>.intervalMs)
        timers.append(loop.scheduleRepeatedTask(initialDelay: sampling, delay: sampling) { _ in bound.value.sampleActivity() })
    }

    func stop() throws {
        stopRequest.succeed(nil)
        for client in clients.values { client.closeForced("this node is shutting down") }
        alarmWatchers = [:]
        stopped = true
        abandonLeaderRequests()
        // Nothing more is applied here: whoever waits on an index hears now.
        releaseEveryBarrier()
        timers.forEach { $0.cancel() }
        timers = []
        delayedWakeUp.cancel()
        heldBackWakeUp.cancel()
        transport?.stop()
        try driver.stop()
    }

    // MARK: Clients

    func register(_ client: any CoreClient) -> String {
        nextConnectionNumber += 1
        let id = "\(group.core.id)/\(nextConnectionNumber)"
        clients[id] = client
        return id
    }

    /// Connections and channels open here, counted for the vhosts' and users' limits. The
    /// leader serves every connection of the cluster (a follower relays each of its own),
    /// so on the leader these are the cluster's counts.
    func openConnections(vhost: String) -> Int { clients.values.count { $0.vhost == vhost } }
    func openConnections(user: String) -> Int { clients.values.count { $0.user == user } }
    func openChannels(user: String) -> Int { clients.values.reduce(0) { $0 + ($1.user == user ? $1.openChannels : 0) } }
    var clientCount: Int { clients.count }
    var channelCount: Int { clients.values.reduce(0) { $0 + $1.openChannels } }

    /// The connection is gone: its deliveries come back, its exclusive queues go.
    func unregister(_ connection: String) {
        clients[connection] = nil
        // Taken out, so that it is mutated in place rather than copied.
        guard var dispatcher = self.dispatcher.take() else { return }
        let commands = dispatcher.closeConnection(connection, state: state, now: clock())
        self.dispatcher = dispatcher
        commands.forEach(propose)
        if !state.queuesOwned(by: connection).isEmpty { propose(.deleteQueuesOwned(by: connection)) }
        scheduleFlush()
    }

    // MARK: Requests

    /// Proposes a metadata command; `reply` gets its outcome once it is applied.
    func execute(_ command: BrokerCommand, reply: @escaping (Result<BrokerReply, BrokerError>) -> Void) {
        do throws(BrokerError) {
            try state.validate(command)
        } catch {
            reply(.failure(error))
            return
        }
        do {
            let (term, indexes) = try group.propose([command.encoded()])
            replyWaiters[indexes.lowerBound] = (term, reply)
            scheduleFlush()
        } catch {
            reply(.failure(BrokerError(.internalError, "the node is not taking commands: \(error)")))
        }
    }

    /// Routes a publish and queues it for the next `enqueue` batch. The origin hears back
    /// through `confirm` (tag 0: no confirm wanted, but the answer still counts it out of its
    /// in-flight bound) and, if mandatory and unroutable, `returnUnroutable`. Throws a channel
    /// error (unknown exchange, bad expiration) before anything is stored.
    func publish(vhost: String, message: Broker.Message, mandatory: Bool, origin: (connection: String, channel: UInt16), confirmTag: UInt64) throws(BrokerError) {
        try state.validatePublish(vhost: vhost, message: message)
        if message.exchange.isEmpty, Dispatcher.isReplyAddress(message.routingKey) {
            // A direct reply: to its channel now, confirmed at once, never stored. It counts
            // as routed, mandatory or not, whether its channel is still there or not, as in
            // RabbitMQ 4 (3.10 returns every mandatory reply, delivered or not).
            if let reply = try? withDispatcher({ $0.routeReply(to: message.routingKey) }) {
                clients[reply.channel.connection]?.deliverReply(reply, message: message)
            }
            clients[origin.connection]?.confirm(channel: origin.channel, deliveryTag: confirmTag, ack: true)
            return
        }
        // A publish that an x-delayed-message exchange holds is routed when it fires.
        let delay = state.delay(of: message, vhost: vhost)
        let queues = delay != nil ? [] : try state.route(vhost: vhost, exchange: message.exchange, routingKey: message.routingKey, headers: message.properties.headers)
        guard !queues.isEmpty || delay != nil else {
            // Nothing to store: return it if asked to, and confirm at once, as RabbitMQ does.
            let client = clients[origin.connection]
            if mandatory { activity.unroutableReturned += 1 } else { activity.unroutableDropped += 1 }
            if mandatory { client?.returnUnroutable(channel: origin.channel, message: message) }
            client?.confirm(channel: origin.channel, deliveryTag: confirmTag, ack: true)
            return
        }
        if delay != nil, mandatory {
            // As the plugin does: a held publish routes nowhere yet, so a mandatory one comes
            // back (312 NO_ROUTE), and still fires when its time comes.
            activity.unroutableReturned += 1
            clients[origin.connection]?.returnUnroutable(channel: origin.channel, message: message)
        }
        countRouted(to: queues)
        let token = PublisherToken(connection: origin.connection, channel: origin.channel, deliveryTag: confirmTag)
        publishBatch.append(Publish(message: message, queues: queues, publisherToken: token.encoded(), delay: delay))
        scheduleFlush()
    }

    func consume(_ request: ConsumeRequest) throws(BrokerError) -> String {
        let tag = try withDispatcher { (dispatcher) throws(BrokerError) in try dispatcher.consume(request, state: state, now: clock()) }
        scheduleFlush()
        return tag
    }

    /// basic.consume on the direct reply-to pseudo-queue, with a key no one can guess.
    func consumeReplies(channel: ChannelID, consumerTag: String, noAck: Bool) throws(BrokerError) -> String {
        var generator = SystemRandomNumberGenerator()
        let randomBytes = (0..<Self.replyKeyBytes).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return try withDispatcher { (dispatcher) throws(BrokerError) in
            try dispatcher.consumeReplies(channel: channel, consumerTag: consumerTag, noAck: noAck, randomBytes: randomBytes)
        }
    }

    /// The channel's direct reply address, nil without a reply consumer.
    func replyAddress(of channel: ChannelID) -> String? {
        dispatcher?.replyAddress(of: channel)
    }

    func replyQueueExists(_ queue: String) -> Bool {
        dispatcher?.replyQueueExists(queue) ?? false
    }

    func cancel(channel: ChannelID, consumerTag: String) {
        let commands = (try? withDispatcher { dispatcher in dispatcher.cancel(channel: channel, consumerTag: consumerTag, state: state, now: clock()) }) ?? []
        commands.forEach(propose)
        scheduleFlush()
    }

    func qos(channel: ChannelID, prefetchCount: UInt16, prefetchSize: UInt32, global: Bool) throws(BrokerError) {
        try withDispatcher { (dispatcher) throws(BrokerError) in
            try dispatcher.qos(channel: channel, prefetchCount: prefetchCount, prefetchSize: prefetchSize, global: global)
        }
        scheduleFlush()
    }

    func ack(channel: ChannelID, deliveryTag: UInt64, multiple: Bool) throws(BrokerError) {
        let commands = try withDispatcher { (dispatcher) throws(BrokerError) in try dispatcher.ack(channel: channel, deliveryTag: deliveryTag, multiple: multiple) }
        countAcknowledged(commands)
        commands.forEach(propose)
        scheduleFlush()
    }

    func nack(channel: ChannelID, deliveryTag: UInt64, multiple: Bool, requeue: Bool) throws(BrokerError) {
        let now = clock()
        let commands = try withDispatcher { (dispatcher) throws(BrokerError) in
            try dispatcher.nack(channel: channel, deliveryTag: deliveryTag, multiple: multiple, requeue: requeue, now: now)
        }
        commands.forEach(propose)
        scheduleFlush()
    }

    func reject(channel: ChannelID, deliveryTag: UInt64, requeue: Bool) throws(BrokerError) {
        let now = clock()
        let commands = try withDispatcher { (dispatcher) throws(BrokerError) in
            try dispatcher.reject(channel: channel, deliveryTag: deliveryTag, requeue: requeue, now: now)
        }
        commands.forEach(propose)
        scheduleFlush()
    }

    func recover(channel: ChannelID, requeue: Bool) throws(BrokerError) {
        let now = clock()
        let commands = try withDispatcher { (dispatcher) throws(BrokerError) in try dispatcher.recover(channel: channel, requeue: requeue, now: now) }
        commands.forEach(propose)
        scheduleFlush()
    }

    func get(channel: ChannelID, queue: QueueName, noAck: Bool) throws(BrokerError) -> GetOutcome {
        let now = clock()
        let outcome = try withDispatcher { (dispatcher) throws(BrokerError) in
            try dispatcher.get(channel: channel, queue: queue, noAck: noAck, state: state, now: now)
        }
        outcome.proposals.forEach(propose)
        scheduleFlush()
        return outcome
    }

    /// Runs `body` once every command proposed here so far (a requeue, a settlement) is
    /// applied, or at once when this node stops leading: what a channel did before is then
    /// seen by what it does next.
    func whenProposalsApplied(_ body: @escaping () -> Void) {
        barriersAwaitingFlush.append(body)
        scheduleFlush()
    }

    /// Runs `body` once this node has applied its log through `index`, or after `wait`,
    /// whichever comes first (once).
    func whenApplied(through index: LogIndex, waitingAtMost wait: TimeAmount, _ body: @escaping () -> Void) {
        guard group.core.appliedIndex < index else { return body() }
        let once = RunOnce(body)
        barriers.append((index, once.run))
        let bound = NIOLoopBound(once, eventLoop: loop)
        loop.scheduleTask(in: wait) { bound.value.run() }
    }

    func closeChannel(_ channel: ChannelID) {
        let commands = (try? withDispatcher { dispatcher in dispatcher.closeChannel(channel, state: state, now: clock()) }) ?? []
        commands.forEach(propose)
        scheduleFlush()
    }

    /// The ready count and consumer count of queue.declare-ok, which only the leader knows.
    func counts(of queue: QueueName) -> (messages: Int, consumers: Int) {
        let now = clock()
        return (try? withDispatcher { ($0.readyCount(queue, state: state, now: now), $0.consumerCount(queue)) }) ?? (0, 0)
    }

    /// A connection's socket stopped taking writes, or takes them again: deliveries to it
    /// wait meanwhile.
    func connectionWritabilityChanged(_ connection: String, writable: Bool) {
        guard !connection.isEmpty else { return }
        try? withDispatcher { dispatcher in dispatcher.setWritable(connection: connection, writable) }
        if writable { scheduleFlush() }
    }

    func isInUse(_ queue: QueueName) -> Bool {
        (dispatcher?.consumerCount(queue) ?? 0) > 0
    }

    func messagesOut(of queue: QueueName) -> [MessageID] {
        dispatcher?.outMessageIDs(queue) ?? []
    }

    var now: Int64 { clock() }

    private func withDispatcher<Result>(_ body: (inout Dispatcher) throws(BrokerError) -> Result) throws(BrokerError) -> Result {
        // Taken out, so that it is mutated in place rather than copied.
        guard var current = dispatcher.take() else { throw BrokerError(.internalError, "this node is not serving yet: no leader") }
        defer { dispatcher = current }
        return try body(&current)
    }

    // MARK: Serving through the leader

    func watchLeader(_ relay: LeaderRelay) {
        leaderWatchers[ObjectIdentifier(relay)] = relay
    }

    func unwatchLeader(_ relay: LeaderRelay) {
        leaderWatchers[ObjectIdentifier(relay)] = nil
    }

    /// Whether a client connection that this node cannot serve itself can be relayed.
    var canRelayToLeader: Bool { transport != nil && !stopped }

    /// A client session to `leader` on behalf of `user`, over the peer port.
    func openSession(to leader: NodeID, user: String) -> EventLoopFuture<any Channel> {
        guard let transport, !stopped else { return loop.makeFailedFuture(NodeError.notLeader) }
        return transport.openSession(to: leader, user: user)
    }

    private func announceMembershipIfChanged() {
        let membership = group.core.membership
        guard membership != lastAppliedMembership else { return }
        if lastAppliedMembership != nil {
            logger.info("membership changed", metadata: ["voters": "\(membership.voters.sorted())", "learners": "\(membership.learners.sorted())"])
        }
        lastAppliedMembership = membership
    }

    private func announceLeaderIfChanged() {
        let leader = group.core.leader
        guard leader != lastKnownLeader else { return }
        lastKnownLeader = leader
        if let leader { logger.info("leader known", metadata: ["leader": "\(leader)", "term": "\(group.core.term)"]) }
        for watcher in Array(leaderWatchers.values) { watcher.leaderChanged(to: leader) }
    }

    // MARK: Driving Raft

    private func propose(_ command: BrokerCommand) {
        if case .requeue = command { requeueAwaitingFlush = true }
        proposalsPending.append(command)
    }

    /// Whether a message taken back (nacked, rejected, recovered, or its channel closed) is
    /// not yet ready again. A quorum queue's `basic.get` is ordered after a return proposed
    /// before it, from any channel; here a get waits for it (`whenProposalsApplied`).
    var requeuesInFlight: Bool { requeueAwaitingFlush || group.core.appliedIndex < requeuesProposedThrough }

    /// Everything asked for in this turn of the loop goes out together, once the turn ends.
    func scheduleFlush() {
        guard !flushScheduled, !stopped else { return }
        flushScheduled = true
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.execute { bound.value.flush() }
    }

    private func flush() {
        flushScheduled = false
        let countMax = state.limits.commandMessagesMax
        while !publishBatch.isEmpty {
            var count = 0
            var bytes = 0
            while count < publishBatch.count, count < countMax, count == 0 || bytes + publishBatch[count].message.body.count <= Self.enqueueBatchBytesTarget {
                bytes += publishBatch[count].message.body.count
                count += 1
            }
            let batch = Array(publishBatch.prefix(count))
            publishBatch.removeFirst(count)
            proposeEnqueue(batch)
        }
        // A turn's acks are one entry per queue, not one each: the log, its fsync and every
        // follower's apply take them together.
        let commands = BrokerCommand.coalescingSettlements(proposalsPending, idsMax: Self.coalescedSettlementIDsMax)
        proposalsPending = []
        for command in commands {
            do {
                try group.propose([command.encoded()])
            } catch ProposalError.notLeader {
                // The dispatcher that asked for it went with the office (`stepDown`); the next
                // leader rebuilds its own from the replicated state. Kept, it could never be
                // proposed here, and retrying it would spin the event loop.
            } catch {
                // A dispatcher command must not be lost: its messages stay out until applied.
                proposalsPending.append(command)
            }
        }
        if proposalsPending.isEmpty, requeueAwaitingFlush {
            requeueAwaitingFlush = false
            requeuesProposedThrough = group.core.lastIndex
        }
        if proposalsPending.isEmpty, !barriersAwaitingFlush.isEmpty {
            let index = group.core.lastIndex
            barriers += barriersAwaitingFlush.map { (index, $0) }
            barriersAwaitingFlush = []
        }
        driver.drive()
        if !publishBatch.isEmpty {
            scheduleFlush()
        } else if !proposalsPending.isEmpty, !flushScheduled, !stopped {
            // Refused for now (a transfer, too many uncommitted bytes): try again after a tick
            // rather than at once, so the event loop keeps serving the I/O that lets it pass.
            let bound = NIOLoopBound(self, eventLoop: loop)
            loop.scheduleTask(in: .milliseconds(Self.tickIntervalMs)) { bound.value.scheduleFlush() }
        }
    }

    private func proposeEnqueue(_ batch: [Publish]) {
        do {
            try group.propose([BrokerCommand.enqueue(Enqueue(timestamp: clock(), messages: batch)).encoded()])
        } catch {
            // Refused: every publish of the batch is nacked; a publisher without confirms
            // cannot be told per message, so its channel closes rather than lose one silently.
            for publish in batch {
                confirm(tokenBytes: publish.publisherToken, ack: false)
                if let token = PublisherToken(decoding: publish.publisherToken), token.deliveryTag == 0 {
                    clients[token.connection]?.closeChannel(token.channel, error: BrokerError(.preconditionFailed, "the node could not store a message: \(error)"))
                }
            }
        }
    }

    private func tick() {
        group.tick()
        ticksSinceReconcile += 1
        if ticksSinceReconcile >= Self.reconcileIntervalTicks {
            ticksSinceReconcile = 0
            reconcileMembership()
        }
        driver.drive()
    }

    /// A Raft message from a peer; handled with whatever else arrives in this turn. One for a
    /// group this node does not run is dropped: stepped into another group, it would count
    /// as that group's.
    func receive(_ message: Raft.Message, group id: UInt64) {
        guard id == driver.id else {
            droppedMessagesOfUnknownGroups += 1
            return
        }
        group.step(message)
        if let lost = group.core.lostData { haltForLostData(lost) }
        scheduleFlush()
    }

    /// This node lacks entries it acknowledged: it serves nothing more, and says what to do.
    private func haltForLostData(_ lost: RaftNode.LostData) {
        guard !stopped else { return }
        let id = group.core.id
        let reason = "node \(id) lost data it had acknowledged (\(lost)): its data directory was lost or replaced, and it cannot rejoin as node \(id). Remove it from the cluster (berth remove \(id), through any member), then start it with an empty data directory as a new member (berth node --join ..., without this node id)."
        logger.critical("\(reason)")
        for client in clients.values { client.closeForced("this node lost its data and stops") }
        stopRequest.succeed(reason)
    }

    private func sweep() {
        let now = clock()
        snapshots.sweep(now: now)
        fireDueDelayedMessages()
        // Taken out, so that it is mutated in place rather than copied.
        guard var dispatcher = self.dispatcher.take() else { return }
        var commands = dispatcher.sweep(state: state, now: now)
        // A consumer that kept a delivery too long is cancelled and the delivery goes back;
        // a client that takes no basic.cancel, or a get's delivery, costs the channel (and
        // so does every overdue delivery when the node is set to close channels).
        var cancelled: [ConsumerCancellation] = []
        var closing: [Dispatcher.OverdueChannel] = []
        for overdue in dispatcher.overdueChannels(state: state, now: now, defaultTimeoutMs: acknowledgementTimeoutMs) {
            guard !consumerTimeoutClosesChannel, !overdue.holdsOverdueGet,
                clients[overdue.channel.connection]?.takesConsumerCancelNotices == true
            else {
                closing.append(overdue)
                continue
            }
            let reclaimed = dispatcher.reclaimOverdue(on: overdue.channel, state: state, now: now, defaultTimeoutMs: acknowledgementTimeoutMs)
            cancelled += reclaimed.cancelled
            commands += reclaimed.proposals
        }
        self.dispatcher = dispatcher
        commands.forEach(propose)
        for cancellation in cancelled {
            logger.warning("consumer cancelled: it kept a delivery past its acknowledgement timeout",
                           metadata: ["connection": "\(cancellation.channel.connection)", "channel": "\(cancellation.channel.number)",
                                      "consumer": "\(cancellation.consumerTag)", "queue": "\(cancellation.queue)"])
            clients[cancellation.channel.connection]?.consumerCancelled(channel: cancellation.channel.number, consumerTag: cancellation.consumerTag)
        }
        for channel in closing {
            let error = BrokerError.deliveryAcknowledgementTimedOut(channel: channel.channel.number, timeoutMs: channel.timeoutMs)
            clients[channel.channel.connection]?.closeChannel(channel.channel.number, error: error)
        }
        scheduleFlush()
    }

    /// Acts on what the latest applied entries produced: leader and membership changes,
    /// replies to metadata requests, confirms, and the dispatcher's deliveries.
    private func actOnApplied() {
        announceLeaderIfChanged()
        announceMembershipIfChanged()
        if group.core.role != .leader {
            if dispatcher != nil { stepDown() }
        } else if dispatcher == nil, group.core.term(at: group.core.appliedIndex) == group.core.term {
            // Everything an earlier leader could have delivered is applied by now.
            dispatcher = Dispatcher(state: state, now: clock())
            // Only the leader holds client connections, and a leader's connections close when
            // it steps down: an exclusive queue whose owner is not connected here is orphaned.
            for owner in state.exclusiveOwners.sorted() where clients[owner] == nil {
                propose(.deleteQueuesOwned(by: owner))
            }
            if !state.usersSeeded, !initialUsers.isEmpty { propose(.seedUsers(initialUsers)) }
        }
        let applied = group.withMachine { $0.takeEffects() }
        var observed: [BrokerEffect] = []
        var settlements: [Settlement] = []
        var appliedThrough = group.core.appliedIndex
        for (index, term, effects) in applied {
            appliedThrough = max(appliedThrough, index)
            if let waiter = replyWaiters.removeValue(forKey: index) {
                switch effects.first {
                case _ where waiter.term != term:
                    // Another leader's entry took that index: ours was never committed.
                    settlements.append(.reply(waiter.reply, .failure(BrokerError(.internalError, "leadership changed before the command was committed; retry"))))
                case .reply(let reply)?: settlements.append(.reply(waiter.reply, .success(reply)))
                case .failed(let error)?: settlements.append(.reply(waiter.reply, .failure(error)))
                default:
                    // An enqueue's outcome follows what storing set off (dead-lettered heads).
                    let published = effects.lazy.compactMap { effect -> PublishOutcome? in
                        if case .published(let outcome) = effect { outcome } else { nil }
                    }.first
                    settlements.append(.reply(waiter.reply, published.map { .success(.enqueued($0)) }
                        ?? .failure(BrokerError(.internalError, "the command at \(index) produced no reply"))))
                }
            }
            for effect in effects {
                switch effect {
                case .published(let outcome): settlements.append(.confirm(tokenBytes: outcome.publisherToken, ack: outcome.shouldConfirm))
                case .removed, .deadLettered: if isLeading { countDeadLettered(effect) }
                default: break
                }
            }
            observed += effects
        }
        // The dispatcher sees the batch before any reply goes out: a reply that counts a
        // queue's messages (declare-ok) reads the state after the whole batch, and so must
        // the dispatcher's record of what is out, or a message settled in the batch is
        // subtracted twice.
        var cancellations: [ConsumerCancellation] = []
        if var dispatcher = self.dispatcher.take() {
            cancellations = dispatcher.observe(observed, state: state)
            self.dispatcher = dispatcher
        }
        for settlement in settlements {
            switch settlement {
            case .reply(let reply, let result): reply(result)
            case .confirm(let tokenBytes, let ack): confirm(tokenBytes: tokenBytes, ack: ack)
            }
        }
        // Taken out, so that it is mutated in place rather than copied.
        guard var dispatcher = self.dispatcher.take() else {
            // A follower's waiters (`whenApplied`) are due as its replica applies.
            releaseBarriers(appliedThrough: appliedThrough)
            return
        }
        for cancellation in cancellations {
            clients[cancellation.channel.connection]?.consumerCancelled(channel: cancellation.channel.number, consumerTag: cancellation.consumerTag)
        }
        var more = true
        while more {
            let output = dispatcher.dispatch(state: state, now: clock())
            for (delivery, message) in zip(output.deliveries, messages(of: output.deliveries)) {
                clients[delivery.channel.connection]?.deliver(delivery, message: message)
            }
            if !output.deliveries.isEmpty { countConsumed(output.deliveries, settledBy: output.proposals) }
            output.proposals.forEach(propose)
            more = output.more
        }
        self.dispatcher = dispatcher
        wakeForHeldBackMessages()
        fireDueDelayedMessages()
        if !proposalsPending.isEmpty { scheduleFlush() }
        releaseBarriers(appliedThrough: appliedThrough)
    }

    /// Runs the `whenProposalsApplied` and `whenApplied` callers whose index is applied (all
    /// of them once this node no longer leads: their connections are closing).
    private func releaseBarriers(appliedThrough index: LogIndex) {
        guard !barriers.isEmpty else { return }
        let due = barriers.filter { $0.index <= index }
        barriers.removeAll { $0.index <= index }
        for barrier in due { barrier.body() }
    }

    /// No longer leading: the dispatcher's state is gone with the office, so every client
    /// connection closes and reconnects (to the new leader); waiting metadata requests fail.
    private func stepDown() {
        dispatcher = nil
        requeueAwaitingFlush = false
        // A member still leaving asks the next leader again.
        leaveRequests = []
        let waiters = replyWaiters
        replyWaiters = [:]
        for waiter in waiters.values { waiter.reply(.failure(BrokerError(.internalError, "this node stopped leading; retry"))) }
        for client in clients.values { client.closeForced("this node stopped leading the cluster; reconnect") }
        releaseEveryBarrier()
    }

    /// Runs every `whenProposalsApplied` and `whenApplied` caller, applied or not (the node
    /// stopped leading, or stops).
    private func releaseEveryBarrier() {
        let barriersLeft = barriersAwaitingFlush + barriers.map(\.body)
        barriersAwaitingFlush = []
        barriers = []
        for body in barriersLeft { body() }
    }

    /// The messages of deliveries as their clients see them, read back from the store
    /// together (records that lie close are read at once).
    func messages(of deliveries: [Delivery]) -> [Broker.Message] {
        guard !deliveries.isEmpty else { return [] }
        let extents = deliveries.map { MessageStore.Extent(store: $0.location.store, position: $0.location.position, bytes: Int($0.location.bytes)) }
        let records: [[UInt8]]
        do {
            records = try group.machine.store.read(extents)
        } catch {
            fatalError("the message store lost a record of a message being delivered: \(error)")
        }
        return zip(deliveries, records).map { delivery, record in
            do {
                return delivery.message(from: try MessageRecord.decode(record, limits: state.limits))
            } catch {
                fatalError("the message store holds a damaged record (\(delivery.location)): \(error)")
            }
        }
    }

    /// The message of one delivery (a basic.get), as its client sees it.
    func message(of delivery: Delivery) -> Broker.Message {
        messages(of: [delivery])[0]
    }

    /// What the applied entries settle toward clients, in log order: a command's reply, a
    /// publish's confirm.
    private enum Settlement {
        case reply((Result<BrokerReply, BrokerError>) -> Void, Result<BrokerReply, BrokerError>)
        case confirm(tokenBytes: [UInt8], ack: Bool)
    }

    private func confirm(tokenBytes: [UInt8], ack: Bool) {
        guard let token = PublisherToken(decoding: tokenBytes) else { return }
        clients[token.connection]?.confirm(channel: token.channel, deliveryTag: token.deliveryTag, ack: ack)
    }
}

extension NodeCore: GroupDriverOwner {
    func send(_ messages: [Raft.Message], group: UInt64) { transport?.send(messages, group: group) }
    func groupApplied(_ driver: GroupDriver) { actOnApplied() }
    func groupAwaitsDiskRoom(_ driver: GroupDriver) { checkResources() }
    func groupFetchedEntries(_ driver: GroupDriver) { scheduleFlush() }
}

enum NodeError: Error, CustomStringConvertible {
    case notLeader

    var description: String {
        switch self {
        case .notLeader: return "a group of one did not elect itself"
        }
    }
}

/// Where a publish's confirm goes: carried through the log opaquely in the enqueue command.
/// Layout: channel u16, delivery tag u64 (little-endian), then the connection id in UTF-8.
struct PublisherToken: Equatable {
    var connection: String
    var channel: UInt16
    var deliveryTag: UInt64

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(10 + connection.utf8.count)
        withUnsafeBytes(of: channel.littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: deliveryTag.littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: connection.utf8)
        return bytes
    }

    init(connection: String, channel: UInt16, deliveryTag: UInt64) {
        self.connection = connection
        self.channel = channel
        self.deliveryTag = deliveryTag
    }

    init?(decoding bytes: [UInt8]) {
        guard bytes.count >= 10 else { return nil }
        channel = UInt16(bytes[0]) | UInt16(bytes[1]) << 8
        var tag: UInt64 = 0
        for i in 0..<8 { tag |= UInt64(bytes[2 + i]) << (8 * UInt64(i)) }
        deliveryTag = tag
        connection = String(decoding: bytes[10...], as: UTF8.self)
    }
}

/// A callback that runs the first time it is called, and never again.
private final class RunOnce {
    private var body: (() -> Void)?

    init(_ body: @escaping () -> Void) { self.body = body }

    func run() {
        let body = self.body
        self.body = nil
        body?()
    }
}
