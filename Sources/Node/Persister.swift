import Dispatch
import Log
import NIOCore
import NIOPosix
import Raft
import Synchronization

/// Where a group's writes reach the disk: off the event loop, on two threads of its own, so
/// that sockets, heartbeats and ticks carry on while the disk syncs.
///
/// - The log lane persists Readys (entries, hard state, one fdatasync for the batch) and
///   writes snapshot files, one job after another: they reach the disk in the order given.
/// - The snapshot lane turns a captured state into snapshot bytes and compresses them, the
///   slow part that needs no storage, then queues the file's write on the log lane.
///
/// Each job's outcome comes back on the event loop that asked. After `close()` nothing more
/// reaches the storage; the loop must outlive `finished()`, or the outcome of a job still
/// running at the close would arrive at a loop that is gone.
final class Persister: Sendable {
    private let storage: any RaftStorage & Sendable
    private let logLane = NIOThreadPool(numberOfThreads: 1)
    private let snapshotLane = NIOThreadPool(numberOfThreads: 1)
    /// Held for the length of every write to the storage, and set by `close()`: a job queued
    /// before the close finds it set and writes nothing.
    private let closed = Mutex(false)
    private let metrics: NodeMetrics?
    /// Left by each lane once it has shut down, every job queued before done.
    private let lanesRunning = DispatchGroup()
    /// Where a lane's shutdown fails the jobs still queued and then reports it is done: one
    /// serial queue, so that the jobs' outcomes are handed to their loop before the report
    /// (on a concurrent queue the report could come first, and the loop go before them).
    private let shutdownQueue = DispatchQueue(label: "berth.persister.shutdown")

    init(storage: any RaftStorage & Sendable, metrics: NodeMetrics? = nil) {
        self.storage = storage
        self.metrics = metrics
        logLane.start()
        snapshotLane.start()
        lanesRunning.enter()
        lanesRunning.enter()
    }

    /// Persists a Ready's writes (`RaftStorage.persist`): entries, hard state, and the sync
    /// if the Ready needs one.
    func persist(_ ready: Ready, on loop: any EventLoop) -> EventLoopFuture<Void> {
        logLane.runIfActive(eventLoop: loop) { [self] in
            let started = ContinuousClock.now
            try writing { () throws(LogError) in try storage.persist(ready) }
            if ready.mustSync { metrics?.synced(entries: ready.entries.count, took: ContinuousClock.now - started) }
        }
    }

    /// Persists a Ready that installs a snapshot received from the leader, given as its file.
    func persist(_ ready: Ready, installing snapshot: EncodedSnapshot?, on loop: any EventLoop) -> EventLoopFuture<Void> {
        logLane.runIfActive(eventLoop: loop) { [self] in
            try writing { () throws(LogError) in try storage.persist(ready, installing: snapshot) }
        }
    }

    /// Reads back stored entries for a follower, in order with the writes.
    func readEntries(_ fetch: EntryFetch, on loop: any EventLoop) -> EventLoopFuture<[Entry]?> {
        logLane.runIfActive(eventLoop: loop) { [storage] in try storage.entries(in: fetch.range, bytesMax: fetch.bytesMax) }
    }

    /// Makes a captured snapshot (`make`, e.g. `SnapshotCapture.snapshot`), runs
    /// `beforeWriting` (what the snapshot refers to must be durable before it is), and writes
    /// its file. Succeeds with the snapshot once it is on disk; the log behind it goes later,
    /// as far as the core lets go of it (`compactLog`).
    func saveSnapshot(
        _ make: @escaping @Sendable () -> Snapshot, beforeWriting: @escaping @Sendable () throws -> Void, on loop: any EventLoop
    ) -> EventLoopFuture<EncodedSnapshot> {
        snapshotLane.runIfActive(eventLoop: loop) { () throws -> EncodedSnapshot in
            let encoded = EncodedSnapshot(make())
            try beforeWriting()
            return encoded
        }.flatMap { [self] encoded in
            logLane.runIfActive(eventLoop: loop) { [self] in
                try writing { () throws(LogError) in try storage.saveSnapshot(encoded, compactTo: 0) }
                return encoded
            }
        }
    }

    /// Drops the log segments up to `index`, in order with the writes.
    func compactLog(through index: LogIndex, on loop: any EventLoop) -> EventLoopFuture<Void> {
        logLane.runIfActive(eventLoop: loop) { [self] in
            try writing { () throws(LogError) in try storage.compactLog(through: index) }
        }
    }

    /// Runs slow work that needs none of the storage on the snapshot lane, in the order
    /// given: a snapshot's transfer being received, space being reclaimed.
    func background<Result: Sendable>(on loop: any EventLoop, _ body: @escaping @Sendable () throws -> Result) -> EventLoopFuture<Result> {
        snapshotLane.runIfActive(eventLoop: loop, body)
    }

    /// Syncs and closes the storage, after the job running now, if any; queued jobs then
    /// write nothing. The lanes' threads end once they are idle (`finished()`).
    func close() throws(LogError) {
        let closing = try closed.withLock { (closed) throws(LogError) -> Bool in
            guard !closed else { return false }
            closed = true
            try storage.close()
            return true
        }
        guard closing else { return }
        logLane.shutdownGracefully(queue: shutdownQueue) { [lanesRunning] _ in lanesRunning.leave() }
        snapshotLane.shutdownGracefully(queue: shutdownQueue) { [lanesRunning] _ in lanesRunning.leave() }
    }

    /// Returns once both lanes have ended after `close()`: every job queued before it has run
    /// and handed its outcome to its event loop, which may shut down from then on.
    func finished() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            lanesRunning.notify(queue: .global()) { done.resume() }
        }
    }

    private func writing(_ body: () throws(LogError) -> Void) throws(LogError) {
        try closed.withLock { (closed) throws(LogError) in
            if !closed { try body() }
        }
    }
}
