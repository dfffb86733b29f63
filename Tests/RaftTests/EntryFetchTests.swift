import XCTest

@testable import Raft

/// Applied entries drop their data from memory beyond `entryCacheBytesMax`; a leader that
/// must send them to a follower asks its shell to read them back from disk.
final class EntryFetchTests: XCTestCase {
    private func lagging() throws -> TestNetwork {
        let net = TestNetwork(voters: [1, 2, 3]) { $0.entryCacheBytesMax = 0 }
        net.elect(1)
        net.isolate(3)
        for i in 0..<10 {
            try net[1].propose([bytes("e\(i)")])
            net.stabilize()
        }
        return net
    }

    func testAppliedEntriesKeepOnlyTheirTermInMemory() throws {
        let net = try lagging()
        XCTAssertEqual(net[1].log.cachedFrom, net[1].appliedIndex + 1, "nothing applied stays in memory")
        XCTAssertEqual(net[1].log.cachedBytes, 0)
        XCTAssertNil(net[1].entry(at: 3))
        XCTAssertNotNil(net[1].term(at: 3), "the term stays")
    }

    func testAFollowerBehindWhatMemoryKeepsIsSentEntriesReadBackFromDisk() throws {
        let net = try lagging()
        net.heal()
        net.clearHistory()
        net.tick([1], until: { net.applied[3] == net.applied[1] }, timesMax: 20)
        let fetches = net.readies.filter { $0.id == 1 }.flatMap(\.ready.entryFetches)
        XCTAssertFalse(fetches.isEmpty, "the leader asked for entries from disk")
        XCTAssertTrue(fetches.allSatisfy { $0.member == 3 })
        XCTAssertTrue(net.sent(where: { $0.to == 3 && $0.body.snapshotChunk != nil }).isEmpty, "no snapshot: the log has them")
        XCTAssertEqual(net.applied[3]?.suffix(10), (0..<10).map { bytes("e\($0)") }[...])
    }

    /// A fetch answered after the follower moved on, or with entries of another history,
    /// sends nothing.
    func testAFetchThatNoLongerFitsIsDropped() throws {
        let net = try lagging()
        net.holdingFetches = [1]
        net.heal()
        // The next heartbeat's answer makes the leader fetch for node 3.
        net.tick([1], until: { !(net.heldFetches[1] ?? []).isEmpty }, timesMax: 5)
        let fetch = try XCTUnwrap(net.heldFetches[1]?.last)
        let first = fetch.range.lowerBound
        let appendsToNode3 = { net[1].messages.filter { $0.to == 3 && $0.body.isAppendWithEntries } }
        let stranger = EntryFetch(member: 3, range: first...first + 100, bytesMax: fetch.bytesMax)
        net[1].entriesFetched(stranger, entries: [Entry(term: net[1].term(at: first)!, index: first, data: bytes("x"))])
        XCTAssertTrue(appendsToNode3().isEmpty, "not what was asked")
        net[1].entriesFetched(fetch, entries: [Entry(term: 99, index: first, data: bytes("forged"))])
        XCTAssertTrue(appendsToNode3().isEmpty, "another history's entry")
        // The real ones are taken no more either: the fetch was answered. The next heartbeat's
        // answer asks again, and that one is served.
        net.tick([1], until: { (net.heldFetches[1] ?? []).count >= 2 }, timesMax: 5)
        let again = try XCTUnwrap(net.heldFetches[1]?.last)
        let stored = net.disks[1]!.entries.filter { again.range.contains($0.index) }
        net[1].entriesFetched(again, entries: stored)
        XCTAssertEqual(appendsToNode3().first?.body.appendedEntries.first?.index, first)
    }
}
