import XCTest

@testable import Raft

/// Log compaction and InstallSnapshot (Raft §7), sent in bounded chunks.
final class SnapshotTests: XCTestCase {
    /// A group whose leader compacted away everything node 3 (cut off meanwhile) lacks.
    /// The leader keeps no log for a follower behind it unless `laggingFollowerLogBytesMax`
    /// says so (here what node 3 lacks is always less than a snapshot would send: the
    /// test machine's state is every payload applied).
    private func compactedGroup(
        chunksInFlight: Int = Config(id: 1, randomSeed: 1).snapshotChunksInFlightMax, laggingFollowerLogBytesMax: Int = 0
    ) throws -> (TestNetwork, Snapshot) {
        let net = TestNetwork(voters: [1, 2, 3]) {
            $0.snapshotChunkBytesMax = 64
            $0.snapshotChunksInFlightMax = chunksInFlight
            $0.laggingFollowerLogBytesMax = laggingFollowerLogBytesMax
        }
        net.elect(1)
        net.isolate(3)
        for i in 0..<20 {
            try net[1].propose([Array(repeating: UInt8(i), count: 20)])
            net.stabilize()
        }
        let snapshot = net.compact(1)
        XCTAssertEqual(snapshot.metadata.index, net[1].commitIndex)
        XCTAssertGreaterThan(net[1].firstIndex, net[3].lastIndex + 1, "node 3 needs entries the leader dropped")
        XCTAssertGreaterThan(snapshot.data.count, 4 * 64)
        return (net, snapshot)
    }

    /// §7: a follower behind the compaction point gets the snapshot, in chunks of at most
    /// `snapshotChunkBytesMax`, installs it, and then follows the log again.
    func testFollowerBehindCompactionInstallsChunkedSnapshotThenCatchesUpFromLog() throws {
        let (net, snapshot) = try compactedGroup()
        net.heal()
        net.clearHistory()
        net.tick([1], until: { net[3].appliedIndex >= snapshot.metadata.index }, timesMax: 10)

        let chunks = net.sent(where: { $0.to == 3 }).compactMap(\.body.snapshotChunk)
        XCTAssertGreaterThan(Set(chunks.map(\.offset)).count, 4, "sent in several chunks")
        XCTAssertTrue(chunks.allSatisfy { $0.bytes.count <= 64 })
        XCTAssertEqual(Set(chunks.map(\.offset)).count, chunks.count, "nothing sent twice on a network that loses nothing")
        XCTAssertTrue(chunks.allSatisfy { $0.metadata == snapshot.metadata && $0.totalBytes == TestNetwork.transfer(of: snapshot.data).count })
        XCTAssertEqual(net.installedSnapshots[3], [snapshot], "a Ready carried the whole snapshot")
        XCTAssertEqual(net.disks[3]?.snapshot, snapshot)
        XCTAssertEqual(net[3].membership, Membership(voters: [1, 2, 3]))
        XCTAssertEqual(net.applied[3], net.applied[1])

        net.clearHistory()
        try net[1].propose([bytes("after")])
        net.stabilize()
        XCTAssertEqual(net.applied[3]?.last, bytes("after"))
        XCTAssertFalse(net.sent(where: { $0.to == 3 && $0.body.isAppendWithEntries }).isEmpty, "from the log")
        XCTAssertTrue(net.sent(where: { $0.to == 3 && $0.body.snapshotChunk != nil }).isEmpty)

        // Its disk alone restarts it.
        net.crash(3)
        net.restart(3)
        net.stabilize()
        XCTAssertEqual(net.applied[3], net.applied[1])
    }

