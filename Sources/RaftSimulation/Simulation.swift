import HeapModule
import Log
import PeerWire
import Raft

/// Simulated time, in milliseconds.
public typealias SimulatedTime = UInt64

public struct SimulationOptions: Sendable {
    public var seed: UInt64
    /// 3 or 5 voters at the start.
    public var nodeCount: Int
    /// Raft groups, each over every node, all of a node's groups on its one disk (as they
    /// share its write-ahead log): one group's sync makes the others' writes durable, a crash
    /// loses theirs together.
    public var groupCount: Int
    /// Events processed in the fault phase; the liveness phase comes on top.
    public var steps: Int
    /// How long the healed cluster has to elect a leader and commit everything pending.
    public var livenessTimeLimit: SimulatedTime = 20_000

    public init(seed: UInt64, nodeCount: Int, steps: Int, groupCount: Int = 1) {
        precondition(nodeCount >= 1, "a cluster needs a node")
        precondition(groupCount >= 1, "a cluster needs a group")
        self.seed = seed
        self.nodeCount = nodeCount
        self.steps = steps
        self.groupCount = groupCount
    }

    /// The 3- and 5-node mix: each seed picks its cluster size from itself.
    public static func defaultNodeCount(seed: UInt64) -> Int {
        var random = SeededGenerator(seed: seed ^ 0x5EED)
        return random.next() % 5 < 3 ? 3 : 5
    }

    /// One group or three: each seed picks from itself.
    public static func defaultGroupCount(seed: UInt64) -> Int {
        var random = SeededGenerator(seed: seed ^ 0x6A0F)
        return random.next() % 2 == 0 ? 1 : 3
    }
}

public struct SimulationResult: Sendable {
    public var options: SimulationOptions
    /// Events processed, both phases.
    public var steps: Int
    public var faults: Int
    public var simulatedTime: SimulatedTime
    public var acknowledged: Int
    public var violations: [Violation]
}

/// A whole Raft cluster in one thread, driven by one seed: simulated time, a network that
/// drops, delays, reorders, duplicates and partitions, disks that lose unsynced writes and
/// tear the last one, crashes and restarts, membership churn, and a client that proposes
/// and reads. With several groups, each runs over every node and a node's groups share its
/// disk, its crashes and its restarts. A checker per group standing apart runs after every
/// step. The same seed replays the same run, event for event.
public struct Simulation {
    public typealias GroupID = UInt64

    public let options: SimulationOptions
    private let trace: ((String) -> Void)?

    private var random: SeededGenerator
    private var now: SimulatedTime = 0
    private var queue = Heap<ScheduledEvent>()
    private var sequence: UInt64 = 0
    private var stepsTaken = 0
    private var faults = 0

    private var nodes: [NodeID: SimulatedNode] = [:]
    private var network = SimulatedNetwork()
    private var checkers: [GroupID: SafetyChecker] = [:]
    private let profile: FaultProfile
    private let groups: [GroupID]

    /// Client bookkeeping: each proposed value is unique and proposed once, to one group.
    private var nextValue: UInt64 = 1
    private var proposals: [UInt64: (group: GroupID, node: NodeID, term: Term, index: LogIndex)] = [:]
    private var acknowledged: [GroupID: [UInt64: LogIndex]] = [:]
    private var nextReadID: UInt64 = 1
    private var reads: [UInt64: (group: GroupID, node: NodeID, acknowledgedBefore: LogIndex)] = [:]
    private var membershipChurn = MembershipChurn.idle
    private var networkFaultActive = false
    /// Ids are never reused: a replaced node comes back as a new member.
    private var nextNodeID: NodeID
    /// In the liveness phase the client and the fault injector stand still.
    private var healed = false

    public init(options: SimulationOptions, trace: ((String) -> Void)? = nil) {
        self.options = options
        self.trace = trace
        random = SeededGenerator(seed: options.seed)
        profile = FaultProfile(random: &random)
        network.conditions = profile.conditions
        groups = (1...options.groupCount).map { GroupID($0) }
        let voters = Set((1...options.nodeCount).map { NodeID($0) })
        nextNodeID = NodeID(options.nodeCount) + 1
        for group in groups {
            checkers[group] = SafetyChecker()
            acknowledged[group] = [:]
        }
        for id in voters.sorted() {
            var node = SimulatedNode(id: id)
            for group in groups {
                let config = Self.config(for: id, group: group, incarnation: 0, seed: options.seed, profile: profile)
                node.members[group] = GroupMember(core: try! RaftNode(config: config, bootstrapVoters: voters), storage: node.disk.storage(group: group))
            }
            nodes[id] = node
        }
    }

