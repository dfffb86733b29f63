import XCTest

@testable import Raft

/// A deterministic in-memory cluster for the Raft core: every node has a "disk" that
/// persists each Ready exactly as `Ready`'s documentation says, and one FIFO queue carries
/// every message. Nothing here reads a clock or unseeded randomness: time moves only when a
/// test ticks, and messages move only when it stabilizes or delivers.
///
/// It also checks, on every Ready, the invariants a shell relies on: the Ready contract
/// (promises leave only after persisting, committed entries are durable), one vote per term,
/// one leader per term, and that no two nodes ever apply different entries at one index.
final class TestNetwork {
    /// What one node has made durable.
    struct Disk {
        var hardState = HardState()
        var snapshot: Snapshot?
        var entries: [Entry] = []

        /// What a restart reads back: the snapshot and the entries after it. (The entries
        /// `compact(retainingEntries:)` keeps at or before the snapshot's index serve lagging
        /// followers from memory; a recovered log starts right after the snapshot.)
        var recovered: RaftNode.RecoveredState {
            let after = snapshot?.metadata.index ?? 0
            let reference = snapshot.map { SnapshotReference(metadata: $0.metadata, bytes: TestNetwork.transfer(of: $0.data).count) }
            return RaftNode.RecoveredState(hardState: hardState, snapshot: reference, entries: entries.filter { $0.index > after })
        }
    }

    private(set) var configs: [NodeID: Config] = [:]
    /// The running nodes; a crashed node is absent until restarted.
    private(set) var nodes: [NodeID: RaftNode] = [:]
    private(set) var disks: [NodeID: Disk] = [:]
    /// The data of the normal entries each state machine applied, in order.
    private(set) var applied: [NodeID: [[UInt8]]] = [:]
    private(set) var readStates: [NodeID: [ReadState]] = [:]
    private(set) var installedSnapshots: [NodeID: [Snapshot]] = [:]
    /// What each node, as a shell, has received of a snapshot being sent to it.
    private var staged: [NodeID: [UInt8]] = [:]
    /// Every snapshot each node took or installed, by index: a transfer goes on with the
    /// snapshot it began after a newer one is taken.
    private var snapshots: [NodeID: [LogIndex: Snapshot]] = [:]

    /// Sent and not yet delivered, oldest first.
    var queue: [Message] = []
    /// Every message that left a node since the last `clearHistory()`, delivered or not.
    private(set) var sent: [Message] = []
    private(set) var dropped: [Message] = []
    /// Every Ready handed out since the last `clearHistory()`, with its node.
    private(set) var readies: [(id: NodeID, ready: Ready)] = []

    /// A message matching any rule is dropped on delivery.
    var dropRules: [(Message) -> Bool] = []
    private(set) var isolated: Set<NodeID> = []
    /// Nodes whose disk is slow: their Ready is taken and its `messages` sent, but it is
    /// persisted (and its `messagesAfterPersist` sent, and the node advanced) only on
    /// `flushDisk`.
    var slowDisks: Set<NodeID> = []
    private(set) var unpersisted: [NodeID: Ready] = [:]

    private var appliedIndex: [NodeID: LogIndex] = [:]
    private var appliedAt: [LogIndex: Entry] = [:]
    private var leaderOfTerm: [Term: NodeID] = [:]
    private var seeds: SeededGenerator
    private let configure: (inout Config) -> Void

    // MARK: Building

    /// A new group whose founding voters are `voters`.
    init(voters: [NodeID], seed: UInt64 = 1, configure: @escaping (inout Config) -> Void = { _ in }) {
        seeds = SeededGenerator(seed: seed)
        self.configure = configure
        for id in voters {
            let config = makeConfig(id)
            nodes[id] = try! RaftNode(config: config, bootstrapVoters: Set(voters))
            disks[id] = Disk()
            applied[id] = []
        }
        stabilize()
    }

    /// A group restarted from the given disks: lets a test set up logs and terms exactly.
    /// With `settle: false` no Ready is handled yet (committed entries are not yet applied).
    init(
        recovered states: [NodeID: Disk], settle: Bool = true, seed: UInt64 = 1,
        configure: @escaping (inout Config) -> Void = { _ in }
    ) {
        seeds = SeededGenerator(seed: seed)
        self.configure = configure
        for id in states.keys.sorted() {
            _ = makeConfig(id)
            disks[id] = states[id]!
            restart(id)
        }
        if settle { stabilize() }
    }

    private func makeConfig(_ id: NodeID) -> Config {
        var config = Config(id: id, randomSeed: seeds.next())
        configure(&config)
        configs[id] = config
        return config
    }