    /// The leader sends chunks ahead of the follower's acknowledgements, never more than
    /// `snapshotChunksInFlightMax` past them, and one more for each acknowledged.
    func testChunksAreSentAheadUpToTheInFlightBound() throws {
        let (net, snapshot) = try compactedGroup(chunksInFlight: 3)
        net.heal()
        var holdAnswers = true
        net.dropRules.append { message in
            guard holdAnswers, case .snapshotResponse = message.body else { return false }
            return true
        }
        net.clearHistory()
        net.tick([1], times: 3)
        let ahead = net.sent(where: { $0.to == 3 }).compactMap(\.body.snapshotChunk)
        XCTAssertEqual(ahead.map(\.offset), [0, 64, 128], "three chunks in flight, none acknowledged")
        holdAnswers = false
        net.clearHistory()
        net.tick([1], until: { net[3].appliedIndex >= snapshot.metadata.index }, timesMax: 30)
        let total = TestNetwork.transfer(of: snapshot.data).count
        let offsets = net.sent(where: { $0.to == 3 }).compactMap(\.body.snapshotChunk).map(\.offset).filter { $0 >= 192 }
        XCTAssertEqual(offsets, Array(stride(from: 192, to: total, by: 64)), "the rest in order, each once")
        XCTAssertEqual(net.installedSnapshots[3], [snapshot])
    }

    /// A lost chunk is sent again once heartbeats show the transfer stalled for an election
    /// timeout, and not before: a follower slower to write a chunk than a heartbeat interval
    /// is not sent copies it must pass over.
    func testLostSnapshotChunkIsResentAfterAnElectionTimeout() throws {
        let (net, snapshot) = try compactedGroup()
        net.heal()
        var lost = false
        net.dropRules.append { message in
            guard !lost, let chunk = message.body.snapshotChunk, chunk.offset == 128 else { return false }
            lost = true
            return true
        }
        net.clearHistory()
        let timeout = net.configs[1]!.electionTimeoutTicks
        net.tick([1], times: timeout)
        XCTAssertTrue(lost)
        XCTAssertEqual(net.sent(where: { $0.to == 3 && $0.body.snapshotChunk?.offset == 128 }).count, 1, "not sent again within an election timeout")
        net.tick([1], until: { net[3].appliedIndex >= snapshot.metadata.index }, timesMax: 2 * timeout)
        XCTAssertEqual(net.sent(where: { $0.to == 3 && $0.body.snapshotChunk?.offset == 128 }).count, 2)
        XCTAssertEqual(net.installedSnapshots[3], [snapshot])
        XCTAssertEqual(net.applied[3], net.applied[1])
    }

    /// `retainingEntries` keeps the tail of the log, so a slightly lagging follower catches
    /// up with appends rather than a snapshot.
    func testCompactionRetainsEntriesForSlightlyLaggingFollowers() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        try net[1].propose([bytes("a")])
        net.stabilize()
        net.isolate(3)
        try net[1].propose([bytes("b"), bytes("c")])
        net.stabilize()
        net.compact(1, retainingEntries: 5)
        XCTAssertLessThanOrEqual(net[1].firstIndex, net[3].lastIndex + 1)
        net.heal()
        net.clearHistory()
        net.tick([1], times: 3)
        XCTAssertEqual(net.applied[3], [bytes("a"), bytes("b"), bytes("c")])
        XCTAssertTrue(net.sent(where: { $0.body.snapshotChunk != nil }).isEmpty)
    }
}

extension SnapshotTests {
    /// The leader compacts again while a follower is still receiving the previous snapshot:
    /// the transfer goes on with the snapshot it began (one that took longer than the time
    /// between snapshots would otherwise never end), the log after that snapshot stays
    /// however little the compaction retains, and the follower then catches up from it.
    func testLeaderCompactingAgainDuringTransferFinishesTheSnapshotItBegan() throws {
        let (net, first) = try compactedGroup()
        net.heal()
        var stalled = true
        net.dropRules.append { stalled && $0.body.snapshotChunk?.offset == 128 }
        net.stabilize()
        XCTAssertNil(net.installedSnapshots[3], "the transfer stalls at byte 128")
        for i in 0..<5 {
            try net[1].propose([bytes("more \(i)")])
            net.stabilize()
        }
        let second = net.compact(1, retainingEntries: 0)
        XCTAssertGreaterThan(second.metadata.index, first.metadata.index)
        XCTAssertEqual(net[1].firstIndex, first.metadata.index + 1, "what follows the snapshot being sent stays")
        stalled = false
        net.tick([1], until: { net.applied[3] == net.applied[1] }, timesMax: 20)
        XCTAssertEqual(net.installedSnapshots[3], [first])
        XCTAssertTrue(net.sent(where: { $0.to == 3 && $0.body.snapshotChunk?.metadata == second.metadata }).isEmpty)
    }