    /// Small bounds, so that batching, pipelining limits, snapshots in several chunks and
    /// proposal back-pressure all happen within a few thousand steps.
    static func config(for id: NodeID, group: GroupID, incarnation: Int, seed: UInt64, profile: FaultProfile) -> Config {
        var config = Config(id: id, randomSeed: seed &* 0x9E37_79B9 &+ id &* 1_000_003 &+ UInt64(incarnation) &+ (group - 1) &* 0x51ED_2701)
        config.electionTimeoutTicks = 10
        config.heartbeatIntervalTicks = 1
        config.appendEntriesMax = profile.appendEntriesMax
        config.appendBytesMax = 64
        config.inflightAppendsMax = profile.inflightAppendsMax
        config.inflightBytesMax = 128
        config.uncommittedBytesMax = 2048
        config.entryBytesMax = 64
        config.proposalEntriesMax = 8
        config.snapshotChunkBytesMax = 256
        config.applyBytesMax = 256
        // A follower a little behind catches up from the log kept for it, one further
        // behind from a snapshot.
        config.laggingFollowerLogBytesMax = 128
        // Little kept in memory: leaders often send followers entries read back from disk.
        config.entryCacheBytesMax = profile.entryCacheBytesMax
        config.pendingReadsMax = 64
        return config
    }

    static let tickInterval: SimulatedTime = 10
    static let snapshotEveryEntries: LogIndex = 48
    static let entriesRetainedAfterSnapshot = 8

    // MARK: Running

    public mutating func run() -> SimulationResult {
        emit("seed \(options.seed): \(options.nodeCount) nodes, \(options.groupCount) group(s), \(options.steps) steps, \(profile)")
        for id in nodes.keys.sorted() {
            schedule(after: SimulatedTime.random(in: 1...Self.tickInterval, using: &random), .tick(id, incarnation: 0))
        }
        schedule(after: 5, .clientPropose)
        schedule(after: 50, .clientRead)
        schedule(after: profile.faultInterval(random: &random), .fault)

        while stepsTaken < options.steps, !anyViolation, let event = queue.popMin() {
            process(event)
        }
        if !anyViolation { runLivenessPhase() }
        if !anyViolation {
            for group in groups {
                var appliedByNode: [NodeID: [UInt64: [LogIndex]]] = [:]
                for id in currentMembers(of: group).sorted() { appliedByNode[id] = nodes[id]!.members[group]!.machine.indexesByValue() }
                checkers[group]!.checkAcknowledged(acknowledged[group]!, appliedByNode: appliedByNode)
            }
        }
        let found = violations
        for violation in found { emit("VIOLATION \(violation)") }
        return SimulationResult(
            options: options, steps: stepsTaken, faults: faults, simulatedTime: now,
            acknowledged: acknowledged.values.reduce(0) { $0 + $1.count }, violations: found
        )
    }

    private var anyViolation: Bool { groups.contains { !checkers[$0]!.violations.isEmpty } }

    /// Every group's checker's findings, naming the group when there are several.
    private var violations: [Violation] {
        groups.flatMap { group in
            checkers[group]!.violations.map { violation in
                var named = violation
                if groups.count > 1 { named.detail = "group \(group): " + named.detail }
                return named
            }
        }
    }

    /// Heal everything; in every group a leader must be elected and everything pending
    /// committed, then applied by every member, within the time limit.
    private mutating func runLivenessPhase() {
        emit("liveness: healing every fault")
        healed = true
        network.healAll()
        networkFaultActive = false
        network.conditions = SimulatedNetwork.Conditions()
        for id in nodes.keys.sorted() where !nodes[id]!.isUp { restart(id) }
        let deadline = now + options.livenessTimeLimit
        var barriers: [GroupID: (value: UInt64, node: NodeID, term: Term, index: LogIndex)] = [:]
        var settled: Set<GroupID> = []
        var nextAttempt = now
        while now < deadline, !anyViolation {
            if now >= nextAttempt {
                nextAttempt = now + 50
                for group in groups where !settled.contains(group) {
                    if let done = barriers[group], acknowledged[group]![done.value] != nil {
                        let members = currentMembers(of: group)
                        let target = checkers[group]!.acknowledgedMax
                        if members.allSatisfy({ nodes[$0]!.members[group]!.machine.appliedIndex >= target }) {
                            emit("liveness: \(name(group: group))barrier \(done.value) at \(target) applied on members \(members.sorted())")
                            settled.insert(group)
                        }
                    } else if barriers[group] == nil || leaderNode(of: group) != barriers[group]?.node
                        || nodes[barriers[group]!.node]?.members[group]?.core?.term != barriers[group]?.term
                    {
                        // No barrier yet, or its leader lost office: propose a fresh one.
                        if let leaderID = leaderNode(of: group), let proposed = propose(on: leaderID, group: group, count: 1) {
                            barriers[group] = (proposed[0], leaderID, proposals[proposed[0]]!.term, proposals[proposed[0]]!.index)
                        }
                    }
                }
                if settled.count == groups.count { return }
            }
            guard let event = queue.popMin() else { break }
            process(event)
        }
        if !anyViolation {
            for group in groups where !settled.contains(group) {
                let state = nodes.keys.sorted().map { id -> String in
                    guard let core = nodes[id]!.members[group]?.core else { return "n\(id): down" }
                    return "n\(id): \(core.role) t\(core.term) commit \(core.commitIndex) applied \(nodes[id]!.members[group]!.machine.appliedIndex) last \(core.lastIndex)"
                }
                checkers[group]!.failLiveness("no leader committed a barrier within \(options.livenessTimeLimit)ms after healing; \(state.joined(separator: "; "))")
            }
        }
    }

