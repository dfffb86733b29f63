import Auth
import Gossip
import NIOCore
import NIOPosix
@testable import Node
import XCTest

/// The secret the tests' shells share.
private let clusterSecret = Array("gossip shell tests".utf8)

/// Gossip shells over real UDP on loopback, each on its own event loop, with a fast
/// protocol period. Every wait polls with a deadline.
final class GossipShellTests: XCTestCase {
    private var loops: MultiThreadedEventLoopGroup!
    private var nodes: [GossipTestNode] = []

    override func setUp() {
        loops = MultiThreadedEventLoopGroup(numberOfThreads: 3)
    }

    override func tearDown() async throws {
        for node in nodes { try await node.stop() }
        nodes = []
        try await loops.shutdownGracefully()
    }

    // MARK: Tests

    func testThreeShellsJoinThroughOneSeedAndAllSeeEachOtherAlive() async throws {
        let cluster = try await startCluster()
        try await waitUntilAllAlive(cluster)
        for node in cluster {
            let members = try await node.members()
            XCTAssertEqual(members.first?.id, node.id, "itself first")
            for other in cluster {
                let record = try XCTUnwrap(members.first { $0.id == other.id })
                XCTAssertEqual(record.addresses, other.addresses, "node \(node.id) holds \(other.id)'s addresses")
            }
            let joined = try await node.events().compactMap { event -> SWIM.NodeID? in
                if case .joined(let member) = event { return member.id }
                return nil
            }
            XCTAssertEqual(Set(joined), Set(cluster.map(\.id)).subtracting([node.id]))
            let isJoined = try await node.isJoined()
            XCTAssertTrue(isJoined)
        }
    }

    func testAShellThatStopsAbruptlyIsReportedDead() async throws {
        let cluster = try await startCluster()
        try await waitUntilAllAlive(cluster)
        let (survivors, stopped) = (Array(cluster.prefix(2)), cluster[2])
        try await stopped.stop()

        try await waitUntil("the survivors find node \(stopped.id) dead") {
            try await survivors.asyncAllSatisfy { try await $0.status(of: stopped.id) == .dead }
        }
        for survivor in survivors {
            let events = try await survivor.events(about: stopped.id)
            XCTAssertTrue(events.contains { if case .dead = $0 { true } else { false } }, "\(events)")
            XCTAssertFalse(events.contains { if case .left = $0 { true } else { false } }, "\(events)")
        }
        try await waitUntilAllAlive(survivors)
    }

    func testAGracefulLeaveIsReportedAsLeftNotDead() async throws {
        let cluster = try await startCluster()
        try await waitUntilAllAlive(cluster)
        let (stayers, leaver) = (Array(cluster.prefix(2)), cluster[2])
        try await leaver.leave()

        try await waitUntil("the others hear that node \(leaver.id) left") {
            try await stayers.asyncAllSatisfy { try await $0.status(of: leaver.id) == .left }
        }
        for stayer in stayers {
            let events = try await stayer.events(about: leaver.id)
            XCTAssertTrue(events.contains { if case .left = $0 { true } else { false } }, "\(events)")
            XCTAssertFalse(events.contains { if case .dead = $0 { true } else { false } }, "\(events)")
        }
        try await waitUntilAllAlive(stayers)
    }

