import Broker
import CMalloc
import Log
import Logging
import NIOCore
import Raft
import Synchronization

/// The group's snapshots as the node's shell handles them, on the core's event loop with
/// the slow parts on the persister's snapshot lane:
///
/// - Taking one: the broker state is captured (a copy-on-write value), then serialised,
///   compressed and written with the message store synced first (the records it refers to
///   must be durable before it is); the log behind it goes, and the store gives back what
///   the snapshot no longer refers to.
/// - Sending one to a follower behind the log: the core asks for chunks without their
///   bytes; they are read from the snapshot's file and the message store
///   (`SnapshotTransferReader`).
/// - Receiving one: the bytes are written as they come, the records into the store where the
///   transferred state puts them (`SnapshotTransferWriter`), and the whole is installed once
///   complete.
final class SnapshotShell {
    /// A snapshot this node can send: its reference, its file, and its state.
    struct Image {
        var reference: SnapshotReference
        var filePath: String
        var fileBytes: Int
        var state: BrokerState
    }

    /// A snapshot received whole, for its Ready to install.
    struct Received: Sendable {
        var snapshot: EncodedSnapshot
        var state: BrokerState
    }

    /// The receiving side's writer, used on the snapshot lane only.
    private final class Incoming: Sendable {
        let writer = Mutex<SnapshotTransferWriter?>(nil)
    }

    private let group: RaftGroup<BrokerMachine>
    private let persister: Persister
    private let loop: any EventLoop
    private let logger: Logger
    private let groupDirectory: String
    private var store: MessageStore { group.machine.store }
    /// The latest snapshot taken or installed: the one a follower behind the log is sent.
    private var latest: Image?
    /// The size of the latest snapshot's file, if there is one.
    var latestBytes: Int? { latest?.fileBytes }
    /// Transfers being sent, by snapshot index, with the time each was last read.
    private var readers: [LogIndex: (reader: SnapshotTransferReader, lastUse: Int64)] = [:]
    private let incoming = Incoming()
    /// When the last bytes of a snapshot being received came.
    private var lastPieceAt: Int64?
    private var snapshotInFlight = false
    /// After a snapshot failed for want of space, none is tried before this time.
    private var snapshotRetryAt: Int64 = 0
    /// When the latest snapshot was taken (or the node started).
    private var lastSnapshotAt: Int64?
    static let snapshotRetryDelayMs: Int64 = 5_000
    /// Set when the node stops: nothing more is started on the persister.
    private var stopped = false
    /// The store's space waits to be reclaimed (by the latest snapshot) until no transfer of
    /// an older one is being sent.
    private var reclaimPending = false

    /// A transfer unread (sent) or unfed (received) this long is dropped.
    static let transferIdleMs: Int64 = 30_000

    init(group: RaftGroup<BrokerMachine>, persister: Persister, loop: any EventLoop, logger: Logger, groupDirectory: String, latest: Image?) {
        self.group = group
        self.persister = persister
        self.loop = loop
        self.logger = logger
        self.groupDirectory = groupDirectory
        self.latest = latest
    }

    /// The latest snapshot recovered from disk, for `init`.
    static func recovered(_ stored: StoredSnapshot?, group: RaftGroup<BrokerMachine>) -> Image? {
        guard let stored, let reference = group.core.latestSnapshotReference, reference.metadata == stored.snapshot.metadata else { return nil }
        return Image(reference: reference, filePath: stored.path, fileBytes: stored.fileBytes, state: group.machine.state)
    }

    // MARK: Taking a snapshot

    /// The node stops: nothing more is started.
    func stop() {
        stopped = true
        readers = [:]
    }