    private mutating func process(_ event: ScheduledEvent) {
        now = event.time
        stepsTaken += 1
        for group in groups {
            checkers[group]!.step = stepsTaken
            checkers[group]!.time = now
        }
        switch event.kind {
        case .tick(let id, let incarnation):
            guard nodes[id]?.incarnation == incarnation, nodes[id]?.isUp == true else { return }
            schedule(after: Self.tickInterval + nodes[id]!.clockSkew, .tick(id, incarnation: incarnation))
            // One clock for all of the node's groups; a crash while pumping one stops the rest.
            for group in groups where nodes[id]?.incarnation == incarnation && nodes[id]!.members[group]?.core != nil {
                nodes[id]!.members[group]!.core!.tick()
                pump(id, group)
            }
        case .deliver(let group, let message):
            deliver(message, in: group)
        case .syncDone(let id, let group, let incarnation):
            guard nodes[id]?.incarnation == incarnation, nodes[id]?.members[group]?.core != nil else { return }
            completeReady(id, group)
            pump(id, group)
        case .entriesRead(let id, let group, let incarnation, let fetch):
            guard nodes[id]?.incarnation == incarnation, nodes[id]?.members[group]?.core != nil else { return }
            // What the disk holds durably now: a crash since may have taken some, a snapshot
            // may have dropped them.
            if let entries = nodes[id]!.members[group]!.storage.entries(in: fetch.range, bytesMax: fetch.bytesMax), !entries.isEmpty {
                emit("\(name(id, group)) read back \(entries.first!.index)...\(entries.last!.index) for n\(fetch.member)")
                nodes[id]!.members[group]!.core!.entriesFetched(fetch, entries: entries)
            } else {
                emit("\(name(id, group)) could not read back \(fetch.range) for n\(fetch.member)")
                nodes[id]!.members[group]!.core!.entriesFetchFailed(fetch)
            }
            pump(id, group)
        case .clientPropose:
            guard !healed else { return }
            clientPropose()
            schedule(after: SimulatedTime.random(in: 2...profile.proposeIntervalMax, using: &random), .clientPropose)
        case .clientRead:
            guard !healed else { return }
            clientRead()
            schedule(after: SimulatedTime.random(in: 20...120, using: &random), .clientRead)
        case .fault:
            guard !healed else { return }
            injectFault()
            schedule(after: profile.faultInterval(random: &random), .fault)
        case .healNetwork:
            emit("heal network")
            network.healAll()
            networkFaultActive = false
        case .restart(let id):
            if let node = nodes[id], !node.isUp { restart(id) }
        case .membershipStep:
            guard !healed else { return }
            advanceMembershipChurn()
        }
    }

    private mutating func schedule(after delay: SimulatedTime, _ kind: ScheduledEvent.Kind) {
        sequence += 1
        queue.insert(ScheduledEvent(time: now + delay, sequence: sequence, kind: kind))
    }

    private func emit(_ line: @autoclosure () -> String) {
        if let trace { trace("[\(now)ms #\(stepsTaken)] \(line())") }
    }

    /// A node in traces, with its group when there are several.
    private func name(_ id: NodeID, _ group: GroupID) -> String { groups.count > 1 ? "n\(id)/g\(group)" : "n\(id)" }
    private func name(group: GroupID) -> String { groups.count > 1 ? "g\(group) " : "" }

    /// A group drawn for the client or a fault; no draw when there is one.
    private mutating func randomGroup() -> GroupID {
        groups.count == 1 ? groups[0] : groups.randomElement(using: &random)!
    }

    // MARK: Nodes and their Readys

    private mutating func deliver(_ message: Message, in group: GroupID) {
        guard !network.isCut(from: message.from, to: message.to) else {
            emit("cut   \(name(group: group))\(message)")
            return
        }
        guard nodes[message.to]?.members[group]?.core != nil else { return }
        emit("recv  \(name(group: group))\(message)")
        nodes[message.to]!.members[group]!.core!.step(message)
        pump(message.to, group)
    }