    func testARestartedShellComesBackAliveWithAHigherIncarnation() async throws {
        let cluster = try await startCluster()
        try await waitUntilAllAlive(cluster)
        let (survivors, first) = (Array(cluster.prefix(2)), cluster[2])
        try await first.stop()
        try await waitUntil("the survivors find node \(first.id) dead") {
            try await survivors.asyncAllSatisfy { try await $0.status(of: first.id) == .dead }
        }
        let tombstone = try await survivors[0].members().first { $0.id == first.id }
        let deadIncarnation = try XCTUnwrap(tombstone).incarnation

        // The same id on a new socket: only a higher incarnation gets past the tombstone.
        let restarted = try await start(first.id, seeds: [cluster[0].peer])
        try await waitUntil("node \(first.id) is alive again everywhere, at its new address") {
            try await survivors.asyncAllSatisfy { survivor in
                guard let record = try await survivor.members().first(where: { $0.id == first.id }) else { return false }
                return record.status == .alive && record.incarnation > deadIncarnation && record.addresses == restarted.addresses
            }
        }
        try await waitUntilAllAlive(survivors + [restarted])
        for survivor in survivors {
            let events = try await survivor.events(about: first.id)
            let death = try XCTUnwrap(events.lastIndex { if case .dead = $0 { true } else { false } }, "\(events)")
            let newLife = events[(death + 1)...].first { if case .joined = $0 { true } else { false } }
            XCTAssertGreaterThan(try XCTUnwrap(newLife, "\(events)").member.incarnation, deadIncarnation)
        }
    }

    func testGarbageDatagramsAreCountedAndDroppedAndTheShellKeepsWorking() async throws {
        let datagramBytesMax = 1024
        let seed = try await start(1) { $0.datagramBytesMax = datagramBytesMax }
        let ping = SWIM.Message(from: 9, sequence: 1, body: .ping(updates: [])).encoded()
        var sealer = Self.sealer(from: 9)
        let garbage: [[UInt8]] = [
            sealer.seal([0x00]),
            sealer.seal([SWIM.Wire.version, 0x7F] + [UInt8](repeating: 1, count: 16)),
            sealer.seal(Array(ping.dropLast())),
            [UInt8](repeating: 0xAB, count: datagramBytesMax + GossipSeal.overheadBytes + 1),
        ]
        try await sendDatagrams(garbage, to: seed.peer)
        try await waitUntil("the shell counts every garbage datagram") {
            let counters = try await seed.counters()
            return counters.datagramsUndecodable == 3 && counters.datagramsTooLong == 1
        }

        let joiner = try await start(2, seeds: [seed.peer]) { $0.datagramBytesMax = datagramBytesMax }
        try await waitUntilAllAlive([seed, joiner])
        let counters = try await seed.counters()
        XCTAssertEqual(counters.datagramsUndecodable, 3)
        XCTAssertEqual(counters.datagramsTooLong, 1)
        XCTAssertEqual(counters.datagramsUnauthenticated, 0)
        XCTAssertGreaterThan(counters.datagramsReceived, garbage.count, "the joiner's messages came after")
    }

    /// A message a member did not seal, sealed with another key, changed on the way, sealed
    /// by one member in another's name, or sent again, never reaches the protocol: a forged
    /// `left` for a member changes nothing, and each drop is counted.
    func testForgedAndReplayedDatagramsAreDroppedAndCounted() async throws {
        let cluster = try await startCluster()
        try await waitUntilAllAlive(cluster)
        let (target, victim) = (cluster[0], cluster[2])
        let targetsView = try await target.members()
        let victimRecord = try XCTUnwrap(targetsView.first { $0.id == victim.id })
        var left = victimRecord
        left.status = .left
        left.incarnation = SWIM.incarnationMax
        let forgedLeave = SWIM.Message(from: victim.id, sequence: 1, body: .leave(left)).encoded()

        var strangers = GossipSealer(key: GossipSeal.key(secret: Array("another cluster".utf8)), sender: victim.id, epoch: UInt64.max)
        var impostor = Self.sealer(from: cluster[1].id)
        var victimsSealer = Self.sealer(from: victim.id)
        var changed = victimsSealer.seal(forgedLeave)
        changed[GossipSeal.headerBytes] ^= 0x01
        try await sendDatagrams([forgedLeave, strangers.seal(forgedLeave), impostor.seal(forgedLeave), changed], to: target.peer)
        try await waitUntil("every forged datagram is counted") {
            try await target.counters().datagramsUnauthenticated == 4
        }

        // A sealed datagram captured and sent again is taken once; one of a member's
        // earlier run (an older epoch) not at all.
        var sender = Self.sealer(from: 9)
        let ping = sender.seal(SWIM.Message(from: 9, sequence: 1, body: .ping(updates: [])).encoded())
        var earlierRun = Self.sealer(from: cluster[1].id, epoch: 1)
        let old = earlierRun.seal(SWIM.Message(from: cluster[1].id, sequence: 1, body: .ping(updates: [])).encoded())
        try await sendDatagrams([ping, ping, old], to: target.peer)
        try await waitUntil("the replays are counted") {
            try await target.counters().datagramsReplayed == 2
        }
        let status = try await target.status(of: victim.id)
        XCTAssertEqual(status, .alive, "the forged leave changed nothing")
        try await waitUntilAllAlive(cluster)
    }