    /// Captures the state now, if a snapshot is due, and has the persister write it.
    func takeIfDue(now: Int64) {
        let since = lastSnapshotAt ?? now
        if lastSnapshotAt == nil { lastSnapshotAt = now }
        guard !stopped, !snapshotInFlight, group.mayCaptureSnapshot, now >= snapshotRetryAt, group.snapshotIsDue(elapsedMs: now - since) else {
            return
        }
        snapshotInFlight = true
        lastSnapshotAt = now
        let capture = group.captureSnapshot()
        let store = self.store
        let bound = NIOLoopBound(self, eventLoop: loop)
        persister.saveSnapshot({ capture.snapshot() }, beforeWriting: { try store.sync() }, on: loop)
            .whenComplete { result in
                let shell = bound.value
                shell.snapshotInFlight = false
                guard !shell.stopped else { return }
                switch result {
                case .success(let encoded):
                    let reference = capture.reference(fileBytes: encoded.fileByteCount)
                    guard let compacted = shell.group.recordSnapshot(capture, fileBytes: encoded.fileByteCount) else { return }
                    shell.persister.compactLog(through: compacted, on: shell.loop).whenFailure { error in
                        guard !bound.value.stopped else { return }
                        fatalError("dropping the log behind a snapshot failed; a node that cannot write its log must stop: \(error)")
                    }
                    shell.latest = Image(
                        reference: reference, filePath: SnapshotFile.path(for: reference.metadata, directory: shell.groupDirectory),
                        fileBytes: encoded.fileByteCount, state: capture.state)
                    shell.reclaimPending = true
                    shell.reclaimIfFree()
                    // Encoding it took memory in proportion to the state, freed now but held
                    // by the allocator: give it back, or the node's resident size keeps the peak.
                    _ = shell.persister.background(on: shell.loop) { _ = berth_release_free_memory() }
                case .failure(let error as LogError) where error.isOutOfSpace:
                    // Taken again once there is room; the log behind it stays meanwhile.
                    shell.logger.error("the disk is full: a snapshot could not be written", metadata: ["error": "\(error)"])
                    shell.group.snapshotFailed()
                    shell.snapshotRetryAt = now + Self.snapshotRetryDelayMs
                case .failure(let error):
                    fatalError("writing a snapshot failed; a node that cannot persist must stop: \(error)")
                }
            }
    }