    /// A node that joins with an empty state and waits for a leader to add it.
    func join(_ id: NodeID) {
        let config = makeConfig(id)
        disks[id] = Disk()
        nodes[id] = try! RaftNode(config: config, recovered: Disk().recovered)
        applied[id] = []
        appliedIndex[id] = 0
    }

    /// A log whose entry 1 is the founding membership (term 1), followed by one normal
    /// entry per element of `terms`, in that term; entry i of term t carries "i@t".
    static func log(voters: Set<NodeID>, terms: [Term]) -> [Entry] {
        var entries = [Entry(term: 1, index: 1, kind: .membershipChange, data: Membership(voters: voters).encoded())]
        for (offset, term) in terms.enumerated() {
            let index = LogIndex(offset + 2)
            entries.append(Entry(term: term, index: index, data: Array("\(index)@\(term)".utf8)))
        }
        return entries
    }

    // MARK: Access

    /// The running node `id`; mutate through it to propose, read, transfer.
    subscript(id: NodeID) -> RaftNode {
        get { nodes[id]! }
        set { nodes[id] = newValue }
    }

    var leaders: [NodeID] { nodes.keys.sorted().filter { nodes[$0]!.role == .leader } }

    func clearHistory() {
        sent = []
        dropped = []
        readies = []
    }

    /// Messages sent since the last `clearHistory()` that match `predicate`.
    func sent(where predicate: (Message) -> Bool) -> [Message] { sent.filter(predicate) }

    // MARK: Faults

    func isolate(_ id: NodeID) { isolated.insert(id) }

    /// Drops every message between `a` and `b`, both ways.
    func cut(_ a: NodeID, _ b: NodeID) {
        dropRules.append { ($0.from == a && $0.to == b) || ($0.from == b && $0.to == a) }
    }

    /// Lifts every isolation and drop rule.
    func heal() {
        isolated = []
        dropRules = []
    }

    /// Stops `id`: what it has not persisted, and the messages it has not received, are lost.
    func crash(_ id: NodeID) {
        nodes[id] = nil
        staged[id] = nil
        unpersisted[id] = nil
        queue.removeAll { $0.to == id }
    }

    /// Starts `id` again from its disk, its state machine rebuilt from the snapshot.
    func restart(_ id: NodeID) {
        let disk = disks[id]!
        nodes[id] = try! RaftNode(config: configs[id]!, recovered: disk.recovered)
        unpersisted[id] = nil
        applied[id] = disk.snapshot.map { Self.decode($0.data) } ?? []
        appliedIndex[id] = disk.snapshot?.metadata.index ?? 0
    }

    // MARK: Driving

    /// Handles one Ready of `id`, if it has one and its disk is not busy. Returns whether it did.
    @discardableResult
    func processReady(_ id: NodeID, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        guard let node = nodes[id], unpersisted[id] == nil, node.hasReady else { return false }
        let ready = nodes[id]!.ready()
        readies.append((id, ready))
        for message in ready.messages where message.body.promisesDurability {
            XCTFail("node \(id) sent \(message) before persisting", file: file, line: line)
        }
        send(ready.messages)
        serve(ready.entryFetches, on: id)
        if slowDisks.contains(id) {
            unpersisted[id] = ready
        } else {
            finish(id, ready, file: file, line: line)
        }
        return true
    }

    /// Nodes whose shells keep the fetches asked of them in `heldFetches` instead of serving.
    var holdingFetches: Set<NodeID> = []
    private(set) var heldFetches: [NodeID: [EntryFetch]] = [:]

    /// Reads back from the disk the entries a leader asks for, as a shell does.
    private func serve(_ fetches: [EntryFetch], on id: NodeID) {
        if holdingFetches.contains(id) {
            heldFetches[id, default: []] += fetches
            return
        }
        for fetch in fetches {
            let stored = disks[id]!.entries.filter { fetch.range.contains($0.index) }
            var entries: [Entry] = []
            var bytes = 0
            for entry in stored.sorted(by: { $0.index < $1.index }) where entries.isEmpty || bytes + entry.payloadBytes <= fetch.bytesMax {
                guard entry.index == (entries.last?.index ?? fetch.range.lowerBound - 1) + 1 else { break }
                entries.append(entry)
                bytes += entry.payloadBytes
            }
            if entries.isEmpty { nodes[id]!.entriesFetchFailed(fetch) } else { nodes[id]!.entriesFetched(fetch, entries: entries) }
        }
    }

    /// Completes the persistence of the Ready a slow disk is holding.
    func flushDisk(_ id: NodeID, file: StaticString = #filePath, line: UInt = #line) {
        guard let ready = unpersisted.removeValue(forKey: id) else { return }
        finish(id, ready, file: file, line: line)
    }