    /// Every message crosses the simulated network in its wire form, as the peer transport
    /// sends it, so the codec sees everything the core ever says. A snapshot chunk gets its
    /// bytes from the sender's snapshot on the way, as the node's shell fills them in.
    private mutating func send(_ messages: [Message], in group: GroupID) {
        for var message in messages {
            if case .snapshotChunk(let chunk) = message.body, chunk.needsBytes {
                guard let data = nodes[message.from]?.members[group]?.snapshots[chunk.metadata.index], data.count == chunk.totalBytes else {
                    checkers[group]!.failWireCodec("n\(message.from) sends a chunk of snapshot \(chunk.metadata.index), which it does not hold")
                    continue
                }
                message.body = .snapshotChunk(chunk.filled(with: Array(data[chunk.offset..<chunk.offset + chunk.length])))
            }
            let onTheWire: Message
            do {
                let frame = try PeerFrame(frame: PeerFrame.raft(group: group, messages: [message]).encoded(), limits: PeerWireLimits())
                guard case .raft(group, let decoded) = frame, decoded == [message] else {
                    checkers[group]!.failWireCodec("\(message) of group \(group) does not survive its wire form")
                    continue
                }
                onTheWire = decoded[0]
            } catch {
                checkers[group]!.failWireCodec("\(message) does not decode: \(error)")
                continue
            }
            for delay in network.deliveryDelays(random: &random) {
                schedule(after: delay, .deliver(group, onTheWire))
            }
        }
    }

    /// Takes the member's next Ready if it has one and none is being persisted; while one
    /// is, sends the messages that may leave at once, as the node's shell does.
    private mutating func pump(_ id: NodeID, _ group: GroupID) {
        if nodes[id]!.members[group]!.inFlightReady != nil, nodes[id]!.members[group]!.core != nil {
            send(nodes[id]!.members[group]!.core!.takeMessages(), in: group)
            read(nodes[id]!.members[group]!.core!.takeEntryFetches(), on: id, group)
        }
        while nodes[id]?.members[group]?.inFlightReady == nil, let core = nodes[id]?.members[group]?.core, core.hasReady {
            let ready = nodes[id]!.members[group]!.core!.ready()
            if let soft = ready.softState {
                emit("\(name(id, group)) is \(soft.role) in term \(core.term), leader \(soft.leader.map { "n\($0)" } ?? "unknown")")
                if soft.role == .leader { checkers[group]!.observeLeader(id, core: core) }
            }
            send(ready.messages, in: group)
            read(ready.entryFetches, on: id, group)
            if ready.mustSync {
                emit("\(name(id, group)) persists" + (ready.snapshot.map { " snapshot \($0.index)" } ?? "")
                    + (ready.entries.isEmpty ? "" : " entries \(ready.entries.first!.index)...\(ready.entries.last!.index)")
                    + (ready.hardState.map { " term \($0.term) vote \($0.vote ?? 0) commit \($0.commit)" } ?? ""))
                // The writes of `RaftStorage.persist`, with the sync left for later; the shell
                // keeps a snapshot's bytes in memory until it is whole (a crash loses them).
                let disk = nodes[id]!.members[group]!.storage
                for piece in ready.snapshotPieces {
                    if piece.startsTransfer { nodes[id]!.members[group]!.staged = [] }
                    precondition(piece.offset == nodes[id]!.members[group]!.staged.count, "snapshot bytes out of order")
                    nodes[id]!.members[group]!.staged += piece.bytes
                }
                if let metadata = ready.snapshot {
                    let received = Snapshot(metadata: metadata, data: nodes[id]!.members[group]!.staged)
                    nodes[id]!.members[group]!.staged = []
                    nodes[id]!.members[group]!.snapshots[metadata.index] = received.data
                    try! disk.installSnapshot(received)
                }
                try! disk.append(ready.entries)
                if let hard = ready.hardState { try! disk.setHardState(hard, commitMustBeDurable: ready.commitMustBeDurable) }
                nodes[id]!.members[group]!.inFlightReady = ready
                // Committed entries are durable here already: the shell applies them while the
                // sync runs, unless they wait on it (a snapshot, a membership change).
                let appliedEarly = ready.snapshot == nil && !ready.commitMustBeDurable
                nodes[id]!.members[group]!.appliedEarly = appliedEarly
                if appliedEarly {
                    for entry in ready.committedEntries { apply(entry, on: id, group) }
                }
                schedule(after: SimulatedTime.random(in: 1...profile.syncLatencyMax, using: &random), .syncDone(id, group, incarnation: nodes[id]!.incarnation))
                if nodes[id]!.crashBeforeNextSync {
                    crash(id)
                    schedule(after: SimulatedTime.random(in: 5...400, using: &random), .restart(id))
                }
                return
            }
            // A new commit index alone is written lazily: no sync, lost on a crash.
            if let hard = ready.hardState { try! nodes[id]!.members[group]!.storage.setHardState(hard) }
            nodes[id]!.members[group]!.inFlightReady = ready
            completeReady(id, group)
        }
    }

