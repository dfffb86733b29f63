/// The leader's view of one follower's log, as in etcd's tracker: how far it matches, what
/// to send next, and how much is in flight.
struct Progress: Sendable {
    enum State: Equatable, Sendable {
        /// We do not know where the follower's log ends: one append per heartbeat until one
        /// is accepted.
        case probe
        /// The follower is keeping up: appends stream optimistically, bounded by `inflights`.
        case replicate
        /// The follower needs entries we compacted; it is receiving the snapshot at `index`.
        case snapshot(index: LogIndex)
    }

    /// The follower durably holds our log up to here.
    var match: LogIndex = 0
    /// The next index to send.
    var next: LogIndex
    var state: State = .probe
    /// In `probe`, an append is outstanding; cleared by a heartbeat response.
    var probeSent = false
    var inflights: Inflights
    /// Heard from since the last check-quorum round.
    var recentlyActive = false
    /// Entries from here on are being read back from disk for this follower.
    var fetching: ClosedRange<LogIndex>?
    /// In `snapshot`, the snapshot being sent: it stays the one sent even when a newer one
    /// is taken meanwhile, or a transfer that takes longer than the time between snapshots
    /// would never end.
    var snapshotSending: SnapshotReference?
    /// In `snapshot`, the bytes the follower last said it holds, that figure as of the
    /// previous heartbeat response, and how many heartbeat responses in a row have come
    /// without it moving (an election timeout's worth means a lost chunk or answer).
    var snapshotBytesAcknowledged = 0
    var snapshotAcknowledgedAtLastHeartbeat = 0
    /// In `snapshot`, the bytes sent so far: chunks past the acknowledged ones are in flight.
    var snapshotBytesSent = 0
    var snapshotStalledHeartbeats = 0

    init(next: LogIndex, inflightAppendsMax: Int, inflightBytesMax: Int) {
        self.next = next
        inflights = Inflights(countMax: inflightAppendsMax, bytesMax: inflightBytesMax)
    }

    /// Whether the leader should hold off sending appends to this follower.
    var isPaused: Bool {
        switch state {
        case .probe: return probeSent
        case .replicate: return inflights.isFull
        case .snapshot: return true
        }
    }

    mutating func becomeProbe() {
        // After a snapshot, resume right after it rather than at the old match.
        if case .snapshot(let index) = state {
            next = max(match + 1, index + 1)
        } else {
            next = match + 1
        }
        state = .probe
        probeSent = false
        snapshotSending = nil
        inflights.reset()
    }

    mutating func becomeReplicate() {
        state = .replicate
        next = match + 1
        probeSent = false
        snapshotSending = nil
        inflights.reset()
    }

    mutating func becomeSnapshot(_ snapshot: SnapshotReference) {
        state = .snapshot(index: snapshot.metadata.index)
        snapshotSending = snapshot
        probeSent = false
        inflights.reset()
        snapshotBytesAcknowledged = 0
        snapshotAcknowledgedAtLastHeartbeat = -1
        snapshotBytesSent = 0
        snapshotStalledHeartbeats = 0
    }

    /// Records an accepted append; false if it tells us nothing new.
    mutating func maybeUpdate(match index: LogIndex) -> Bool {
        var updated = false
        if index > match {
            match = index
            updated = true
            probeSent = false
        }
        next = max(next, index + 1)
        return updated
    }

    /// Moves `next` back after a rejection; false if the rejection is stale.
    mutating func maybeDecrease(rejected: LogIndex, hint: LogIndex) -> Bool {
        if state == .replicate {
            // Anything at or below match was accepted before: this rejection is old news.
            guard rejected > match else { return false }
            next = match + 1
            return true
        }
        // In probe only the latest probe's rejection counts.
        guard next - 1 == rejected else { return false }
        next = max(min(rejected, hint + 1), match + 1)
        probeSent = false
        return true
    }

    /// Bookkeeping after sending entries up to `lastIndex` (payload `bytes`).
    mutating func sentEntries(lastIndex: LogIndex, bytes: Int) {
        switch state {
        case .replicate:
            next = lastIndex + 1
            inflights.add(lastIndex: lastIndex, bytes: bytes)
        case .probe:
            probeSent = true
        case .snapshot:
            preconditionFailure("sending entries while a snapshot is in flight")
        }
    }
}

/// A bounded ring of the appends in flight to one follower: by count and by bytes.
struct Inflights: Sendable {
    let countMax: Int
    let bytesMax: Int
    private var lastIndexes: [LogIndex]
    private var sizes: [Int]
    private var start = 0
    private(set) var count = 0
    private(set) var bytes = 0

    init(countMax: Int, bytesMax: Int) {
        self.countMax = countMax
        self.bytesMax = bytesMax
        lastIndexes = Array(repeating: 0, count: countMax)
        sizes = Array(repeating: 0, count: countMax)
    }

    var isFull: Bool { count == countMax || bytes >= bytesMax }

    mutating func add(lastIndex: LogIndex, bytes size: Int) {
        precondition(count < countMax, "adding to full inflights")
        let slot = (start + count) % countMax
        lastIndexes[slot] = lastIndex
        sizes[slot] = size
        count += 1
        bytes += size
    }

    /// Frees every append whose last index is at or below `index`.
    mutating func free(upTo index: LogIndex) {
        while count > 0, lastIndexes[start] <= index {
            bytes -= sizes[start]
            start = (start + 1) % countMax
            count -= 1
        }
    }

    mutating func freeFirst() {
        guard count > 0 else { return }
        free(upTo: lastIndexes[start])
    }

    mutating func reset() {
        start = 0
        count = 0
        bytes = 0
    }
}

/// The leader's way of sending to one follower, for operators: a follower stuck in `probe` or
/// `snapshot` explains a lag that does not shrink.
public enum ReplicationMode: String, Equatable, Sendable {
    /// Where the follower's log ends is not known yet: one append per heartbeat.
    case probe
    /// Appends stream as fast as the follower takes them.
    case replicate
    /// The follower needs entries the leader compacted: a snapshot is on its way.
    case snapshot

    init(_ state: Progress.State) {
        switch state {
        case .probe: self = .probe
        case .replicate: self = .replicate
        case .snapshot: self = .snapshot
        }
    }
}
