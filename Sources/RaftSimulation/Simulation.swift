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
    /// Events processed in the fault phase; the liveness phase comes on top.
    public var steps: Int
    /// How long the healed cluster has to elect a leader and commit everything pending.
    public var livenessTimeLimit: SimulatedTime = 20_000

    public init(seed: UInt64, nodeCount: Int, steps: Int) {
        precondition(nodeCount >= 1, "a cluster needs a node")
        self.seed = seed
        self.nodeCount = nodeCount
        self.steps = steps
    }

    /// The 3- and 5-node mix: each seed picks its cluster size from itself.
    public static func defaultNodeCount(seed: UInt64) -> Int {
        var random = SeededGenerator(seed: seed ^ 0x5EED)
        return random.next() % 5 < 3 ? 3 : 5
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
/// and reads. A checker standing apart runs after every step. The same seed replays the same
/// run, event for event.
public struct Simulation {
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
    private var checker = SafetyChecker()
    private let profile: FaultProfile

    /// Client bookkeeping: each proposed value is unique and proposed once.
    private var nextValue: UInt64 = 1
    private var proposals: [UInt64: (node: NodeID, term: Term, index: LogIndex)] = [:]
    private var acknowledged: [UInt64: LogIndex] = [:]
    private var nextReadID: UInt64 = 1
    private var reads: [UInt64: (node: NodeID, acknowledgedBefore: LogIndex)] = [:]
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
        let voters = Set((1...options.nodeCount).map { NodeID($0) })
        nextNodeID = NodeID(options.nodeCount) + 1
        for id in voters.sorted() {
            let config = Self.config(for: id, incarnation: 0, seed: options.seed, profile: profile)
            let core = try! RaftNode(config: config, bootstrapVoters: voters)
            nodes[id] = SimulatedNode(id: id, core: core)
        }
    }

    /// Small bounds, so that batching, pipelining limits, snapshots in several chunks and
    /// proposal back-pressure all happen within a few thousand steps.
    static func config(for id: NodeID, incarnation: Int, seed: UInt64, profile: FaultProfile) -> Config {
        var config = Config(id: id, randomSeed: seed &* 0x9E37_79B9 &+ id &* 1_000_003 &+ UInt64(incarnation))
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
        emit("seed \(options.seed): \(options.nodeCount) nodes, \(options.steps) steps, \(profile)")
        for id in nodes.keys.sorted() {
            schedule(after: SimulatedTime.random(in: 1...Self.tickInterval, using: &random), .tick(id, incarnation: 0))
        }
        schedule(after: 5, .clientPropose)
        schedule(after: 50, .clientRead)
        schedule(after: profile.faultInterval(random: &random), .fault)

        while stepsTaken < options.steps, checker.violations.isEmpty, let event = queue.popMin() {
            process(event)
        }
        if checker.violations.isEmpty { runLivenessPhase() }
        if checker.violations.isEmpty {
            var appliedByNode: [NodeID: [UInt64: [LogIndex]]] = [:]
            for id in currentMembers().sorted() { appliedByNode[id] = nodes[id]!.machine.indexesByValue() }
            checker.checkAcknowledged(acknowledged, appliedByNode: appliedByNode)
        }
        for violation in checker.violations { emit("VIOLATION \(violation)") }
        return SimulationResult(
            options: options, steps: stepsTaken, faults: faults, simulatedTime: now,
            acknowledged: acknowledged.count, violations: checker.violations
        )
    }

    /// Heal everything; a leader must be elected and everything pending committed, then
    /// applied by every member, within the time limit.
    private mutating func runLivenessPhase() {
        emit("liveness: healing every fault")
        healed = true
        network.healAll()
        networkFaultActive = false
        network.conditions = SimulatedNetwork.Conditions()
        for id in nodes.keys.sorted() where nodes[id]!.core == nil { restart(id) }
        let deadline = now + options.livenessTimeLimit
        var barrier: (value: UInt64, node: NodeID, term: Term, index: LogIndex)?
        var nextAttempt = now
        while now < deadline, checker.violations.isEmpty {
            if now >= nextAttempt {
                nextAttempt = now + 50
                if let done = barrier, acknowledged[done.value] != nil {
                    let members = currentMembers()
                    let target = checker.acknowledgedMax
                    if members.allSatisfy({ nodes[$0]!.machine.appliedIndex >= target }) {
                        emit("liveness: barrier \(done.value) at \(target) applied on members \(members.sorted())")
                        return
                    }
                } else if barrier == nil || leaderNode() != barrier?.node || nodes[barrier!.node]?.core?.term != barrier?.term {
                    // No barrier yet, or its leader lost office: propose a fresh one.
                    if let leaderID = leaderNode(), let proposed = propose(on: leaderID, count: 1) {
                        barrier = (proposed[0], leaderID, proposals[proposed[0]]!.term, proposals[proposed[0]]!.index)
                    }
                }
            }
            guard let event = queue.popMin() else { break }
            process(event)
        }
        if checker.violations.isEmpty {
            let state = nodes.keys.sorted().map { id -> String in
                guard let core = nodes[id]!.core else { return "n\(id): down" }
                return "n\(id): \(core.role) t\(core.term) commit \(core.commitIndex) applied \(nodes[id]!.machine.appliedIndex) last \(core.lastIndex)"
            }
            checker.failLiveness("no leader committed a barrier within \(options.livenessTimeLimit)ms after healing; \(state.joined(separator: "; "))")
        }
    }

    private mutating func process(_ event: ScheduledEvent) {
        now = event.time
        stepsTaken += 1
        checker.step = stepsTaken
        checker.time = now
        switch event.kind {
        case .tick(let id, let incarnation):
            guard nodes[id]?.incarnation == incarnation, nodes[id]?.core != nil else { return }
            nodes[id]!.core!.tick()
            schedule(after: Self.tickInterval + nodes[id]!.clockSkew, .tick(id, incarnation: incarnation))
            pump(id)
        case .deliver(let message):
            deliver(message)
        case .syncDone(let id, let incarnation):
            guard nodes[id]?.incarnation == incarnation, nodes[id]?.core != nil else { return }
            completeReady(id)
            pump(id)
        case .entriesRead(let id, let incarnation, let fetch):
            guard nodes[id]?.incarnation == incarnation, nodes[id]?.core != nil else { return }
            // What the disk holds durably now: a crash since may have taken some, a snapshot
            // may have dropped them.
            if let entries = nodes[id]!.disk.entries(in: fetch.range, bytesMax: fetch.bytesMax), !entries.isEmpty {
                emit("n\(id) read back \(entries.first!.index)...\(entries.last!.index) for n\(fetch.member)")
                nodes[id]!.core!.entriesFetched(fetch, entries: entries)
            } else {
                emit("n\(id) could not read back \(fetch.range) for n\(fetch.member)")
                nodes[id]!.core!.entriesFetchFailed(fetch)
            }
            pump(id)
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
            if let node = nodes[id], node.core == nil { restart(id) }
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

    // MARK: Nodes and their Readys

    private mutating func deliver(_ message: Message) {
        guard !network.isCut(from: message.from, to: message.to) else {
            emit("cut   \(message)")
            return
        }
        guard nodes[message.to]?.core != nil else { return }
        emit("recv  \(message)")
        nodes[message.to]!.core!.step(message)
        pump(message.to)
    }

    /// Every message crosses the simulated network in its wire form, as the peer transport
    /// sends it, so the codec sees everything the core ever says. A snapshot chunk gets its
    /// bytes from the sender's snapshot on the way, as the node's shell fills them in.
    private mutating func send(_ messages: [Message]) {
        for var message in messages {
            if case .snapshotChunk(let chunk) = message.body, chunk.needsBytes {
                guard let data = nodes[message.from]?.snapshots[chunk.metadata.index], data.count == chunk.totalBytes else {
                    checker.failWireCodec("n\(message.from) sends a chunk of snapshot \(chunk.metadata.index), which it does not hold")
                    continue
                }
                message.body = .snapshotChunk(chunk.filled(with: Array(data[chunk.offset..<chunk.offset + chunk.length])))
            }
            let onTheWire: Message
            do {
                let frame = try PeerFrame(frame: PeerFrame.raft(group: 1, messages: [message]).encoded(), limits: PeerWireLimits())
                guard case .raft(_, let decoded) = frame, decoded == [message] else {
                    checker.failWireCodec("\(message) does not survive its wire form")
                    continue
                }
                onTheWire = decoded[0]
            } catch {
                checker.failWireCodec("\(message) does not decode: \(error)")
                continue
            }
            for delay in network.deliveryDelays(random: &random) {
                schedule(after: delay, .deliver(onTheWire))
            }
        }
    }

    /// Takes the node's next Ready if it has one and none is being persisted; while one is,
    /// sends the messages that may leave at once, as the node's shell does.
    private mutating func pump(_ id: NodeID) {
        if nodes[id]!.inFlightReady != nil, nodes[id]!.core != nil {
            send(nodes[id]!.core!.takeMessages())
            read(nodes[id]!.core!.takeEntryFetches(), on: id)
        }
        while nodes[id]!.inFlightReady == nil, let core = nodes[id]!.core, core.hasReady {
            let ready = nodes[id]!.core!.ready()
            if let soft = ready.softState {
                emit("n\(id) is \(soft.role) in term \(core.term), leader \(soft.leader.map { "n\($0)" } ?? "unknown")")
                if soft.role == .leader { checker.observeLeader(id, core: core) }
            }
            send(ready.messages)
            read(ready.entryFetches, on: id)
            if ready.mustSync {
                emit("n\(id) persists" + (ready.snapshot.map { " snapshot \($0.index)" } ?? "")
                    + (ready.entries.isEmpty ? "" : " entries \(ready.entries.first!.index)...\(ready.entries.last!.index)")
                    + (ready.hardState.map { " term \($0.term) vote \($0.vote ?? 0) commit \($0.commit)" } ?? ""))
                // The writes of `RaftStorage.persist`, with the sync left for later; the shell
                // keeps a snapshot's bytes in memory until it is whole (a crash loses them).
                let disk = nodes[id]!.disk
                for piece in ready.snapshotPieces {
                    if piece.startsTransfer { nodes[id]!.staged = [] }
                    precondition(piece.offset == nodes[id]!.staged.count, "snapshot bytes out of order")
                    nodes[id]!.staged += piece.bytes
                }
                if let metadata = ready.snapshot {
                    let received = Snapshot(metadata: metadata, data: nodes[id]!.staged)
                    nodes[id]!.staged = []
                    nodes[id]!.snapshots[metadata.index] = received.data
                    try! disk.installSnapshot(received)
                }
                try! disk.append(ready.entries)
                if let hard = ready.hardState { try! disk.setHardState(hard, commitMustBeDurable: ready.commitMustBeDurable) }
                nodes[id]!.inFlightReady = ready
                // Committed entries are durable here already: the shell applies them while the
                // sync runs, unless they wait on it (a snapshot, a membership change).
                nodes[id]!.appliedEarly = ready.snapshot == nil && !ready.commitMustBeDurable
                if nodes[id]!.appliedEarly {
                    for entry in ready.committedEntries { apply(entry, on: id) }
                }
                schedule(after: SimulatedTime.random(in: 1...profile.syncLatencyMax, using: &random), .syncDone(id, incarnation: nodes[id]!.incarnation))
                if nodes[id]!.crashBeforeNextSync {
                    crash(id)
                    schedule(after: SimulatedTime.random(in: 5...400, using: &random), .restart(id))
                }
                return
            }
            // A new commit index alone is written lazily: no sync, lost on a crash.
            if let hard = ready.hardState { try! nodes[id]!.disk.setHardState(hard) }
            nodes[id]!.inFlightReady = ready
            completeReady(id)
        }
    }

    /// Has the shell read entries back from the disk, as the node's does on its log lane.
    private mutating func read(_ fetches: [EntryFetch], on id: NodeID) {
        for fetch in fetches {
            schedule(after: SimulatedTime.random(in: 1...profile.syncLatencyMax, using: &random), .entriesRead(id, incarnation: nodes[id]!.incarnation, fetch))
        }
    }

    /// The Ready's writes are durable: send what waited on them, apply, advance.
    private mutating func completeReady(_ id: NodeID) {
        guard let ready = nodes[id]!.inFlightReady else { return }
        nodes[id]!.inFlightReady = nil
        if ready.mustSync { try! nodes[id]!.disk.sync() }
        if let metadata = ready.snapshot { checker.observeSnapshotInstalled(id, index: metadata.index) }
        if let first = ready.entries.first {
            let termBefore = ready.snapshot.map { $0.index == first.index - 1 ? $0.term : nil }
                ?? nodes[id]!.core!.term(at: first.index - 1)
            checker.observePersisted(id, entries: ready.entries, termBefore: termBefore)
        }
        send(ready.messagesAfterPersist)
        if let metadata = ready.snapshot, let data = nodes[id]!.snapshots[metadata.index] {
            emit("n\(id) installs snapshot at \(metadata.index)")
            nodes[id]!.machine = ValueLog(restoring: data, at: metadata.index)
        }
        if !nodes[id]!.appliedEarly {
            for entry in ready.committedEntries { apply(entry, on: id) }
        }
        nodes[id]!.appliedEarly = false
        if let gap = nodes[id]!.machine.gap {
            checker.failApplyOrder(id, expected: gap.expected, got: gap.got)
        }
        for read in ready.readStates { nodes[id]!.pendingReads.append(read) }
        nodes[id]!.core!.advance(ready)
        serveReads(id)
        checker.observeCommit(id, commit: nodes[id]!.core!.commitIndex, persisted: nodes[id]!.core!.persistedIndex)
        maybeCompact(id)
    }

    private mutating func apply(_ entry: Entry, on id: NodeID) {
        checker.observeApplied(id, entry: entry, nodeTerm: nodes[id]!.core!.term)
        nodes[id]!.machine.apply(entry)
        guard entry.kind == .normal, let value = ValueLog.value(in: entry) else { return }
        if let proposal = proposals[value], proposal.node == id, proposal.index == entry.index, proposal.term == entry.term,
            acknowledged[value] == nil
        {
            acknowledged[value] = entry.index
            checker.observeAcknowledged(index: entry.index)
            emit("ack   value \(value) at \(entry.index)")
        }
    }

    private mutating func serveReads(_ id: NodeID) {
        let applied = nodes[id]!.machine.appliedIndex
        while let read = nodes[id]!.pendingReads.first, read.index <= applied {
            nodes[id]!.pendingReads.removeFirst()
            guard let asked = reads.removeValue(forKey: read.requestID) else { continue }
            checker.observeRead(id, index: read.index, acknowledgedBeforeRequest: asked.acknowledgedBefore)
            emit("read  \(read.requestID) on n\(id) served at \(read.index)")
        }
    }

    private mutating func maybeCompact(_ id: NodeID) {
        let core = nodes[id]!.core!
        guard core.appliedIndex >= core.firstIndex + Self.snapshotEveryEntries else { return }
        let data = nodes[id]!.machine.snapshotData()
        let reference = nodes[id]!.core!.compact(snapshotBytes: data.count, retainingEntries: Self.entriesRetainedAfterSnapshot)
        nodes[id]!.snapshots[reference.metadata.index] = data
        try! nodes[id]!.disk.saveSnapshot(Snapshot(metadata: reference.metadata, data: data), compactTo: nodes[id]!.core!.firstIndex - 1)
        emit("n\(id) snapshots at \(reference.metadata.index) (\(data.count) bytes)")
    }

    // MARK: Crashes

    private mutating func crash(_ id: NodeID) {
        guard nodes[id]!.core != nil else { return }
        let note = nodes[id]!.disk.crash(random: &random)
        nodes[id]!.core = nil
        nodes[id]!.crashBeforeNextSync = false
        nodes[id]!.inFlightReady = nil
        nodes[id]!.appliedEarly = false
        nodes[id]!.staged = []
        nodes[id]!.snapshots = [:]
        nodes[id]!.pendingReads = []
        nodes[id]!.incarnation += 1
        emit("CRASH n\(id): \(note)")
    }

    private mutating func restart(_ id: NodeID) {
        let recovered = nodes[id]!.disk.recover()
        let config = Self.config(for: id, incarnation: nodes[id]!.incarnation, seed: options.seed, profile: profile)
        nodes[id]!.core = try! RaftNode(config: config, recovered: recovered)
        let snapshot = nodes[id]!.disk.snapshot
        nodes[id]!.machine = snapshot.map { ValueLog(restoring: $0.data, at: $0.metadata.index) } ?? ValueLog()
        if let snapshot { nodes[id]!.snapshots[snapshot.metadata.index] = snapshot.data }
        checker.observeRestart(id, lastIndex: recovered.entries.last?.index ?? recovered.snapshot?.metadata.index ?? 0)
        emit("RESTART n\(id): term \(recovered.hardState.term), snapshot \(recovered.snapshot?.metadata.index ?? 0), \(recovered.entries.count) entries")
        schedule(after: SimulatedTime.random(in: 1...Self.tickInterval, using: &random), .tick(id, incarnation: nodes[id]!.incarnation))
        pump(id)
    }

    // MARK: Client

    private func leaderNode() -> NodeID? {
        // The leader of the highest term among running nodes.
        nodes.values.compactMap { $0.core }.filter { $0.role == .leader }.max { $0.term < $1.term }?.id
    }

    private func currentMembers() -> Set<NodeID> {
        // The membership of the most advanced running node.
        let reference = nodes.values.compactMap { $0.core }.max { ($0.appliedIndex, $0.term) < ($1.appliedIndex, $1.term) }
        return reference?.membership.all ?? []
    }

    private mutating func clientPropose() {
        // A client talks to a random node and follows its leader hint once.
        let target = nodes.keys.sorted().randomElement(using: &random)!
        guard let core = nodes[target]?.core else { return }
        if core.role == .leader {
            _ = propose(on: target, count: Int.random(in: 1...3, using: &random))
        } else if let hint = core.leader, nodes[hint]?.core?.role == .leader {
            _ = propose(on: hint, count: Int.random(in: 1...3, using: &random))
        }
    }

    private mutating func propose(on id: NodeID, count: Int) -> [UInt64]? {
        let values = (0..<count).map { nextValue + UInt64($0) }
        do {
            let (term, indexes) = try nodes[id]!.core!.propose(values.map(ValueLog.payload))
            nextValue += UInt64(count)
            for (value, index) in zip(values, indexes) { proposals[value] = (id, term, index) }
            emit("prop  n\(id) values \(values.first!)...\(values.last!) at \(indexes)")
            pump(id)
            return values
        } catch {
            emit("prop  n\(id) refused: \(error)")
            return nil
        }
    }

    private mutating func clientRead() {
        let target = nodes.keys.sorted().randomElement(using: &random)!
        guard nodes[target]?.core != nil else { return }
        let id = nextReadID
        nextReadID += 1
        do {
            try nodes[target]!.core!.requestRead(id: id)
            reads[id] = (target, checker.acknowledgedMax)
            pump(target)
        } catch {
            emit("read  on n\(target) refused: \(error)")
        }
    }

    // MARK: Faults

    private mutating func injectFault() {
        let all = Set(nodes.keys)
        let fault = profile.nextFault(random: &random)
        faults += 1
        switch fault {
        case .crashLeader, .crashAny:
            let candidates = fault == .crashLeader ? leaderNode().map { [$0] } ?? [] : nodes.keys.filter { nodes[$0]!.core != nil }.sorted()
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
                guard let leaderID = leaderNode() else { return }
                network.partition([leaderID], from: all.subtracting([leaderID]))
                emit("FAULT isolate leader n\(leaderID)")
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
                if let leaderID = leaderNode(), Bool.random(using: &random), leaderID != from {
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
            guard let leaderID = leaderNode(), let core = nodes[leaderID]!.core else { return }
            guard let target = core.membership.voters.filter({ $0 != leaderID }).sorted().randomElement(using: &random) else { return }
            emit("FAULT transfer leadership n\(leaderID) -> n\(target)")
            try? nodes[leaderID]!.core!.transferLeadership(to: target)
            pump(leaderID)
        case .leaderReportedDead:
            let followers = all.sorted().filter { nodes[$0]!.core?.role == .follower && nodes[$0]!.core?.leader != nil }
            guard let follower = followers.randomElement(using: &random), let leaderID = nodes[follower]!.core!.leader else { return }
            emit("FAULT n\(follower) hears that its leader n\(leaderID) died")
            nodes[follower]!.core!.leaderReportedDead(leaderID)
            pump(follower)
        case .membershipChurn:
            guard case .idle = membershipChurn, let leaderID = leaderNode() else { return }
            let voters = nodes[leaderID]!.core!.membership.voters
            guard voters.count >= 3, let victim = voters.filter({ $0 != leaderID }).sorted().randomElement(using: &random) else { return }
            let replace = Bool.random(using: &random)
            membershipChurn = .removing(victim, replace: replace)
            emit("FAULT membership churn: remove n\(victim), then " + (replace ? "add a new node in its place" : "add it back"))
            schedule(after: 1, .membershipStep)
        }
    }

    /// An operator's procedure, retried until each step takes effect: remove a voter, (maybe
    /// wipe it), add it back as a learner, promote it once it has caught up.
    private mutating func advanceMembershipChurn() {
        defer {
            if case .idle = membershipChurn {} else { schedule(after: 40, .membershipStep) }
        }
        guard let leaderID = leaderNode() else { return }
        let membership = nodes[leaderID]!.core!.membership
        func propose(_ change: MembershipChange) {
            do {
                try nodes[leaderID]!.core!.proposeMembershipChange(change)
                emit("member n\(leaderID) proposes \(change)")
                pump(leaderID)
            } catch {
                emit("member n\(leaderID) refused \(change): \(error)")
            }
        }
        switch membershipChurn {
        case .idle:
            return
        case .removing(let id, let replace):
            if !membership.contains(id) {
                if replace {
                    // A wiped node must come back under a new id: under its old one, leaders
                    // that remember it would take its empty log for the one it acknowledged.
                    crash(id)
                    nodes[id] = nil
                    let newID = nextNodeID
                    nextNodeID += 1
                    let config = Self.config(for: newID, incarnation: 0, seed: options.seed, profile: profile)
                    nodes[newID] = SimulatedNode(id: newID, core: try! RaftNode(config: config, recovered: RaftNode.RecoveredState(hardState: HardState(), snapshot: nil, entries: [])))
                    schedule(after: SimulatedTime.random(in: 1...Self.tickInterval, using: &random), .tick(newID, incarnation: 0))
                    emit("member n\(id) replaced by a new, empty node n\(newID)")
                    membershipChurn = .adding(newID)
                } else {
                    membershipChurn = .adding(id)
                }
            } else if id == leaderID {
                membershipChurn = .idle
            } else {
                propose(.removeNode(id))
            }
        case .adding(let id):
            if membership.learners.contains(id) {
                membershipChurn = .promoting(id)
            } else if membership.voters.contains(id) {
                membershipChurn = .idle
            } else {
                propose(.addLearner(id))
            }
        case .promoting(let id):
            if membership.voters.contains(id) {
                emit("member n\(id) is a voter again")
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
        case deliver(Message)
        case syncDone(NodeID, incarnation: Int)
        /// The shell read back entries a leader asked for: it hands them over.
        case entriesRead(NodeID, incarnation: Int, EntryFetch)
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

enum MembershipChurn {
    case idle
    case removing(NodeID, replace: Bool)
    case adding(NodeID)
    case promoting(NodeID)
}

struct SimulatedNode {
    let id: NodeID
    /// Nil while crashed.
    var core: RaftNode?
    /// The same storage interface the real node uses, in memory and crashable.
    let disk = MemoryStorage()
    var machine = ValueLog()
    var inFlightReady: Ready?
    /// The in-flight Ready's committed entries were applied when it was taken.
    var appliedEarly = false
    /// What the shell holds of the snapshots this node took or installed (a transfer goes on
    /// with the one it began), and of one being received.
    var snapshots: [LogIndex: [UInt8]] = [:]
    var staged: [UInt8] = []
    var pendingReads: [ReadState] = []
    var incarnation = 0
    /// Armed by a fault: crash right after the next Ready's messages leave, before its sync.
    var crashBeforeNextSync = false
    /// This node's clock runs a little fast or slow.
    let clockSkew: SimulatedTime

    init(id: NodeID, core: RaftNode) {
        self.id = id
        self.core = core
        clockSkew = id % 3
    }
}