    /// Has the shell read entries back from the disk, as the node's does on its log lane.
    private mutating func read(_ fetches: [EntryFetch], on id: NodeID, _ group: GroupID) {
        for fetch in fetches {
            schedule(after: SimulatedTime.random(in: 1...profile.syncLatencyMax, using: &random), .entriesRead(id, group, incarnation: nodes[id]!.incarnation, fetch))
        }
    }

    /// The Ready's writes are durable: send what waited on them, apply, advance. Its sync
    /// makes the writes of the node's other groups durable too, as one sync of the shared
    /// log does.
    private mutating func completeReady(_ id: NodeID, _ group: GroupID) {
        guard let ready = nodes[id]!.members[group]!.inFlightReady else { return }
        nodes[id]!.members[group]!.inFlightReady = nil
        if ready.mustSync { try! nodes[id]!.members[group]!.storage.sync() }
        if let metadata = ready.snapshot { checkers[group]!.observeSnapshotInstalled(id, index: metadata.index) }
        if let first = ready.entries.first {
            let termBefore = ready.snapshot.map { $0.index == first.index - 1 ? $0.term : nil }
                ?? nodes[id]!.members[group]!.core!.term(at: first.index - 1)
            checkers[group]!.observePersisted(id, entries: ready.entries, termBefore: termBefore)
        }
        send(ready.messagesAfterPersist, in: group)
        if let metadata = ready.snapshot, let data = nodes[id]!.members[group]!.snapshots[metadata.index] {
            emit("\(name(id, group)) installs snapshot at \(metadata.index)")
            nodes[id]!.members[group]!.machine = ValueLog(restoring: data, at: metadata.index)
        }
        if !nodes[id]!.members[group]!.appliedEarly {
            for entry in ready.committedEntries { apply(entry, on: id, group) }
        }
        nodes[id]!.members[group]!.appliedEarly = false
        if let gap = nodes[id]!.members[group]!.machine.gap {
            checkers[group]!.failApplyOrder(id, expected: gap.expected, got: gap.got)
        }
        for read in ready.readStates { nodes[id]!.members[group]!.pendingReads.append(read) }
        nodes[id]!.members[group]!.core!.advance(ready)
        serveReads(id, group)
        let core = nodes[id]!.members[group]!.core!
        checkers[group]!.observeCommit(id, commit: core.commitIndex, persisted: core.persistedIndex)
        maybeCompact(id, group)
    }

    private mutating func apply(_ entry: Entry, on id: NodeID, _ group: GroupID) {
        checkers[group]!.observeApplied(id, entry: entry, nodeTerm: nodes[id]!.members[group]!.core!.term)
        nodes[id]!.members[group]!.machine.apply(entry)
        guard entry.kind == .normal, let value = ValueLog.value(in: entry) else { return }
        if let proposal = proposals[value], proposal.group == group, proposal.node == id, proposal.index == entry.index, proposal.term == entry.term,
            acknowledged[group]![value] == nil
        {
            acknowledged[group]![value] = entry.index
            checkers[group]!.observeAcknowledged(index: entry.index)
            emit("ack   \(name(group: group))value \(value) at \(entry.index)")
        }
    }

    private mutating func serveReads(_ id: NodeID, _ group: GroupID) {
        let applied = nodes[id]!.members[group]!.machine.appliedIndex
        while let read = nodes[id]!.members[group]!.pendingReads.first, read.index <= applied {
            nodes[id]!.members[group]!.pendingReads.removeFirst()
            guard let asked = reads.removeValue(forKey: read.requestID) else { continue }
            checkers[group]!.observeRead(id, index: read.index, acknowledgedBeforeRequest: asked.acknowledgedBefore)
            emit("read  \(read.requestID) on \(name(id, group)) served at \(read.index)")
        }
    }

    private mutating func maybeCompact(_ id: NodeID, _ group: GroupID) {
        let core = nodes[id]!.members[group]!.core!
        guard core.appliedIndex >= core.firstIndex + Self.snapshotEveryEntries else { return }
        let data = nodes[id]!.members[group]!.machine.snapshotData()
        let reference = nodes[id]!.members[group]!.core!.compact(snapshotBytes: data.count, retainingEntries: Self.entriesRetainedAfterSnapshot)
        nodes[id]!.members[group]!.snapshots[reference.metadata.index] = data
        let compactTo = nodes[id]!.members[group]!.core!.firstIndex - 1
        try! nodes[id]!.members[group]!.storage.saveSnapshot(Snapshot(metadata: reference.metadata, data: data), compactTo: compactTo)
        emit("\(name(id, group)) snapshots at \(reference.metadata.index) (\(data.count) bytes)")
    }