    private static func sealer(from sender: SWIM.NodeID, epoch: UInt64 = UInt64(wallClockMilliseconds())) -> GossipSealer {
        GossipSealer(key: GossipSeal.key(secret: clusterSecret), sender: sender, epoch: epoch)
    }

    /// A send the kernel refuses (here one to the broadcast address, which needs
    /// SO_BROADCAST; a firewall's drop or a lost route does the same) makes NIO close a
    /// datagram socket: the shell binds the same port again, and gossip goes on through it.
    func testASocketClosedByARefusedSendIsBoundAgainAndGossipGoesOn() async throws {
        let cluster = try await startCluster()
        try await waitUntilAllAlive(cluster)
        let unreachable = SWIM.HostPort(host: "255.255.255.255", port: 9)
        var sealer = Self.sealer(from: 9)
        let relay = sealer.seal(SWIM.Message(from: 9, sequence: 1, body: .pingRequest(target: 8, targetAddress: unreachable, updates: [])).encoded())
        try await sendDatagrams([relay], to: cluster[0].peer)
        try await waitUntil("the refused send closed node 1's socket") {
            try await cluster[0].counters().socketReopens == 1
        }

        let joiner = try await start(4, seeds: [cluster[0].peer])
        try await waitUntilAllAlive(cluster + [joiner])
        let isJoined = try await joiner.isJoined()
        XCTAssertTrue(isJoined, "joined through node 1's address, bound again")
        let reopens = try await cluster[0].counters().socketReopens
        XCTAssertEqual(reopens, 1)
    }

    /// The joiner starts before its seed: it asks again and again, less and less often,
    /// until the seed is there to answer.
    func testAJoinerRetriesWithBackoffUntilItsSeedAnswers() async throws {
        let loop = loops.next()
        let joinRequests = try await loop.submit { NIOLoopBoundBox([ContinuousClock.Instant](), eventLoop: loop) }.get()
        let silentSeed = try await DatagramBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(JoinRequestRecorder(arrivals: joinRequests))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let seedPort = try XCTUnwrap(silentSeed.localAddress?.port)
        let joiner = try await start(2, seeds: [SWIM.HostPort(host: "127.0.0.1", port: UInt16(seedPort))])

        try await waitUntil("three join requests arrive") { try await loop.submit { joinRequests.value.count >= 3 }.get() }
        let arrivals = try await loop.submit { joinRequests.value }.get()
        // Without backoff the third would come two periods after the first; with it, the
        // waits are two periods, then four (timers never fire early; 200 ms spare for delivery).
        XCTAssertGreaterThanOrEqual(arrivals[2] - arrivals[0], .milliseconds(400), "\(arrivals)")
        let isJoined = try await joiner.isJoined()
        XCTAssertFalse(isJoined)

        // The real seed takes over the port; a request sent in between is lost, and retried.
        try await silentSeed.close()
        let seed = try await start(1) { $0.bind.port = UInt16(seedPort) }
        try await waitUntilAllAlive([seed, joiner])
    }

