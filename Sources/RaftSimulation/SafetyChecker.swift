import Raft

/// A broken promise found by the checker, with where and when it was seen.
public struct Violation: Error, Equatable, Sendable, CustomStringConvertible {
    public var property: String
    public var detail: String
    public var step: Int
    public var time: SimulatedTime

    public var description: String { "\(property) at step \(step) (t=\(time)ms): \(detail)" }
}

/// Raft's safety properties, checked from the outside. It keeps its own model of what was
/// elected, written, committed and acknowledged, and knows nothing of the core's internals
/// beyond what a node exposes to its application.
struct SafetyChecker {
    private struct EntryDigest: Equatable {
        var kind: Entry.Kind
        var data: [UInt8]
        var previousTerm: Term?
    }

    private struct EntryKey: Hashable {
        var index: LogIndex
        var term: Term
    }

    private var leaderOfTerm: [Term: NodeID] = [:]
    private var written: [EntryKey: EntryDigest] = [:]
    /// Every entry any node applied, by index: what is committed, cluster-wide.
    private var committed: [LogIndex: Entry] = [:]
    private(set) var committedMax: LogIndex = 0
    /// For each committed index, a term by which it was committed: the least term of any
    /// node that applied it.
    private var committedByTerm: [LogIndex: Term] = [:]
    /// The commit index each running node last showed; reset when it restarts.
    private var lastCommit: [NodeID: LogIndex] = [:]
    /// How much of that it held durably then.
    private var lastDurableCommit: [NodeID: LogIndex] = [:]
    /// The last entry each node wrote (or recovered with).
    private var lastWritten: [NodeID: LogIndex] = [:]
    /// The highest index of any acknowledged proposal, for linearizable reads.
    private(set) var acknowledgedMax: LogIndex = 0
    private(set) var violations: [Violation] = []

    var step = 0
    var time: SimulatedTime = 0

    private mutating func fail(_ property: String, _ detail: String) {
        violations.append(Violation(property: property, detail: detail, step: step, time: time))
    }

    /// Election safety (§5.2) and leader completeness (§5.4): at most one leader per term,
    /// and a new leader's log holds every committed entry.
    mutating func observeLeader(_ node: NodeID, core: RaftNode) {
        let term = core.term
        if let other = leaderOfTerm[term] {
            if other != node { fail("election safety", "nodes \(other) and \(node) both lead term \(term)") }
            return
        }
        leaderOfTerm[term] = node
        guard committedMax >= core.firstIndex else { return }
        for index in core.firstIndex...committedMax {
            // Only entries committed in an earlier term bind this leader: one elected in a
            // term that ended before another leader committed the entry may lack it.
            guard let entry = committed[index], let committedBy = committedByTerm[index], committedBy < term else { continue }
            if core.term(at: index) != entry.term {
                fail("leader completeness", "leader \(node) of term \(term) lacks committed entry \(index) (term \(entry.term)); has term \(core.term(at: index).map(String.init) ?? "none")")
                return
            }
        }
    }

    /// Log matching (§5.3): two entries with the same index and term hold the same data and
    /// follow the same term; and no node ever replaces a committed entry.
    mutating func observePersisted(_ node: NodeID, entries: [Entry], termBefore: Term?) {
        // A stale leader may write its own entries at indexes committed elsewhere; what it
        // may never do is rewrite what it had itself seen committed.
        if let first = entries.first, let commit = lastDurableCommit[node], let written = lastWritten[node],
            first.index <= min(commit, written)
        {
            fail("committed prefix", "node \(node) rewrote entries from \(first.index) though it had committed up to \(commit) and written up to \(written)")
        }
        if let last = entries.last { lastWritten[node] = last.index }
        var previousTerm = termBefore
        for entry in entries {
            let key = EntryKey(index: entry.index, term: entry.term)
            let digest = EntryDigest(kind: entry.kind, data: entry.data, previousTerm: previousTerm)
            if let seen = written[key] {
                if seen.kind != digest.kind || seen.data != digest.data {
                    fail("log matching", "node \(node) wrote entry \(entry.index)/\(entry.term) with other contents than another node")
                } else if let a = seen.previousTerm, let b = digest.previousTerm, a != b {
                    fail("log matching", "entry \(entry.index)/\(entry.term) follows term \(a) on one node and \(b) on node \(node)")
                }
            } else {
                written[key] = digest
            }
            previousTerm = entry.term
        }
    }

