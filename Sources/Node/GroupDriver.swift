import Log
import Logging
import NIOCore
import Raft

/// What a group's driver needs of the node around it.
protocol GroupDriverOwner: AnyObject {
    /// Messages for peers, snapshot chunks filled with their bytes.
    func send(_ messages: [Raft.Message], group: UInt64)
    /// A drive applied what it could: act on the machine's effects.
    func groupApplied(_ driver: GroupDriver)
    /// A Ready waits for the disk to have room: the alarm should be raised.
    func groupAwaitsDiskRoom(_ driver: GroupDriver)
    /// Entries a follower needed were read back (or could not be): drive again.
    func groupFetchedEntries(_ driver: GroupDriver)
}

/// Drives one Raft group on the node's event loop, the shell around `RaftGroup` for the
/// group's lifetime: takes its Readys, sends what may leave at once, has the persister write
/// the rest off the loop, applies what is committed, advances the core once the writes are
/// durable, and reads back what a follower behind needs. What applied entries mean is the
/// owner's.
final class GroupDriver {
    let id: UInt64
    let group: RaftGroup<BrokerMachine>
    /// Writes the group's Readys and snapshots off the event loop.
    let persister: Persister
    /// Takes, sends and receives the group's snapshots.
    let snapshots: SnapshotShell
    weak var owner: (any GroupDriverOwner)?
    private let loop: any EventLoop
    private let logger: Logger
    private let clock: () -> Int64
    /// The Ready being made durable: the next waits for it.
    private var readyInFlight: Ready?
    /// Applying goes on in a later turn of the loop (`resumeApplyingInALaterTurn`).
    private var applyingResumes = false
    /// A Ready the disk refused for want of space waits to be written again.
    private(set) var persistWaitsForRoom = false
    private var stopped = false

    /// `latestSnapshot`: what storage recovered, with `group.machine` as restored from it.
    init(id: UInt64, group: RaftGroup<BrokerMachine>, persister: Persister, groupDirectory: String, latestSnapshot: StoredSnapshot?,
         loop: any EventLoop, clock: @escaping () -> Int64, logger: Logger) {
        self.id = id
        self.group = group
        self.persister = persister
        self.loop = loop
        self.clock = clock
        self.logger = logger
        snapshots = SnapshotShell(
            group: group, persister: persister, loop: loop, logger: logger, groupDirectory: groupDirectory,
            latest: SnapshotShell.recovered(latestSnapshot, group: group))
    }

    /// Nothing more is driven, written or sent; the storage is synced and closed.
    func stop() throws {
        stopped = true
        snapshots.stop()
        try persister.close()
    }

    /// Takes the next Ready, unless one is being persisted: sends what may leave at once,
    /// applies what is committed, and hands the rest to the persister; then the owner acts
    /// on what applying produced. While a Ready is being persisted, only the messages that
    /// may leave at once go (the leader's heartbeats and appends); the rest rides on the
    /// next Ready. About one Ready's worth of committed entries (`applyBytesMax`) is applied
    /// in a loop turn: a follower with a long log to apply, as after a snapshot, goes on in a
    /// later turn, and its sockets and timers run in between — its links would be cut as
    /// silent.
    func drive() {
        guard !stopped else { return }
        guard readyInFlight == nil else {
            send(group.takeMessages())
            fetch(group.takeEntryFetches())
            return
        }
        var appliedBytes = 0
        while readyInFlight == nil, !applyingResumes {
            if appliedBytes >= group.core.config.applyBytesMax {
                resumeApplyingInALaterTurn()
                break
            }
            guard let ready = group.nextReady() else { break }
            appliedBytes += ready.committedEntries.reduce(0) { $0 + $1.payloadBytes }
            // Messages go out as soon as they may: AppendEntries before this node's own
            // fsync, so that followers write while the leader syncs.
            send(ready.messages)
            fetch(ready.entryFetches)
            let appliedEarly = RaftGroup<BrokerMachine>.appliesBeforePersisting(ready)
            if appliedEarly { _ = group.apply(ready) }
            guard ready.mustSync else {
                // Nothing to wait for: a new commit index alone is written lazily.
                _ = persister.persist(ready, on: loop)
                finish(ready, appliedEarly: appliedEarly, installing: nil)
                continue
            }
            readyInFlight = ready
            persist(ready, appliedEarly: appliedEarly)
        }
        owner?.groupApplied(self)
    }