    /// Each broken bound is refused when the shell is made, naming the bound.
    func testABadConfigurationIsRefused() async throws {
        let loop = loops.next()
        let valid = GossipShell.Configuration(
            nodeID: 1, clusterSecret: clusterSecret, bind: SWIM.HostPort(host: "127.0.0.1", port: 0), amqp: SWIM.HostPort(host: "127.0.0.1", port: 5672),
            http: SWIM.HostPort(host: "127.0.0.1", port: 15672), swim: SWIM.Settings(randomSeed: 1))
        let breakers: [(String, @Sendable (inout GossipShell.Configuration) -> Void)] = [
            ("id", { $0.nodeID = 0 }),
            ("clusterSecret", { $0.clusterSecret = [] }),
            ("probeIntervalMs", { $0.swim.probeIntervalMs = 0 }),
            ("datagramBytesMax", { $0.datagramBytesMax = 100 }),
            ("datagramBytesMax", { $0.datagramBytesMax = SWIM.Wire.datagramBytesMax + 1 }),
            ("sendQueueBytesMax", { $0.sendQueueBytesMax = $0.datagramBytesMax - 1 }),
            ("advertisedHost", { $0.bind.host = "0.0.0.0" }),
        ]
        for (name, breakIt) in breakers {
            var configuration = valid
            breakIt(&configuration)
            let broken = configuration
            let refusal = try await loop.submit { () -> String? in
                do {
                    _ = try GossipShell(configuration: broken, loop: loop) { _ in }
                    return nil
                } catch {
                    return (error as? GossipShell.ConfigurationError)?.description
                }
            }.get()
            XCTAssertTrue(refusal?.hasPrefix(name + " ") == true, "\(name): \(refusal ?? "accepted")")
        }
        let accepted = try await loop.submit { () -> Bool in
            (try? GossipShell(configuration: valid, loop: loop) { _ in }) != nil
        }.get()
        XCTAssertTrue(accepted)
    }

    func testASeedGivenByHostNameIsResolved() async throws {
        let seed = try await start(1)
        let joiner = try await start(2, seeds: [SWIM.HostPort(host: "localhost", port: seed.peer.port)])
        try await waitUntilAllAlive([seed, joiner])
    }

    // MARK: Helpers

    /// Three shells: the first alone, the other two joining through it.
    private func startCluster() async throws -> [GossipTestNode] {
        let seed = try await start(1)
        let second = try await start(2, seeds: [seed.peer])
        let third = try await start(3, seeds: [seed.peer])
        return [seed, second, third]
    }

    private func start(
        _ id: SWIM.NodeID, seeds: [SWIM.HostPort] = [],
        configure: @Sendable (inout GossipShell.Configuration) -> Void = { _ in }
    ) async throws -> GossipTestNode {
        var swim = SWIM.Settings(randomSeed: id &* 7919 &+ UInt64(nodes.count))
        swim.probeIntervalMs = 100
        swim.probeTimeoutMs = 30
        swim.suspicionTimeoutMs = 600
        swim.deadProbeIntervalMs = 300
        swim.joinRetryIntervalMaxMs = 400
        var configuration = GossipShell.Configuration(
            nodeID: id, clusterSecret: clusterSecret, bind: SWIM.HostPort(host: "127.0.0.1", port: 0),
            amqp: SWIM.HostPort(host: "127.0.0.1", port: 5600 + UInt16(id)),
            http: SWIM.HostPort(host: "127.0.0.1", port: 15600 + UInt16(id)), swim: swim)
        configuration.seeds = seeds
        configuration.leaveLinger = .milliseconds(200)
        configure(&configuration)
        let node = try await GossipTestNode.start(configuration, on: loops.next())
        nodes.append(node)
        return node
    }

