/// One node's SWIM state machine: events in, directives out (see `SWIM` for the model).
///
/// Contract with the shell:
/// - Invoke `onPeriodicTick(now:)` every `Settings.probeIntervalMs`.
/// - Decode every datagram (`SWIM.Message(decoding:)`, dropping what does not decode) and
///   hand it to `onMessage(_:from:now:)`, with the datagram's source address.
/// - Carry out every returned `Directive`, in order: send datagrams, schedule timeouts
///   (then call `onTimeout(sequence:now:)`), report membership events.
/// - Pass `now` from one monotonic clock in milliseconds. A `now` older than one already
///   seen is taken as that one (time never runs backwards here).
///
/// It never reads a clock, starts a task, touches a socket or draws unseeded randomness:
/// the same settings and the same calls give the same directives.
public struct SWIMInstance: Sendable {
    public let settings: SWIM.Settings
    /// This node's own record: alive, or left once `leave(now:)` was called. Its
    /// incarnation rises each time it refutes a suspicion.
    public internal(set) var myself: SWIM.Member
    /// Whether a join reply arrived since `join(seeds:now:)`; true for an instance that
    /// never asked to join (a founder, or one started with its members).
    public internal(set) var isJoined = true
    public internal(set) var counters = SWIM.Counters()

    /// Every other node known, tombstones included; at most `membersMax - 1`.
    var table: [SWIM.NodeID: MemberState] = [:]
    var random: SeededGenerator
    var schedule = ProbeSchedule()
    var gossip = DisseminationBuffer()
    /// This period's probe, until the next period starts.
    var probe: Probe?
    /// This period's untracked pings besides the probe: one to a suspect, one to a dead
    /// member (at most two). Their acks are applied; their silence means nothing.
    var sideProbes: [Probe] = []
    /// The suspect and the dead member pinged last, for going round-robin.
    var lastSuspectPinged: SWIM.NodeID = 0
    var lastDeadPinged: SWIM.NodeID = 0
    var lastDeadProbeAt: SWIM.Millis?
    /// Pings this node sent on behalf of others' ping-requests, by the ping's sequence.
    var relays: [SWIM.SequenceNumber: Relay] = [:]
    var joinSeeds: [SWIM.HostPort] = []
    var joinAttempts = 0
    /// Ticks to let pass before the next join request, and the wait (in periods) after
    /// the latest unanswered round of seeds; it doubles each round, up to the setting.
    var joinTicksToSkip = 0
    var joinRoundWaitPeriods = 1
    var lastSequence: SWIM.SequenceNumber = 0
    var lastNow: SWIM.Millis = 0
    var changes: UInt64 = 0

    struct MemberState: Sendable {
        var member: SWIM.Member
        /// When this instance started suspecting it (its suspicion timer), if suspect.
        var suspectSince: SWIM.Millis?
        /// When the record last changed, in change order: the oldest tombstone is evicted
        /// first when the table is full.
        var changed: UInt64
    }

    struct Probe: Sendable {
        var target: SWIM.NodeID
        var sequence: SWIM.SequenceNumber
        /// The direct ping timed out and ping-requests went out.
        var indirect = false
        var acked = false
    }

    struct Relay: Sendable {
        var origin: SWIM.NodeID
        var originAddress: SWIM.HostPort
        var originSequence: SWIM.SequenceNumber
        var target: SWIM.NodeID
        var sentAt: SWIM.Millis
    }

    /// A node with its own record and, optionally, members it knows from configuration
    /// (added without events, not disseminated). To enter an existing cluster instead, call
    /// `join(seeds:now:)`.
    ///
    /// `incarnation` may start at 0 even after a restart: if peers remember a previous life
    /// at a higher incarnation, this node hears it (in the join reply, or first in a message
    /// from a peer that holds it dead) and moves past it.
    public init(
        settings: SWIM.Settings, id: SWIM.NodeID, addresses: SWIM.Addresses,
        incarnation: SWIM.Incarnation = 0, knownMembers: [SWIM.Member] = []
    ) throws(SWIM.Settings.Invalid) {
        try settings.validate()
        func require(_ condition: Bool, _ why: String) throws(SWIM.Settings.Invalid) {
            if !condition { throw SWIM.Settings.Invalid(description: why) }
        }
        func encodable(_ addresses: SWIM.Addresses) -> Bool {
            addresses.peer.isEncodable && addresses.amqp.isEncodable && addresses.http.isEncodable
        }
        try require(id != 0, "id must not be 0: 0 is never a node on the wire")
        try require(encodable(addresses), "addresses must have hosts of at most \(SWIM.Wire.hostBytesMax) bytes")
        try require(incarnation <= SWIM.incarnationMax, "incarnation must be at most \(SWIM.incarnationMax)")
        try require(knownMembers.count < settings.membersMax, "knownMembers must number fewer than membersMax")
        self.settings = settings
        myself = SWIM.Member(id: id, incarnation: incarnation, status: .alive, addresses: addresses)
        random = SeededGenerator(seed: settings.randomSeed)
        for member in knownMembers {
            try require(member.id != 0 && member.id != id && table[member.id] == nil,
                        "knownMembers must have distinct ids, neither 0 nor this node's")
            try require(encodable(member.addresses) && member.incarnation <= SWIM.incarnationMax,
                        "knownMembers must be encodable: short hosts, incarnation at most \(SWIM.incarnationMax)")
            changes += 1
            table[member.id] = MemberState(member: member, suspectSince: member.status == .suspect ? 0 : nil, changed: changes)
        }
    }