    private func finish(_ id: NodeID, _ ready: Ready, file: StaticString, line: UInt) {
        persist(id, ready, file: file, line: line)
        send(ready.messagesAfterPersist)
        apply(id, ready, file: file, line: line)
        readStates[id, default: []] += ready.readStates
        nodes[id]!.advance(ready)
        let node = nodes[id]!
        if node.role == .leader {
            if let other = leaderOfTerm[node.term], other != id {
                XCTFail("two leaders in term \(node.term): \(other) and \(id)", file: file, line: line)
            }
            leaderOfTerm[node.term] = id
        }
    }

    private func persist(_ id: NodeID, _ ready: Ready, file: StaticString, line: UInt) {
        var disk = disks[id]!
        for entry in ready.committedEntries where !disk.entries.contains(entry) {
            XCTFail("node \(id) handed out committed entry \(entry.index) before it was durable", file: file, line: line)
        }
        for piece in ready.snapshotPieces {
            if piece.startsTransfer { staged[id] = [] }
            if piece.offset != staged[id]?.count { XCTFail("node \(id) was handed snapshot bytes at \(piece.offset) out of order", file: file, line: line) }
            staged[id, default: []] += piece.bytes
        }
        if let metadata = ready.snapshot {
            let transfer = staged.removeValue(forKey: id) ?? []
            guard transfer.first == Self.transferVersion else {
                XCTFail("node \(id) installs a snapshot it did not receive whole", file: file, line: line)
                return
            }
            disk.snapshot = Snapshot(metadata: metadata, data: Array(transfer.dropFirst()))
            snapshots[id, default: [:]][metadata.index] = disk.snapshot
            disk.entries = []
        }
        if let first = ready.entries.first {
            disk.entries.removeAll { $0.index >= first.index }
            disk.entries += ready.entries
        }
        if let hard = ready.hardState {
            if hard.term < disk.hardState.term {
                XCTFail("node \(id) term went back from \(disk.hardState.term) to \(hard.term)", file: file, line: line)
            }
            if hard.term == disk.hardState.term, let before = disk.hardState.vote, hard.vote != before {
                XCTFail("node \(id) changed its vote in term \(hard.term)", file: file, line: line)
            }
            disk.hardState = hard
        }
        disks[id] = disk
    }

    private func apply(_ id: NodeID, _ ready: Ready, file: StaticString, line: UInt) {
        if ready.snapshot != nil, let snapshot = disks[id]?.snapshot {
            applied[id] = Self.decode(snapshot.data)
            appliedIndex[id] = snapshot.metadata.index
            installedSnapshots[id, default: []].append(snapshot)
        }
        for entry in ready.committedEntries {
            if entry.index != appliedIndex[id, default: 0] + 1 {
                XCTFail("node \(id) applied \(entry.index) after \(appliedIndex[id, default: 0])", file: file, line: line)
            }
            if let other = appliedAt[entry.index], other != entry {
                XCTFail("safety: index \(entry.index) applied as \(other) and as \(entry)", file: file, line: line)
            }
            appliedAt[entry.index] = entry
            appliedIndex[id] = entry.index
            if entry.kind == .normal { applied[id, default: []].append(entry.data) }
        }
    }

    /// Sends as a shell does: a snapshot chunk gets its bytes from the sender's snapshot.
    private func send(_ messages: [Message]) {
        for message in messages {
            var message = message
            if case .snapshotChunk(let chunk) = message.body, chunk.needsBytes {
                guard let snapshot = snapshots[message.from]?[chunk.metadata.index] ?? disks[message.from]?.snapshot,
                    snapshot.metadata == chunk.metadata
                else {
                    XCTFail("node \(message.from) sends a chunk of a snapshot it does not hold: \(message)")
                    continue
                }
                let transfer = Self.transfer(of: snapshot.data)
                message.body = .snapshotChunk(chunk.filled(with: Array(transfer[chunk.offset..<chunk.offset + chunk.length])))
            }
            sent.append(message)
            queue.append(message)
        }
    }

    private func shouldDrop(_ m: Message) -> Bool {
        nodes[m.to] == nil || isolated.contains(m.from) || isolated.contains(m.to) || dropRules.contains { $0(m) }
    }

    /// Delivers the queued messages matching `predicate` (all by default), in order.
    /// Returns whether any was taken off the queue.
    @discardableResult
    func deliver(where predicate: (Message) -> Bool = { _ in true }) -> Bool {
        let batch = queue.filter(predicate)
        queue.removeAll(where: predicate)
        for message in batch {
            if shouldDrop(message) {
                dropped.append(message)
            } else {
                nodes[message.to]!.step(message)
            }
        }
        return !batch.isEmpty
    }