    /// State machine safety (§5.4.3): no two nodes apply different entries at one index.
    /// `nodeTerm` is the applying node's term: the entry was committed in that term or an
    /// earlier one, since a node learns of commitment only from a leader of its term or an
    /// older one.
    mutating func observeApplied(_ node: NodeID, entry: Entry, nodeTerm: Term) {
        committedByTerm[entry.index] = min(committedByTerm[entry.index] ?? nodeTerm, nodeTerm)
        if let done = committed[entry.index] {
            if done != entry {
                fail("state machine safety", "node \(node) applied \(entry.index)/\(entry.term) but \(entry.index)/\(done.term) was applied elsewhere")
            }
            return
        }
        committed[entry.index] = entry
        committedMax = max(committedMax, entry.index)
    }

    /// A node's commit index only grows while it runs. What counts against rewriting is
    /// the committed part of what it holds durably: a follower's commit index may already
    /// cover entries it has received but not yet written, after replacing a stale suffix.
    mutating func observeCommit(_ node: NodeID, commit: LogIndex, persisted: LogIndex) {
        if let last = lastCommit[node], commit < last {
            fail("committed prefix", "node \(node) commit index went back from \(last) to \(commit)")
        }
        lastCommit[node] = commit
        lastDurableCommit[node] = max(lastDurableCommit[node] ?? 0, min(commit, persisted))
    }

    /// A node restarted with `lastIndex` entries durable (or a snapshot there).
    mutating func observeRestart(_ node: NodeID, lastIndex: LogIndex) {
        lastCommit[node] = nil
        lastDurableCommit[node] = nil
        lastWritten[node] = lastIndex
    }

    mutating func observeSnapshotInstalled(_ node: NodeID, index: LogIndex) {
        lastWritten[node] = index
    }

    mutating func observeAcknowledged(index: LogIndex) {
        acknowledgedMax = max(acknowledgedMax, index)
    }

    /// A read may not return an index older than a write acknowledged before it was asked.
    mutating func observeRead(_ node: NodeID, index: LogIndex, acknowledgedBeforeRequest: LogIndex) {
        if index < acknowledgedBeforeRequest {
            fail("linearizable read", "node \(node) served a read at \(index), but \(acknowledgedBeforeRequest) was acknowledged before it was asked")
        }
    }

    /// After the final heal: every acknowledged proposal is applied on every member exactly
    /// once, at the index it was acknowledged at.
    mutating func checkAcknowledged(_ acknowledged: [UInt64: LogIndex], appliedByNode: [NodeID: [UInt64: [LogIndex]]]) {
        for (value, index) in acknowledged.sorted(by: { $0.value < $1.value }) {
            for (node, applied) in appliedByNode.sorted(by: { $0.key < $1.key }) {
                let at = applied[value] ?? []
                if at != [index] {
                    fail("acknowledged proposal lost", "value \(value) acknowledged at \(index) is applied at \(at) on node \(node)")
                    return
                }
            }
        }
    }

    /// Committed entries reach the state machine in index order, none skipped.
    mutating func failApplyOrder(_ node: NodeID, expected: LogIndex, got: LogIndex) {
        fail("apply order", "node \(node) was handed entry \(got) when \(expected) was next")
    }

    /// A message that does not survive encoding and decoding unchanged.
    mutating func failWireCodec(_ detail: String) {
        fail("wire codec", detail)
    }

    mutating func failLiveness(_ detail: String) {
        fail("liveness", detail)
    }
}