    // MARK: Observers

    /// The record held for `id`, this node's own included.
    public func member(_ id: SWIM.NodeID) -> SWIM.Member? {
        id == myself.id ? myself : table[id]?.member
    }

    /// Every other node known, tombstones included, by id.
    public var members: [SWIM.Member] {
        table.keys.sorted().compactMap { table[$0]?.member }
    }

    /// Alive and suspect members, this node included while it has not left.
    public var liveMemberCount: Int {
        table.values.count(where: { $0.member.status.isLive }) + (hasLeft ? 0 : 1)
    }

    public var hasLeft: Bool { myself.status == .left }

    /// How many times each update is piggybacked at the current size.
    public var disseminationLimit: Int {
        settings.disseminationLimit(liveMembers: max(1, liveMemberCount))
    }

    /// Updates waiting to be piggybacked, by id, with how often each was sent so far.
    public var pendingUpdates: [(member: SWIM.Member, sends: Int)] {
        gossip.entries.keys.sorted().compactMap { id in gossip.entries[id].map { ($0.member, $0.sends) } }
    }

    // MARK: Messages

    /// MUST be invoked when a datagram decodes to a message; `source` is the address it came
    /// from (replies go there). Dispatches to the handler for its kind.
    public mutating func onMessage(_ message: SWIM.Message, from source: SWIM.HostPort, now: SWIM.Millis) -> [SWIM.Directive] {
        let from = message.from
        let sequence = message.sequence
        switch message.body {
        case .ping(let updates):
            return onPing(from: from, source: source, sequence: sequence, updates: updates, now: now)
        case .pingRequest(let target, let targetAddress, let updates):
            return onPingRequest(from: from, source: source, sequence: sequence, target: target,
                                 targetAddress: targetAddress, updates: updates, now: now)
        case .ack(let target, let incarnation, let updates):
            return onAck(from: from, sequence: sequence, target: target, incarnation: incarnation, updates: updates, now: now)
        case .nack(let target, let updates):
            return onNack(from: from, sequence: sequence, target: target, updates: updates, now: now)
        case .join(let joiner):
            return onJoin(from: from, source: source, sequence: sequence, joiner: joiner, now: now)
        case .joinReply(let members):
            return onJoinReply(from: from, sequence: sequence, members: members, now: now)
        case .leave(let member):
            return onLeave(from: from, member: member, now: now)
        }
    }

    // MARK: Helpers

    /// Time never runs backwards inside the instance.
    mutating func advance(to now: SWIM.Millis) -> SWIM.Millis {
        lastNow = max(lastNow, now)
        return lastNow
    }

    mutating func takeSequence() -> SWIM.SequenceNumber {
        lastSequence += 1
        return lastSequence
    }

    /// Ids of the members in `statuses`, sorted so that only the seed decides any choice
    /// made among them.
    func ids(where include: (SWIM.Status) -> Bool) -> [SWIM.NodeID] {
        table.values.filter { include($0.member.status) }.map(\.member.id).sorted()
    }

    /// The updates to piggyback on a message to `recipient`: first, if this node holds the
    /// recipient as suspect, dead or left, that record (Lifeguard's buddy system: the
    /// recipient hears it at once and can refute); then the least-sent, most recent updates
    /// of the buffer, up to `piggybackUpdatesMax` in all.
    mutating func piggyback(for recipient: SWIM.NodeID) -> [SWIM.Member] {
        let limit = disseminationLimit
        var updates: [SWIM.Member] = []
        if let held = table[recipient]?.member, held.status != .alive {
            updates.append(held)
            gossip.noteSent(recipient, limit: limit)
        }
        updates += gossip.take(max: settings.piggybackUpdatesMax - updates.count, limit: limit, skipping: recipient)
        return updates
    }

    func message(_ sequence: SWIM.SequenceNumber, _ body: SWIM.Message.Body) -> SWIM.Message {
        SWIM.Message(from: myself.id, sequence: sequence, body: body)
    }
}