    /// Handles Readys and delivers messages until nothing moves; fails the test if the
    /// network keeps busy for `roundsMax` rounds.
    func stabilize(roundsMax: Int = 1_000, file: StaticString = #filePath, line: UInt = #line) {
        for _ in 0..<roundsMax {
            var busy = false
            for id in nodes.keys.sorted() {
                if processReady(id, file: file, line: line) { busy = true }
            }
            if deliver() { busy = true }
            if !busy { return }
        }
        XCTFail("the network did not stabilize within \(roundsMax) rounds", file: file, line: line)
    }

    /// Ticks `ids` (every running node by default) `times` times, stabilizing after each tick.
    func tick(_ ids: [NodeID]? = nil, times: Int = 1, file: StaticString = #filePath, line: UInt = #line) {
        for _ in 0..<times {
            for id in ids ?? nodes.keys.sorted() where nodes[id] != nil { nodes[id]!.tick() }
            stabilize(file: file, line: line)
        }
    }

    /// Ticks `id` alone until it campaigns, and stabilizes; fails unless it ends up leader.
    func elect(_ id: NodeID, file: StaticString = #filePath, line: UInt = #line) {
        for _ in 0..<(6 * configs[id]!.electionTimeoutTicks) {
            if nodes[id]!.role == .leader { break }
            tick([id], file: file, line: line)
        }
        XCTAssertEqual(nodes[id]!.role, .leader, "node \(id) did not win an election", file: file, line: line)
    }

    /// Ticks `ids` (every running node by default) until `condition` holds, at most `timesMax` times.
    func tick(_ ids: [NodeID]? = nil, until condition: () -> Bool, timesMax: Int = 200, file: StaticString = #filePath, line: UInt = #line) {
        for _ in 0..<timesMax {
            if condition() { break }
            tick(ids, file: file, line: line)
        }
        XCTAssertTrue(condition(), "condition not reached within \(timesMax) ticks", file: file, line: line)
    }

    // MARK: Snapshots

    /// Snapshots the state machine of `id` at its applied index and compacts its log and disk.
    @discardableResult
    func compact(_ id: NodeID, retainingEntries: Int = 0) -> Snapshot {
        let data = Self.encode(applied[id]!)
        let reference = nodes[id]!.compact(snapshotBytes: Self.transfer(of: data).count, retainingEntries: retainingEntries)
        let snapshot = Snapshot(metadata: reference.metadata, data: data)
        let firstIndex = nodes[id]!.firstIndex
        disks[id]!.snapshot = snapshot
        disks[id]!.entries.removeAll { $0.index < firstIndex }
        snapshots[id, default: [:]][snapshot.metadata.index] = snapshot
        return snapshot
    }

    /// What a follower receives for a snapshot: a version byte, then the state machine's
    /// bytes (which may be none).
    static let transferVersion: UInt8 = 1

    static func transfer(of data: [UInt8]) -> [UInt8] { [transferVersion] + data }

    /// The state machine's bytes: each applied payload as a u32 little-endian length and its bytes.
    static func encode(_ payloads: [[UInt8]]) -> [UInt8] {
        var bytes: [UInt8] = []
        for payload in payloads {
            for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: payload.count >> shift)) }
            bytes += payload
        }
        return bytes
    }

    static func decode(_ bytes: [UInt8]) -> [[UInt8]] {
        var payloads: [[UInt8]] = []
        var offset = 0
        while offset + 4 <= bytes.count {
            var count = 0
            for i in 0..<4 { count |= Int(bytes[offset + i]) << (8 * i) }
            payloads.append(Array(bytes[(offset + 4)..<(offset + 4 + count)]))
            offset += 4 + count
        }
        return payloads
    }
}

/// The bytes of a string, for readable payloads.
func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }

extension Message.Body {
    /// Messages that promise something about the sender's disk: its vote, or what it holds.
    var promisesDurability: Bool {
        switch self {
        case .vote, .voteResponse, .appendResponse: return true
        default: return false
        }
    }

    var isAppendWithEntries: Bool {
        if case .append(_, _, let entries, _) = self { return !entries.isEmpty }
        return false
    }

    var appendedEntries: [Entry] {
        if case .append(_, _, let entries, _) = self { return entries }
        return []
    }

    var isTransferVote: Bool {
        if case .vote(_, _, true) = self { return true }
        return false
    }

    var isAppendReject: Bool {
        if case .appendResponse(.reject) = self { return true }
        return false
    }

    var snapshotChunk: SnapshotChunk? {
        if case .snapshotChunk(let chunk) = self { return chunk }
        return nil
    }
}

/// Asserts that `body` throws exactly `expected`.
func assertThrows<E: Error & Equatable, T>(
    _ expected: E, _ body: @autoclosure () throws(E) -> T, file: StaticString = #filePath, line: UInt = #line
) {
    do {
        _ = try body()
        XCTFail("expected \(expected), nothing thrown", file: file, line: line)
    } catch {
        XCTAssertEqual(error, expected, file: file, line: line)
    }
}