    /// Event-loop tasks queued now would run before the loop next reads its sockets: the
    /// next slice of applying waits for a timer instead.
    private func resumeApplyingInALaterTurn() {
        applyingResumes = true
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.scheduleTask(in: .milliseconds(1)) {
            bound.value.applyingResumes = false
            bound.value.drive()
        }
    }

    /// Has the persister write a Ready, and finishes it once it is durable. A full disk is
    /// not the end: the same writes are tried again every second (with the disk alarm set
    /// meanwhile) until they go through.
    private func persist(_ ready: Ready, appliedEarly: Bool, again: Bool = false) {
        let persisted: EventLoopFuture<SnapshotShell.Received?>
        if ready.snapshotPieces.isEmpty && ready.snapshot == nil {
            persisted = persister.persist(ready, on: loop).map { nil }
        } else {
            // A snapshot's bytes are written as they come; the Ready that completes it
            // installs it once they are durable.
            persisted = snapshots.receive(ready, now: clock(), again: again).flatMap { [persister, loop] received in
                persister.persist(ready, installing: received?.snapshot, on: loop).map { received }
            }
        }
        let bound = NIOLoopBound(self, eventLoop: loop)
        persisted.whenComplete { result in
            let driver = bound.value
            guard !driver.stopped else { return }
            switch result {
            case .success(let received):
                driver.readyInFlight = nil
                driver.persistWaitsForRoom = false
                driver.finish(ready, appliedEarly: appliedEarly, installing: received)
                driver.drive()
            case .failure(let error as LogError) where error.isOutOfSpace:
                if !driver.persistWaitsForRoom {
                    driver.logger.error("the disk is full: the log cannot be written; trying again every second", metadata: ["error": "\(error)"])
                }
                driver.persistWaitsForRoom = true
                driver.owner?.groupAwaitsDiskRoom(driver)
                driver.loop.scheduleTask(in: .seconds(1)) { bound.value.persist(ready, appliedEarly: appliedEarly, again: true) }
            case .failure(let error):
                fatalError("the log failed; a node that cannot persist must stop: \(error)")
            }
        }
    }

    /// A Ready's writes are durable: what waited on them leaves, its snapshot is installed
    /// and its entries applied (if they were not yet), and the core advances; a snapshot is
    /// taken if one is due.
    private func finish(_ ready: Ready, appliedEarly: Bool, installing received: SnapshotShell.Received?) {
        send(ready.messagesAfterPersist)
        if let received { snapshots.installed(received) }
        if !appliedEarly { _ = group.apply(ready) }
        group.advance(ready)
        snapshots.takeIfDue(now: clock())
    }

    /// Reads back from disk the entries a follower needs that memory no longer holds; they
    /// go out once read.
    private func fetch(_ fetches: [EntryFetch]) {
        let bound = NIOLoopBound(self, eventLoop: loop)
        for fetch in fetches {
            persister.readEntries(fetch, on: loop).whenComplete { result in
                let driver = bound.value
                guard !driver.stopped else { return }
                switch result {
                case .success(let entries?) where !entries.isEmpty:
                    driver.group.entriesFetched(fetch, entries: entries)
                case .success:
                    driver.group.entriesFetchFailed(fetch)
                case .failure(let error):
                    driver.logger.error("reading back log entries for a follower failed", metadata: ["member": "\(fetch.member)", "error": "\(error)"])
                    driver.group.entriesFetchFailed(fetch)
                }
                driver.owner?.groupFetchedEntries(driver)
            }
        }
    }

    /// Sends messages to peers, snapshot chunks with their bytes.
    private func send(_ messages: [Raft.Message]) {
        guard !messages.isEmpty else { return }
        let filled = snapshots.fill(messages, now: clock())
        if !filled.isEmpty { owner?.send(filled, group: id) }
    }
}
