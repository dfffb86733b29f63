import Auth
import XCTest

/// Sealing and opening gossip datagrams, without sockets.
final class GossipSealTests: XCTestCase {
    private let key = GossipSeal.key(secret: Array("seal tests".utf8))

    func testASealedMessageOpensToItsSenderAndBytes() throws {
        var sealer = GossipSealer(key: key, sender: 7, epoch: 100)
        var opener = GossipOpener(key: key, sendersMax: 4)
        let message: [UInt8] = [1, 2, 3, 4, 5]
        let sealed = sealer.seal(message)
        XCTAssertEqual(sealed.count, message.count + GossipSeal.overheadBytes)
        let opened = try opener.open(sealed).get()
        XCTAssertEqual(opened.sender, 7)
        XCTAssertEqual(Array(opened.message), message)
    }

    /// Any changed byte, another key, or a datagram too short for a seal is refused, and
    /// the refusal leaves the opener as it was: the real datagram still opens.
    func testAChangedOrForeignDatagramIsRefused() {
        var sealer = GossipSealer(key: key, sender: 7, epoch: 100)
        var opener = GossipOpener(key: key, sendersMax: 4)
        let sealed = sealer.seal(Array(repeating: 9, count: 20))
        for index in sealed.indices {
            var changed = sealed
            changed[index] ^= 0x40
            let expected: GossipSeal.Refusal = index < GossipSeal.magic.count ? .malformed : .forged
            XCTAssertEqual(opener.open(changed).failure, expected, "byte \(index)")
        }
        var foreign = GossipSealer(key: GossipSeal.key(secret: Array("other".utf8)), sender: 7, epoch: 100)
        XCTAssertEqual(opener.open(foreign.seal([1])).failure, .forged)
        XCTAssertEqual(opener.open(Array(sealed.prefix(GossipSeal.overheadBytes - 1))).failure, .malformed)
        XCTAssertNil(opener.open(sealed).failure)
    }

    /// Datagrams that UDP reorders within the window are each taken once; one further
    /// behind than the window, or taken already, is refused.
    func testEachCounterIsTakenOnceWithinTheWindow() {
        var sealer = GossipSealer(key: key, sender: 3, epoch: 100)
        var opener = GossipOpener(key: key, sendersMax: 4)
        let sealed = (0..<100).map { _ in sealer.seal([0]) }
        // Counters 1...100 arrive as 100, then 99 down to 37 (63 behind: inside), then 36 (64 behind).
        XCTAssertNil(opener.open(sealed[99]).failure)
        for counter in stride(from: 99, through: 37, by: -1) {
            XCTAssertNil(opener.open(sealed[counter - 1]).failure, "counter \(counter)")
            XCTAssertEqual(opener.open(sealed[counter - 1]).failure, .replayed, "counter \(counter) again")
        }
        XCTAssertEqual(opener.open(sealed[35]).failure, .replayed, "counter 36, behind the window")
        XCTAssertEqual(opener.open(sealed[99]).failure, .replayed)
    }

    /// A sender's new run (a higher epoch) starts its counters again; its old run's
    /// datagrams are refused from then on.
    func testANewEpochStartsAgainAndAnOlderOneIsRefused() {
        var first = GossipSealer(key: key, sender: 3, epoch: 100)
        var second = GossipSealer(key: key, sender: 3, epoch: 200)
        var opener = GossipOpener(key: key, sendersMax: 4)
        let old = [first.seal([1]), first.seal([2])]
        XCTAssertNil(opener.open(old[0]).failure)
        XCTAssertNil(opener.open(second.seal([3])).failure, "counter 1 again, of the new epoch")
        XCTAssertEqual(opener.open(old[1]).failure, .stale)
        XCTAssertNil(opener.open(second.seal([4])).failure)
    }

    /// Past `sendersMax`, the sender heard from least lately is forgotten: what it sent
    /// before opens again (the bound's cost), while the others' windows hold.
    func testPastSendersMaxTheQuietestSenderIsForgotten() {
        var opener = GossipOpener(key: key, sendersMax: 2)
        var sealers = (1...3).map { GossipSealer(key: key, sender: UInt64($0), epoch: 100) }
        let firsts = (0..<3).map { sealers[$0].seal([UInt8($0)]) }
        XCTAssertNil(opener.open(firsts[0]).failure)
        XCTAssertNil(opener.open(firsts[1]).failure)
        XCTAssertNil(opener.open(sealers[1].seal([9])).failure, "sender 2 heard from again")
        XCTAssertNil(opener.open(firsts[2]).failure, "a third sender: sender 1 is forgotten")
        XCTAssertEqual(opener.open(firsts[1]).failure, .replayed, "sender 2 is still remembered")
        XCTAssertNil(opener.open(firsts[0]).failure, "sender 1's first datagram opens again")
    }
}

extension Result {
    fileprivate var failure: Failure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}