    // MARK: Crashes

    /// The node's process dies: every group on it stops, and its disk loses what none of
    /// them had synced.
    private mutating func crash(_ id: NodeID) {
        guard nodes[id]!.isUp else { return }
        let note = nodes[id]!.disk.crash(random: &random)
        for group in groups where nodes[id]!.members[group] != nil {
            nodes[id]!.members[group]!.crashed()
        }
        nodes[id]!.crashBeforeNextSync = false
        nodes[id]!.incarnation += 1
        emit("CRASH n\(id): \(note)")
    }

    private mutating func restart(_ id: NodeID) {
        let incarnation = nodes[id]!.incarnation
        for group in groups where nodes[id]!.members[group] != nil {
            let storage = nodes[id]!.members[group]!.storage
            let recovered = storage.recover()
            let config = Self.config(for: id, group: group, incarnation: incarnation, seed: options.seed, profile: profile)
            nodes[id]!.members[group]!.core = try! RaftNode(config: config, recovered: recovered)
            let snapshot = storage.snapshot
            nodes[id]!.members[group]!.machine = snapshot.map { ValueLog(restoring: $0.data, at: $0.metadata.index) } ?? ValueLog()
            if let snapshot { nodes[id]!.members[group]!.snapshots[snapshot.metadata.index] = snapshot.data }
            checkers[group]!.observeRestart(id, lastIndex: recovered.entries.last?.index ?? recovered.snapshot?.metadata.index ?? 0)
            emit("RESTART \(name(id, group)): term \(recovered.hardState.term), snapshot \(recovered.snapshot?.metadata.index ?? 0), \(recovered.entries.count) entries")
        }
        schedule(after: SimulatedTime.random(in: 1...Self.tickInterval, using: &random), .tick(id, incarnation: incarnation))
        for group in groups where nodes[id]?.incarnation == incarnation && nodes[id]!.members[group]?.core != nil {
            pump(id, group)
        }
    }

    // MARK: Client

    private func leaderNode(of group: GroupID) -> NodeID? {
        // The leader of the highest term among running nodes.
        nodes.values.compactMap { $0.members[group]?.core }.filter { $0.role == .leader }.max { $0.term < $1.term }?.id
    }

    private func currentMembers(of group: GroupID) -> Set<NodeID> {
        // The membership of the most advanced running node.
        let reference = nodes.values.compactMap { $0.members[group]?.core }.max { ($0.appliedIndex, $0.term) < ($1.appliedIndex, $1.term) }
        return reference?.membership.all ?? []
    }

    private mutating func clientPropose() {
        // A client talks to a random node and follows its leader hint once.
        let group = randomGroup()
        let target = nodes.keys.sorted().randomElement(using: &random)!
        guard let core = nodes[target]?.members[group]?.core else { return }
        if core.role == .leader {
            _ = propose(on: target, group: group, count: Int.random(in: 1...3, using: &random))
        } else if let hint = core.leader, nodes[hint]?.members[group]?.core?.role == .leader {
            _ = propose(on: hint, group: group, count: Int.random(in: 1...3, using: &random))
        }
    }

    private mutating func propose(on id: NodeID, group: GroupID, count: Int) -> [UInt64]? {
        let values = (0..<count).map { nextValue + UInt64($0) }
        do {
            let (term, indexes) = try nodes[id]!.members[group]!.core!.propose(values.map(ValueLog.payload))
            nextValue += UInt64(count)
            for (value, index) in zip(values, indexes) { proposals[value] = (group, id, term, index) }
            emit("prop  \(name(id, group)) values \(values.first!)...\(values.last!) at \(indexes)")
            pump(id, group)
            return values
        } catch {
            emit("prop  \(name(id, group)) refused: \(error)")
            return nil
        }
    }

    private mutating func clientRead() {
        let group = randomGroup()
        let target = nodes.keys.sorted().randomElement(using: &random)!
        guard nodes[target]?.members[group]?.core != nil else { return }
        let id = nextReadID
        nextReadID += 1
        do {
            try nodes[target]!.members[group]!.core!.requestRead(id: id)
            reads[id] = (group, target, checkers[group]!.acknowledgedMax)
            pump(target, group)
        } catch {
            emit("read  on \(name(target, group)) refused: \(error)")
        }
    }

    // MARK: Faults