    /// Polls `condition` every 20 ms; fails the test if it does not hold within `seconds`.
    private func waitUntil(
        _ what: String, seconds: Double = 5, file: StaticString = #filePath, line: UInt = #line,
        _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while try await !condition() {
            guard ContinuousClock.now < deadline else {
                XCTFail("\(what): not within \(seconds) s", file: file, line: line)
                throw TimedOut(what: what)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    private struct TimedOut: Error {
        var what: String
    }

    private func waitUntilAllAlive(_ group: [GossipTestNode], file: StaticString = #filePath, line: UInt = #line) async throws {
        let ids = Set(group.map(\.id))
        try await waitUntil("nodes \(ids.sorted()) all see each other alive", file: file, line: line) {
            try await group.asyncAllSatisfy { node in
                let alive = try await node.members().filter { $0.status == .alive }.map(\.id)
                return ids.isSubset(of: alive)
            }
        }
    }

    /// Sends each payload as one datagram from a throwaway socket.
    private func sendDatagrams(_ payloads: [[UInt8]], to peer: SWIM.HostPort) async throws {
        let channel = try await DatagramBootstrap(group: loops.next()).bind(host: "127.0.0.1", port: 0).get()
        let target = try SocketAddress(ipAddress: peer.host, port: Int(peer.port))
        for payload in payloads {
            let envelope = AddressedEnvelope(remoteAddress: target, data: channel.allocator.buffer(bytes: payload))
            try await channel.writeAndFlush(envelope)
        }
        try await channel.close()
    }
}

/// Notes when each join request arrives, and answers none.
private final class JoinRequestRecorder: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    private let arrivals: NIOLoopBoundBox<[ContinuousClock.Instant]>

    init(arrivals: NIOLoopBoundBox<[ContinuousClock.Instant]>) {
        self.arrivals = arrivals
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = Array(unwrapInboundIn(data).data.readableBytesView)
        var opener = GossipOpener(key: GossipSeal.key(secret: clusterSecret), sendersMax: 1)
        guard case .success(let opened) = opener.open(bytes), let message = try? SWIM.Message(decoding: Array(opened.message)),
            case .join = message.body
        else { return }
        arrivals.value.append(.now)
    }
}

/// One shell on its loop, with every event it reported.
private final class GossipTestNode: Sendable {
    let id: SWIM.NodeID
    let addresses: SWIM.Addresses
    private let loop: any EventLoop
    private let shell: NIOLoopBound<GossipShell>
    private let recorded: NIOLoopBoundBox<[GossipEvent]>

    var peer: SWIM.HostPort { addresses.peer }

    private init(shell: NIOLoopBound<GossipShell>, recorded: NIOLoopBoundBox<[GossipEvent]>, loop: any EventLoop) {
        let myself = shell.value.myself!
        id = myself.id
        addresses = myself.addresses
        self.loop = loop
        self.shell = shell
        self.recorded = recorded
    }

    static func start(_ configuration: GossipShell.Configuration, on loop: any EventLoop) async throws -> GossipTestNode {
        try await loop.flatSubmit {
            let recorded = NIOLoopBoundBox([GossipEvent](), eventLoop: loop)
            let shell: GossipShell
            do {
                shell = try GossipShell(configuration: configuration, loop: loop) { recorded.value.append($0) }
            } catch {
                return loop.makeFailedFuture(error)
            }
            let bound = NIOLoopBound(shell, eventLoop: loop)
            return shell.start().map { GossipTestNode(shell: bound, recorded: recorded, loop: loop) }
        }.get()
    }

    func members() async throws -> [SWIM.Member] {
        try await loop.submit { self.shell.value.members }.get()
    }

    func status(of id: SWIM.NodeID) async throws -> SWIM.Status? {
        try await members().first { $0.id == id }?.status
    }

    func isJoined() async throws -> Bool {
        try await loop.submit { self.shell.value.isJoined }.get()
    }

    func counters() async throws -> GossipShell.Counters {
        try await loop.submit { self.shell.value.counters }.get()
    }

    func events() async throws -> [GossipEvent] {
        try await loop.submit { self.recorded.value }.get()
    }

    func events(about id: SWIM.NodeID) async throws -> [GossipEvent] {
        try await events().filter { $0.member.id == id }
    }

    func stop() async throws {
        try await loop.flatSubmit { self.shell.value.stop() }.get()
    }

    func leave() async throws {
        try await loop.flatSubmit { self.shell.value.leave() }.get()
    }
}

extension Array {
    fileprivate func asyncAllSatisfy(_ predicate: (Element) async throws -> Bool) async rethrows -> Bool {
        for element in self where try await !predicate(element) { return false }
        return true
    }
}
