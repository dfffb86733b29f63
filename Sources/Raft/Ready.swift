/// Everything the core asks the shell to do, gathered since the last `advance`.
///
/// The shell MUST handle a Ready in this order, then call `RaftNode.advance(_:)` before
/// asking for the next one:
/// 1. `messages` may be sent at once, even before anything is persisted: they are the
///    leader's appends, heartbeats and snapshot chunks, answers to heartbeats, pre-votes
///    and read-index traffic, none of which promises anything about this node's disk. This
///    is what lets a leader replicate while its own fsync is in flight. While the shell
///    persists, more of them gather; `RaftNode.takeMessages()` hands them out early.
/// 2. Persist, in this order: `snapshotPieces` (keep each piece's bytes at its offset of
///    the snapshot being received; a piece at offset 0 starts a new transfer), then
///    `snapshot` (if any: the transfer is complete, install it), then `entries` (replacing
///    any stored entries from `entries.first.index` on), then `hardState` (if any); then
///    make them durable with one sync. `hardState.commit` is a hint and may be persisted
///    lazily; `term` and `vote` may not.
/// 3. Only then send `messagesAfterPersist`: votes and acknowledgements, which promise
///    that what they acknowledge is on this node's disk (a snapshot's bytes among them).
/// 4. Restore the state machine from `snapshot` (if any), then apply `committedEntries`
///    in order. Every committed entry handed out is already durable on this node, so they
///    may be applied while step 2 runs, unless `snapshot` is set or `commitMustBeDurable`.
/// 5. Serve the reads in `readStates` once the state machine has applied their index.
/// 6. Call `advance`.
///
/// `entryFetches` ask the shell, at any time, to read back entries from its disk for a
/// follower and hand them to `RaftNode.entriesFetched` (or `entriesFetchFailed`); they may
/// be served at once or later, on another thread.
public struct Ready: Sendable {
    /// Set when the role or the known leader changed since the last Ready.
    public var softState: SoftState?
    /// Set when term, vote or commit changed since the last Ready.
    public var hardState: HardState?
    /// Bytes of a snapshot being received, to keep until it is complete.
    public var snapshotPieces: [SnapshotPiece]
    /// A snapshot received from the leader, whose bytes came in `snapshotPieces` (this Ready's
    /// and earlier ones'): persist it, then restore the state machine from it.
    public var snapshot: SnapshotMetadata?
    public var entries: [Entry]
    public var messages: [Message]
    public var messagesAfterPersist: [Message]
    /// Entries to read back from disk for a follower.
    public var entryFetches: [EntryFetch]
    public var committedEntries: [Entry]
    public var readStates: [ReadState]

    /// Whether step 2 needs a sync: snapshot bytes, a snapshot, entries, a new term or vote,
    /// or a commit index that must be durable. A Ready whose only write is a new commit index needs
    /// none, and `messagesAfterPersist` may go at once.
    public var mustSync: Bool
    /// The committed entries include a membership change: the commit index in `hardState`
    /// must be durable before they are applied. Otherwise a restart could forget the change
    /// and count votes in an older membership.
    public var commitMustBeDurable: Bool
}
