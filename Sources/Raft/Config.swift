/// Everything a Raft node needs to start, with every resource bound named and checked.
public struct Config: Sendable {
    /// This node's id; never 0.
    public var id: NodeID
    /// Ticks without hearing from a leader before a follower campaigns. The actual timeout
    /// is drawn from [electionTimeoutTicks, 2 * electionTimeoutTicks) by `randomSeed`.
    public var electionTimeoutTicks: Int = 10
    /// Ticks between a leader's heartbeats; must be well under the election timeout.
    public var heartbeatIntervalTicks: Int = 1
    /// Seeds the election-timeout jitter. Different nodes should get different seeds.
    public var randomSeed: UInt64
    /// Ask for pre-votes before campaigning, so a node that was cut off does not disrupt
    /// a healthy leader with a higher term when it comes back.
    public var preVote: Bool = true
    /// A leader steps down when it has not heard from a quorum within an election timeout,
    /// and followers ignore vote requests while their leader's lease holds.
    public var checkQuorum: Bool = true

    /// Most entries in one AppendEntries message.
    public var appendEntriesMax: Int = 512
    /// Most payload bytes in one AppendEntries message (at least one entry is always sent).
    public var appendBytesMax: Int = 1 << 20
    /// Most AppendEntries in flight to one follower in the replicate state.
    public var inflightAppendsMax: Int = 64
    /// Most payload bytes in flight to one follower in the replicate state.
    public var inflightBytesMax: Int = 32 << 20
    /// Most payload bytes a leader holds proposed but not yet committed; proposals beyond
    /// it are rejected, so a stalled quorum cannot grow memory without bound.
    public var uncommittedBytesMax: Int = 64 << 20
    /// Most entries in one proposal.
    public var proposalEntriesMax: Int = 4096
    /// Most payload bytes of one entry; one larger than `appendBytesMax` goes in an
    /// AppendEntries of its own.
    public var entryBytesMax: Int = 1 << 20
    /// Bytes of snapshot data per InstallSnapshot chunk. The follower's shell keeps each on
    /// disk before it acknowledges it, and at most `snapshotChunksInFlightMax` chunks are
    /// unacknowledged: no snapshot is ever held whole in memory, so there is no bound on
    /// its size.
    public var snapshotChunkBytesMax: Int = 1 << 20
    /// Snapshot chunks sent to a follower ahead of its acknowledgements: a transfer goes at
    /// this many chunks per round trip, not one.
    public var snapshotChunksInFlightMax: Int = 8
    /// Most payload bytes of log a leader keeps past its snapshot for a follower behind it
    /// (one stopped a while, or catching up after installing a snapshot), so that the
    /// follower catches up from the log rather than from another snapshot: kept only while
    /// less than the snapshot would send. The leader's disk pays for it; 0 keeps nothing.
    public var laggingFollowerLogBytesMax: Int = 4 << 30
    /// Most payload bytes of committed entries handed to the application in one Ready.
    public var applyBytesMax: Int = 16 << 20
    /// Most payload bytes of applied entries kept in memory: older ones keep only their
    /// term and size, and a follower that needs them is sent them from disk (the shell
    /// reads them: `Ready.entryFetches`). What a backlog costs in memory does not grow with
    /// the log.
    public var entryCacheBytesMax: Int = 8 << 20
    /// Most read-index requests waiting on a leader for confirmation.
    public var pendingReadsMax: Int = 4096

    public init(id: NodeID, randomSeed: UInt64) {
        self.id = id
        self.randomSeed = randomSeed
    }

    public struct Invalid: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// Throws naming the first bound that is out of range and why it matters.
    /// Far beyond any sensible timeout; keeps the randomized timeout (up to twice this) in range.
    public static let electionTimeoutTicksMax = 1 << 20

    public func validate() throws(Invalid) {
        func require(_ condition: Bool, _ why: String) throws(Invalid) {
            if !condition { throw Invalid(description: why) }
        }
        try require(id != 0, "id must not be 0: 0 means 'no node'")
        try require(heartbeatIntervalTicks > 0, "heartbeatIntervalTicks must be positive")
        try require(electionTimeoutTicks > heartbeatIntervalTicks,
                    "electionTimeoutTicks must exceed heartbeatIntervalTicks, or followers campaign between heartbeats")
        try require(electionTimeoutTicks <= Self.electionTimeoutTicksMax,
                    "electionTimeoutTicks must be at most \(Self.electionTimeoutTicksMax): the randomized timeout doubles it")
        try require(appendEntriesMax > 0, "appendEntriesMax must be positive")
        try require(appendBytesMax > 0, "appendBytesMax must be positive")
        try require(inflightAppendsMax > 0, "inflightAppendsMax must be positive")
        try require(inflightBytesMax >= appendBytesMax, "inflightBytesMax must hold at least one full AppendEntries")
        try require(uncommittedBytesMax >= entryBytesMax, "uncommittedBytesMax must admit at least one largest entry")
        try require(proposalEntriesMax > 0, "proposalEntriesMax must be positive")
        try require(entryBytesMax > 0, "entryBytesMax must be positive")
        try require(snapshotChunkBytesMax > 0, "snapshotChunkBytesMax must be positive")
        try require(snapshotChunksInFlightMax > 0, "snapshotChunksInFlightMax must be positive")
        try require(applyBytesMax > 0, "applyBytesMax must be positive")
        try require(laggingFollowerLogBytesMax >= 0, "laggingFollowerLogBytesMax must not be negative")
        try require(entryCacheBytesMax >= 0, "entryCacheBytesMax must not be negative")
        try require(pendingReadsMax > 0, "pendingReadsMax must be positive")
    }
}