    private mutating func injectFault() {
        let all = Set(nodes.keys)
        let fault = profile.nextFault(random: &random)
        let group = randomGroup()
        faults += 1
        switch fault {
        case .crashLeader, .crashAny:
            let candidates = fault == .crashLeader ? leaderNode(of: group).map { [$0] } ?? [] : nodes.keys.filter { nodes[$0]!.isUp }.sorted()
            guard let victim = candidates.randomElement(using: &random) else { return }
            if Bool.random(using: &random) {
                // The most dangerous moment: messages sent, their writes not yet synced.
                nodes[victim]!.crashBeforeNextSync = true
                emit("FAULT n\(victim) will crash between its next send and its sync")
                return
            }
            crash(victim)
            schedule(after: SimulatedTime.random(in: 5...400, using: &random), .restart(victim))
        case .partition, .isolateLeader, .bridge, .oneWayCut:
            guard !networkFaultActive else { return }
            network.healAll()
            let ids = all.sorted()
            switch fault {
            case .isolateLeader:
                guard let leaderID = leaderNode(of: group) else { return }
                network.partition([leaderID], from: all.subtracting([leaderID]))
                emit("FAULT isolate \(name(group: group))leader n\(leaderID)")
            case .bridge:
                // Two halves that both see one bridge node, and not each other.
                let shuffled = ids.shuffled(using: &random)
                let bridge = shuffled[0]
                let left = Set(shuffled.dropFirst().enumerated().filter { $0.offset % 2 == 0 }.map(\.element))
                let right = all.subtracting(left).subtracting([bridge])
                network.partition(left, from: right)
                emit("FAULT bridge n\(bridge) between \(left.sorted()) and \(right.sorted())")
            case .oneWayCut:
                let from = ids.randomElement(using: &random)!
                let to = ids.filter { $0 != from }.randomElement(using: &random)!
                network.cut(from: from, to: to)
                if let leaderID = leaderNode(of: group), Bool.random(using: &random), leaderID != from {
                    network.cut(from: leaderID, to: from)
                }
                emit("FAULT one-way cuts \(network.cutLinks.map { "n\($0.from)->n\($0.to)" }.sorted())")
            default:
                let side = Set(ids.filter { _ in Bool.random(using: &random) })
                network.partition(side, from: all.subtracting(side))
                emit("FAULT partition \(side.sorted()) | \(all.subtracting(side).sorted())")
            }
            networkFaultActive = true
            schedule(after: SimulatedTime.random(in: 50...800, using: &random), .healNetwork)
        case .transferLeadership:
            guard let leaderID = leaderNode(of: group), let core = nodes[leaderID]!.members[group]!.core else { return }
            guard let target = core.membership.voters.filter({ $0 != leaderID }).sorted().randomElement(using: &random) else { return }
            emit("FAULT transfer \(name(group: group))leadership n\(leaderID) -> n\(target)")
            try? nodes[leaderID]!.members[group]!.core!.transferLeadership(to: target)
            pump(leaderID, group)
        case .leaderReportedDead:
            let followers = all.sorted().filter { nodes[$0]!.members[group]?.core?.role == .follower && nodes[$0]!.members[group]?.core?.leader != nil }
            guard let follower = followers.randomElement(using: &random), let leaderID = nodes[follower]!.members[group]!.core!.leader else { return }
            emit("FAULT \(name(follower, group)) hears that its leader n\(leaderID) died")
            nodes[follower]!.members[group]!.core!.leaderReportedDead(leaderID)
            pump(follower, group)
        case .membershipChurn:
            guard case .idle = membershipChurn, let leaderID = leaderNode(of: group) else { return }
            let voters = nodes[leaderID]!.members[group]!.core!.membership.voters
            guard voters.count >= 3, let victim = voters.filter({ $0 != leaderID }).sorted().randomElement(using: &random) else { return }
            // A wiped node loses every group on its disk: only a cluster of one group
            // replaces one; with more, the node is removed from one group and comes back.
            let replace = Bool.random(using: &random) && groups.count == 1
            membershipChurn = .removing(group, victim, replace: replace)
            emit("FAULT \(name(group: group))membership churn: remove n\(victim), then " + (replace ? "add a new node in its place" : "add it back"))
            schedule(after: 1, .membershipStep)
        }
    }