    /// A follower stopped a while catches up from the log the leader kept for it through
    /// compaction, however little that retains, rather than from a snapshot; caught up, it
    /// holds the log back no more.
    func testALaggingFollowerCatchesUpFromTheLogKeptForIt() throws {
        let net = TestNetwork(voters: [1, 2, 3])
        net.elect(1)
        net.isolate(3)
        for i in 0..<20 {
            try net[1].propose([bytes("while node 3 is away \(i)")])
            net.stabilize()
        }
        net.compact(1, retainingEntries: 0)
        XCTAssertEqual(net[1].firstIndex, net[3].lastIndex + 1, "what node 3 lacks stays")
        net.heal()
        net.clearHistory()
        net.tick([1], until: { net.applied[3] == net.applied[1] }, timesMax: 10)
        XCTAssertTrue(net.sent(where: { $0.body.snapshotChunk != nil }).isEmpty, "from the log")
        let again = net.compact(1, retainingEntries: 0)
        XCTAssertEqual(net[1].firstIndex, again.metadata.index + 1)
    }

    /// A follower that installed a snapshot and is being sent the log written meanwhile
    /// keeps that log through the leader's next compaction, and catches up from it: one
    /// snapshot, not one after another (a follower slower to install than the leader is to
    /// snapshot would otherwise never catch up). Before it, node 3 lacked more than the
    /// leader keeps for a follower; after it, less.
    func testAFollowerCatchingUpAfterASnapshotKeepsTheLogItIsBeingSent() throws {
        let (net, first) = try compactedGroup(laggingFollowerLogBytesMax: 200)
        net.heal()
        var appendsToThreeLost = false
        net.dropRules.append { appendsToThreeLost && $0.to == 3 && $0.body.isAppendWithEntries }
        var stalled = true
        net.dropRules.append { stalled && $0.body.snapshotChunk?.offset == 128 }
        net.stabilize()
        for i in 0..<5 {
            try net[1].propose([bytes("during the transfer \(i)")])
            net.stabilize()
        }
        appendsToThreeLost = true
        stalled = false
        net.tick([1], until: { net.installedSnapshots[3] == [first] }, timesMax: 20)
        XCTAssertEqual(net[1].matchIndex(of: 3), first.metadata.index, "installed, and none of the log after it arrived")

        let second = net.compact(1, retainingEntries: 0)
        XCTAssertGreaterThan(second.metadata.index, first.metadata.index)
        XCTAssertEqual(net[1].firstIndex, first.metadata.index + 1, "what the follower is being sent stays")
        appendsToThreeLost = false
        net.tick([1], until: { net.applied[3] == net.applied[1] }, timesMax: 20)
        XCTAssertEqual(net.installedSnapshots[3], [first], "caught up from the log")
    }

    /// A leader whose shell can no longer send the snapshot a transfer began (it let go of
    /// it) starts the follower over with the latest.
    func testASnapshotTheShellLetGoOfIsReplacedByTheLatest() throws {
        let (net, first) = try compactedGroup()
        net.heal()
        var stalled = true
        net.dropRules.append { stalled && $0.body.snapshotChunk?.offset == 128 }
        net.stabilize()
        for i in 0..<5 {
            try net[1].propose([bytes("more \(i)")])
            net.stabilize()
        }
        let second = net.compact(1)
        stalled = false
        net[1].snapshotUnavailable(index: first.metadata.index)
        net.tick([1], until: { net.applied[3] == net.applied[1] }, timesMax: 20)
        XCTAssertEqual(net.installedSnapshots[3], [second])
        XCTAssertEqual(net.disks[3]?.snapshot, second)
    }

