import Dispatch
import Log
import NIOEmbedded
import NIOPosix
import Raft
import Synchronization
import XCTest

@testable import Node

/// After `stop()` the log is closed: work already queued on the loop must not reach it.
final class NodeCoreStopTests: XCTestCase {
    private var directory = ""

    override func setUp() {
        directory = "/tmp/berth-nodecore-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    }

    override func tearDown() {
        removeTree(directory)
    }

    /// Records whether anything is written once the storage is closed.
    private final class ClosingStorage: RaftStorage, Sendable {
        let inner: DurableStorage
        private let counts = Mutex((closed: false, writesAfterClose: 0))
        var closed: Bool { counts.withLock { $0.closed } }
        var writesAfterClose: Int { counts.withLock { $0.writesAfterClose } }
        init(_ inner: DurableStorage) { self.inner = inner }
        private func write(_ body: () throws(LogError) -> Void) throws(LogError) {
            let refused = counts.withLock { counts in
                if counts.closed { counts.writesAfterClose += 1 }
                return counts.closed
            }
            if !refused { try body() }
        }
        func append(_ entries: [Entry]) throws(LogError) { try write { () throws(LogError) in try inner.append(entries) } }
        func setHardState(_ state: HardState, commitMustBeDurable: Bool) throws(LogError) {
            try write { () throws(LogError) in try inner.setHardState(state, commitMustBeDurable: commitMustBeDurable) }
        }
        func installSnapshot(_ encoded: EncodedSnapshot) throws(LogError) { try write { () throws(LogError) in try inner.installSnapshot(encoded) } }
        func saveSnapshot(_ encoded: EncodedSnapshot, compactTo: LogIndex) throws(LogError) {
            try write { () throws(LogError) in try inner.saveSnapshot(encoded, compactTo: compactTo) }
        }
        func sync() throws(LogError) { try write { () throws(LogError) in try inner.sync() } }
        func compactLog(through index: LogIndex) throws(LogError) { try write { () throws(LogError) in try inner.compactLog(through: index) } }
        func entries(in range: ClosedRange<LogIndex>, bytesMax: Int) throws(LogError) -> [Entry]? {
            try inner.entries(in: range, bytesMax: bytesMax)
        }
        func close() throws(LogError) {
            counts.withLock { $0.closed = true }
            try inner.close()
        }
    }

    /// A started core of a two-voter group, on `loop`, over `storage` (the durable storage
    /// of `directory`, or a wrapper of it).
    private func startedCore(
        loop: EmbeddedEventLoop, storage wrap: (DurableStorage) -> any RaftStorage & Sendable = { $0 }
    ) throws -> NodeCore {
        let (durable, recovery) = try DurableStorage.open(dataDirectory: directory, groupID: 1)
        let storage = wrap(durable)
        let store = try MessageStore.open(groupDirectory: durable.directory)
        let group = try RaftGroup(
            config: Config(id: 1, randomSeed: 7), storage: storage, recovered: recovery.state, snapshot: recovery.snapshot?.snapshot,
            machine: BrokerMachine(store: store), bootstrapVoters: [1, 2], options: RaftGroup<BrokerMachine>.Options())
        let core = NodeCore(
            loop: loop, group: group, persister: Persister(storage: storage), groupDirectory: durable.directory,
            latestSnapshot: recovery.snapshot, clock: { 0 }, acknowledgementTimeoutMs: nil)
        try core.start()
        return core
    }

    func testAPeerMessageArrivingAfterStopWritesNothing() throws {
        let loop = EmbeddedEventLoop()
        var closing: ClosingStorage?
        let core = try startedCore(loop: loop) { durable in
            closing = ClosingStorage(durable)
            return closing!
        }
        let storage = try XCTUnwrap(closing)
        try core.stop()

        // A newer term must be written down before it is acted on; after stop nothing is.
        core.receive(Message(from: 2, to: 1, term: 5, body: .heartbeat(commit: 0, readContext: 0)), group: NodeCore.groupID)
        loop.run()
        XCTAssertTrue(storage.closed)
        XCTAssertEqual(storage.writesAfterClose, 0)
        try loop.syncShutdownGracefully()
    }

    /// A Raft message for a group the node does not run is dropped, not stepped into the
    /// one it runs: a newer term in it would depose that group's leader.
    func testAMessageOfAnotherGroupIsNotSteppedIntoThisNodesGroup() throws {
        let loop = EmbeddedEventLoop()
        let core = try startedCore(loop: loop)
        let termBefore = core.group.core.term
        let heartbeat = Message(from: 2, to: 1, term: termBefore + 4, body: .heartbeat(commit: 0, readContext: 0))
        core.receive(heartbeat, group: NodeCore.groupID + 1)
        loop.run()
        XCTAssertEqual(core.group.core.term, termBefore, "a message of group 2 moved group 1's term")
        XCTAssertEqual(core.droppedMessagesOfUnknownGroups, 1)
        core.receive(heartbeat, group: NodeCore.groupID)
        loop.run()
        XCTAssertEqual(core.group.core.term, termBefore + 4, "the same message for the node's own group is taken")
        try core.stop()
        try loop.syncShutdownGracefully()
    }

    /// A job still running when the persister closes, and one queued behind it, hand their
    /// outcomes to the loop before `finished()` returns, so a node that shuts its loop down
    /// after that loses none (one arriving at a loop that is gone is dropped, its promise
    /// never completed).
    func testFinishedWaitsForTheJobsOfTheCloseToReachTheLoop() async throws {
        let threads = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = threads.next()
        let (durable, _) = try DurableStorage.open(dataDirectory: directory, groupID: 1)
        let persister = Persister(storage: durable)
        let started = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let outcome = persister.background(on: loop) { () -> Int in
            started.signal()
            release.wait()
            return 7
        }
        let delivered = Mutex<Int?>(nil)
        outcome.whenSuccess { value in delivered.withLock { $0 = value } }
        started.wait()
        // Queued behind it, never started: the close fails it, and that too reaches the loop.
        let queued = persister.background(on: loop) { 8 }
        let refused = Mutex(false)
        queued.whenFailure { _ in refused.withLock { $0 = true } }
        try persister.close()
        let finished = Task {
            await persister.finished()
            // What the loop was handed is run before it shuts down.
            try await threads.shutdownGracefully()
        }
        release.signal()
        try await finished.value
        XCTAssertEqual(delivered.withLock { $0 }, 7, "the job's outcome reached the loop before it shut down")
        XCTAssertTrue(refused.withLock { $0 }, "the queued job's refusal reached the loop before it shut down")
    }
}