    /// Gives back the store's space by the latest snapshot, unless an older one's transfer is
    /// still being read (its records must stay).
    private func reclaimIfFree() {
        guard !stopped, reclaimPending, let latest, readers.keys.allSatisfy({ $0 >= latest.reference.metadata.index }) else { return }
        reclaimPending = false
        let state = latest.state
        let index = latest.reference.metadata.index
        let store = self.store
        let logger = self.logger
        persister.background(on: loop) { () throws -> MessageStore.Reclaimed in
            try store.reclaim(snapshotIndex: index, cursors: state.storeCursors) { visit in
                state.forEachRecord { visit(MessageStore.Extent(store: $0.store, position: $0.position, bytes: Int($0.bytes))) }
            }
        }.whenComplete { result in
            switch result {
            case .success(let done) where done.segmentsRemoved + done.storesRemoved > 0 || done.bytesPunched > 0:
                logger.debug("message store reclaimed", metadata: [
                    "snapshot": "\(index)", "segments": "\(done.segmentsRemoved)", "stores": "\(done.storesRemoved)",
                    "punched": "\(done.bytesPunched)",
                ])
            case .success:
                break
            case .failure(let error):
                logger.error("reclaiming the message store failed", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: Sending a snapshot

    /// The messages with the bytes of their snapshot chunks filled in. A chunk of a snapshot
    /// this node no longer holds is dropped, and the core told to send its latest instead.
    func fill(_ messages: [Raft.Message], now: Int64) -> [Raft.Message] {
        messages.compactMap { message in
            guard case .snapshotChunk(let chunk) = message.body, chunk.needsBytes else { return message }
            guard let bytes = read(chunk, now: now) else {
                group.snapshotUnavailable(index: chunk.metadata.index)
                return nil
            }
            var filled = message
            filled.body = .snapshotChunk(chunk.filled(with: bytes))
            return filled
        }
    }

    private func read(_ chunk: SnapshotChunk, now: Int64) -> [UInt8]? {
        let index = chunk.metadata.index
        if readers[index] == nil {
            guard let latest, latest.reference.metadata == chunk.metadata, latest.reference.bytes == chunk.totalBytes else { return nil }
            do {
                let reader = try SnapshotTransferReader(
                    reference: latest.reference, filePath: latest.filePath, fileBytes: latest.fileBytes, state: latest.state, store: store,
                    chunksInFlight: group.core.config.snapshotChunksInFlightMax)
                readers[index] = (reader, now)
                logger.info("sending a snapshot", metadata: ["index": "\(index)", "bytes": "\(chunk.totalBytes)"])
            } catch {
                logger.error("a snapshot cannot be sent", metadata: ["index": "\(index)", "error": "\(error)"])
                return nil
            }
        }
        guard let reader = readers[index]?.reader else { return nil }
        readers[index]?.lastUse = now
        do {
            return try reader.read(offset: chunk.offset, length: chunk.length)
        } catch {
            logger.error("reading a snapshot's transfer failed", metadata: ["index": "\(index)", "error": "\(error)"])
            readers[index] = nil
            return nil
        }
    }

    // MARK: Receiving a snapshot

    /// Writes a Ready's snapshot bytes as they come; when the Ready installs the snapshot,
    /// syncs the store and succeeds with it. `again`: the same Ready once more, after its
    /// bytes could not all be written (a full disk): what went in is passed over.
    func receive(_ ready: Ready, now: Int64, again: Bool) -> EventLoopFuture<Received?> {
        if !ready.snapshotPieces.isEmpty { lastPieceAt = now }
        let pieces = ready.snapshotPieces
        let installs = ready.snapshot
        let store = self.store
        let limits = group.machine.state.limits
        let directory = groupDirectory
        let incoming = self.incoming
        return persister.background(on: loop) { () throws -> Received? in
            try incoming.writer.withLock { (writer) throws -> Received? in
                for piece in pieces {
                    if piece.startsTransfer, !again {
                        if writer != nil { store.endReceiving() }
                        store.beginReceiving()
                        writer = SnapshotTransferWriter(
                            metadata: piece.metadata, totalBytes: piece.totalBytes, store: store, limits: limits,
                            filePath: SnapshotFile.path(for: piece.metadata, directory: directory))
                    }
                    guard let current = writer, current.metadata == piece.metadata else {
                        preconditionFailure("snapshot bytes at \(piece.offset) of a transfer that never began")
                    }
                    try current.take(piece)
                }
                guard let metadata = installs else { return nil }
                guard let current = writer, current.metadata == metadata, let received = current.finish() else {
                    preconditionFailure("installing snapshot \(metadata.index), which was not received whole")
                }
                writer = nil
                // The records must be durable before the snapshot that refers to them is.
                try store.sync()
                store.endReceiving(installedIndex: metadata.index)
                return Received(snapshot: received.snapshot, state: received.state)
            }
        }
    }

    /// A received snapshot is on disk: the machine takes its state, and it is the one this
    /// node sends from now on.
    func installed(_ received: Received) {
        lastPieceAt = nil
        group.installSnapshot { $0.adopt(received.state) }
        guard let reference = group.core.latestSnapshotReference, reference.metadata == received.snapshot.snapshot.metadata else { return }
        latest = Image(
            reference: reference, filePath: SnapshotFile.path(for: reference.metadata, directory: groupDirectory),
            fileBytes: received.snapshot.fileByteCount, state: received.state)
        logger.info("installed a snapshot from the leader", metadata: ["index": "\(reference.metadata.index)", "bytes": "\(reference.bytes)"])
    }

    // MARK: Housekeeping

    /// Drops transfers idle too long, in either direction, and reclaims once free.
    func sweep(now: Int64) {
        guard !stopped else { return }
        // An idle node advances no Ready: the time-based snapshot is taken from here (not
        // while a Ready is being persisted, which `takeIfDue` checks).
        takeIfDue(now: now)
        for (index, entry) in readers where now - entry.lastUse > Self.transferIdleMs {
            readers[index] = nil
        }
        if let lastPieceAt, now - lastPieceAt > Self.transferIdleMs {
            self.lastPieceAt = nil
            // The core first, so that whatever comes next of a transfer starts at its first
            // byte and finds no writer expected.
            group.abandonIncomingSnapshot()
            let incoming = self.incoming
            let store = self.store
            _ = persister.background(on: loop) {
                incoming.writer.withLock { writer in
                    if writer != nil { store.endReceiving() }
                    writer = nil
                }
            }
        }
        reclaimIfFree()
    }
}