    // MARK: A snapshot that completes while a Ready is out

    /// A fresh follower of leader 1 in term 2 that holds the founding membership entry and
    /// one more, both committed and durable.
    private func followerWithCommittedEntries() throws -> RaftNode {
        var node = try RaftNode(config: Config(id: 3, randomSeed: 3), recovered: RaftNode.RecoveredState(hardState: HardState(), snapshot: nil, entries: []))
        node.step(Message(from: 1, to: 3, term: 2, body: .append(prevIndex: 0, prevTerm: 0, entries: TestNetwork.log(voters: [1, 2, 3], terms: [2]), commit: 2)))
        node.advance(node.ready())
        return node
    }

    /// The whole of a snapshot, in one chunk.
    private func deliverSnapshot(_ metadata: SnapshotMetadata, to node: inout RaftNode) {
        let bytes: [UInt8] = [1, 2, 3]
        node.step(Message(from: 1, to: 3, term: 2, body: .snapshotChunk(SnapshotChunk(metadata: metadata, totalBytes: bytes.count, offset: 0, bytes: bytes))))
    }

    /// A snapshot received whole while a Ready is being persisted waits for the next Ready:
    /// advancing the Ready that was out takes back neither the membership the snapshot
    /// brought (its older membership entry is superseded) nor makes anything of the
    /// snapshot count as applied, until the Ready that installs it is advanced.
    func testASnapshotReceivedWhileAReadyIsOutWaitsForItsOwnReady() throws {
        var node = try followerWithCommittedEntries()
        let out = node.ready()
        XCTAssertEqual(out.committedEntries.map(\.index), [1, 2], "the founding membership entry among them")
        let snapshot = SnapshotMetadata(index: 10, term: 2, membership: Membership(voters: [1, 2, 3], learners: [4]))
        deliverSnapshot(snapshot, to: &node)
        XCTAssertTrue(node.snapshotAwaitsInstall)

        node.advance(out)
        XCTAssertEqual(node.membership, snapshot.membership, "not taken back by the older entry")
        XCTAssertTrue(node.snapshotAwaitsInstall, "installed only by a Ready that carries it")
        XCTAssertEqual(node.appliedIndex, 2)

        let installing = node.ready()
        XCTAssertEqual(installing.snapshot, snapshot)
        node.advance(installing)
        XCTAssertFalse(node.snapshotAwaitsInstall)
        XCTAssertEqual(node.appliedIndex, 10)
        XCTAssertEqual(node.membership, snapshot.membership)
    }

    /// A newer snapshot received whole while the Ready installing an older one is out stays
    /// pending: advancing that Ready counts only the older one as applied.
    func testANewerSnapshotReceivedWhileAnOlderIsBeingInstalledStaysPending() throws {
        var node = try followerWithCommittedEntries()
        node.advance(node.ready())
        let older = SnapshotMetadata(index: 10, term: 2, membership: Membership(voters: [1, 2, 3]))
        deliverSnapshot(older, to: &node)
        let installingOlder = node.ready()
        XCTAssertEqual(installingOlder.snapshot, older)
        let newer = SnapshotMetadata(index: 20, term: 2, membership: Membership(voters: [1, 2, 3]))
        deliverSnapshot(newer, to: &node)

        node.advance(installingOlder)
        XCTAssertEqual(node.appliedIndex, 10, "the machine holds the older snapshot only")
        XCTAssertTrue(node.snapshotAwaitsInstall)
        let installingNewer = node.ready()
        XCTAssertEqual(installingNewer.snapshot, newer)
        node.advance(installingNewer)
        XCTAssertEqual(node.appliedIndex, 20)
        XCTAssertFalse(node.snapshotAwaitsInstall)
    }
}