    /// An operator's procedure, retried until each step takes effect: remove a voter, (maybe
    /// wipe it), add it back as a learner, promote it once it has caught up.
    private mutating func advanceMembershipChurn() {
        defer {
            if case .idle = membershipChurn {} else { schedule(after: 40, .membershipStep) }
        }
        guard let group = membershipChurn.group, let leaderID = leaderNode(of: group) else { return }
        let membership = nodes[leaderID]!.members[group]!.core!.membership
        func propose(_ change: MembershipChange) {
            do {
                try nodes[leaderID]!.members[group]!.core!.proposeMembershipChange(change)
                emit("member \(name(leaderID, group)) proposes \(change)")
                pump(leaderID, group)
            } catch {
                emit("member \(name(leaderID, group)) refused \(change): \(error)")
            }
        }
        switch membershipChurn {
        case .idle:
            return
        case .removing(_, let id, let replace):
            if !membership.contains(id) {
                if replace {
                    // A wiped node must come back under a new id: under its old one, leaders
                    // that remember it would take its empty log for the one it acknowledged.
                    crash(id)
                    nodes[id] = nil
                    let newID = nextNodeID
                    nextNodeID += 1
                    var node = SimulatedNode(id: newID)
                    for group in groups {
                        let config = Self.config(for: newID, group: group, incarnation: 0, seed: options.seed, profile: profile)
                        let core = try! RaftNode(config: config, recovered: RaftNode.RecoveredState(hardState: HardState(), snapshot: nil, entries: []))
                        node.members[group] = GroupMember(core: core, storage: node.disk.storage(group: group))
                    }
                    nodes[newID] = node
                    schedule(after: SimulatedTime.random(in: 1...Self.tickInterval, using: &random), .tick(newID, incarnation: 0))
                    emit("member n\(id) replaced by a new, empty node n\(newID)")
                    membershipChurn = .adding(group, newID)
                } else {
                    membershipChurn = .adding(group, id)
                }
            } else if id == leaderID {
                membershipChurn = .idle
            } else {
                propose(.removeNode(id))
            }
        case .adding(_, let id):
            if membership.learners.contains(id) {
                membershipChurn = .promoting(group, id)
            } else if membership.voters.contains(id) {
                membershipChurn = .idle
            } else {
                propose(.addLearner(id))
            }
        case .promoting(_, let id):
            if membership.voters.contains(id) {
                emit("member \(name(id, group)) is a voter again")
                membershipChurn = .idle
            } else {
                propose(.promoteLearner(id))
            }
        }
    }
}

struct ScheduledEvent: Comparable {
    enum Kind {
        case tick(NodeID, incarnation: Int)
        case deliver(UInt64, Message)
        case syncDone(NodeID, UInt64, incarnation: Int)
        /// The shell read back entries a leader asked for: it hands them over.
        case entriesRead(NodeID, UInt64, incarnation: Int, EntryFetch)
        case clientPropose
        case clientRead
        case fault
        case healNetwork
        case restart(NodeID)
        case membershipStep
    }

    var time: SimulatedTime
    var sequence: UInt64
    var kind: Kind

    static func < (a: Self, b: Self) -> Bool { (a.time, a.sequence) < (b.time, b.sequence) }
    static func == (a: Self, b: Self) -> Bool { (a.time, a.sequence) == (b.time, b.sequence) }
}

/// An operator's membership change of one group, step by step.
enum MembershipChurn {
    case idle
    case removing(UInt64, NodeID, replace: Bool)
    case adding(UInt64, NodeID)
    case promoting(UInt64, NodeID)

    var group: UInt64? {
        switch self {
        case .idle: return nil
        case .removing(let group, _, _), .adding(let group, _), .promoting(let group, _): return group
        }
    }
}

/// One simulated process: its disk, which all its groups share, and its member of each.
struct SimulatedNode {
    let id: NodeID
    /// The same storage the real node's groups share, in memory and crashable.
    let disk = MemoryDisk()
    var members: [UInt64: GroupMember] = [:]
    var incarnation = 0
    /// Armed by a fault: crash right after the next Ready's messages leave, before its sync.
    var crashBeforeNextSync = false
    /// This node's clock runs a little fast or slow.
    let clockSkew: SimulatedTime

    init(id: NodeID) {
        self.id = id
        clockSkew = id % 3
    }

    /// Running: its groups' cores exist (they crash and restart together).
    var isUp: Bool { members.values.contains { $0.core != nil } }
}

/// A node's member of one group.
struct GroupMember {
    /// Nil while the node is crashed.
    var core: RaftNode?
    /// The group's view of the node's disk.
    let storage: MemoryStorage
    var machine = ValueLog()
    var inFlightReady: Ready?
    /// The in-flight Ready's committed entries were applied when it was taken.
    var appliedEarly = false
    /// What the shell holds of the snapshots this member took or installed (a transfer goes
    /// on with the one it began), and of one being received.
    var snapshots: [LogIndex: [UInt8]] = [:]
    var staged: [UInt8] = []
    var pendingReads: [ReadState] = []

    init(core: RaftNode, storage: MemoryStorage) {
        self.core = core
        self.storage = storage
    }

    /// What the process held in memory is gone.
    mutating func crashed() {
        core = nil
        inFlightReady = nil
        appliedEarly = false
        staged = []
        snapshots = [:]
        pendingReads = []
    }
}
