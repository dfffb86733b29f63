import AMQP
import NIOCore
import Raft
import XCTest

@testable import Node

/// The relay's core alone: events in, directives out; no socket, no timer, no clock.
final class RelayCoreTests: XCTestCase {
    typealias Directive = RelayCore.Directive

    private let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    private let leader: NodeID = 1

    // MARK: Relaying

    func testAPublishOnAnOpenSessionIsRelayedAsOneUnitOnceItsBodyIsIn() throws {
        var core = try openCore()
        try openChannel(1, &core)
        XCTAssertEqual(try client(&core, publishFrames(1, body: "m").dropLast()), [], "nothing goes before the whole content is in")
        XCTAssertEqual(try client(&core, [publishFrames(1, body: "m").last!]),
                       [.writeToSession(publishFrames(1, body: "m"))])
    }

    func testFramesWaitWhileThereIsNoSessionAndGoInOrderOnceItOpens() throws {
        var core = makeCore()
        XCTAssertEqual(core.onStart(leader: nil, now: start), [.scheduleRetry(after: .milliseconds(50))])
        let waiting = [method(1, .channel(.open(.init()))), method(1, .queue(.declare(.init(queue: "q"))))] + publishFrames(1, body: "m")
        XCTAssertEqual(try client(&core, waiting), [], "nothing is written without a session")

        XCTAssertEqual(core.onRetryTimer(leader: leader, now: start),
                       [.scheduleOpeningTimeout(generation: 1, after: .seconds(2)), .dial(leader, generation: 1)])
        let opened = try openSession(&core)
        XCTAssertEqual(opened.first, .sendToClient([method(0, .connection(.openOk(.init())))], flush: true), "the client's open-ok waits for the first session")
        XCTAssertEqual(sessionFrames(opened), waiting)
    }

    func testPendingBytesOverTheBoundPauseReadingTheClientAndResumeOnceSent() throws {
        var core = makeCore { $0.pendingBytesMax = 300 }
        _ = core.onStart(leader: nil, now: start)
        XCTAssertEqual(try client(&core, [method(1, .channel(.open(.init())))]), [], "under the bound")
        let overBound = try client(&core, publishFrames(1, body: String(repeating: "x", count: 200)))
        XCTAssertEqual(overBound, [.pauseReadingClient])

        _ = core.onRetryTimer(leader: leader, now: start)
        let opened = try openSession(&core)
        XCTAssertEqual(opened.suffix(2).map(\.isResumeReadingClient), [false, true], "resumed once what waited is written")
        XCTAssertEqual(opened.filter(\.isResumeReadingClient).count, 1)
    }

    // MARK: A lost session

    func testALostSessionRestoresEachChannelBeforePendingFramesAndSwallowsTheReplies() throws {
        var core = try openCore()
        try openChannel(1, &core)
        try request(&core, method(1, .basic(.qos(.init(prefetchCount: 10)))), reply: method(1, .basic(.qosOk)))
        try request(&core, method(1, .confirm(.select(.init()))), reply: method(1, .confirm(.selectOk)))
        try request(&core, method(1, .basic(.consume(.init(queue: "q")))), reply: method(1, .basic(.consumeOk(.init(consumerTag: "ctag")))))

        loseSession(&core)
        try client(&core, publishFrames(1, body: "m"))
        _ = core.onRetryTimer(leader: leader, now: start)
        let opened = try openSession(&core)

        XCTAssertEqual(sessionFrames(opened), [
            method(1, .channel(.open(.init()))),
            method(1, .basic(.qos(.init(prefetchCount: 10)))),
            method(1, .confirm(.select(.init(noWait: true)))),
            method(1, .basic(.consume(.init(queue: "q", consumerTag: "ctag", noWait: true)))),
        ] + publishFrames(1, body: "m"))
        XCTAssertEqual(leaderSays(&core, method(1, .channel(.openOk(.init())))), [], "the restoring channel.open-ok is not the client's")
        XCTAssertEqual(leaderSays(&core, method(1, .basic(.qosOk))), [], "nor is the restoring qos-ok")
        let declareOk = method(1, .queue(.declareOk(.init(queue: "q", messageCount: 0, consumerCount: 0))))
        try client(&core, [method(1, .queue(.declare(.init(queue: "q"))))])
        XCTAssertEqual(leaderSays(&core, declareOk), [.sendToClient([declareOk], flush: false)], "the client's own replies pass again")
    }

    func testUnconfirmedPublishesOfALostSessionAreNackedInTheClientsNumbering() throws {
        var core = try openCore()
        try openChannel(1, &core)
        try request(&core, method(1, .confirm(.select(.init()))), reply: method(1, .confirm(.selectOk)))
        for _ in 1...3 { try client(&core, publishFrames(1, body: "m")) }
        XCTAssertEqual(leaderSays(&core, method(1, .basic(.ack(.init(deliveryTag: 1))))),
                       [.sendToClient([method(1, .basic(.ack(.init(deliveryTag: 1))))], flush: false)])

        let lost = loseSession(&core)
        XCTAssertEqual(clientFrames(lost), [method(1, .basic(.nack(.init(deliveryTag: 3, multiple: true, requeue: false))))])

        _ = core.onRetryTimer(leader: leader, now: start)
        try openSession(&core)
        try client(&core, publishFrames(1, body: "m"))
        XCTAssertEqual(leaderSays(&core, method(1, .basic(.ack(.init(deliveryTag: 1))))),
                       [.sendToClient([method(1, .basic(.ack(.init(deliveryTag: 4))))], flush: false)],
                       "the new session's first confirm is the client's fourth publish")
    }

    func testDeliveryTagsKeepCountingAcrossSessionsAndAcksForAnEarlierSessionsDeliveriesAreDropped() throws {
        var core = try openCore()
        try openChannel(1, &core)
        try request(&core, method(1, .basic(.consume(.init(queue: "q")))), reply: method(1, .basic(.consumeOk(.init(consumerTag: "ctag")))))
        XCTAssertEqual(clientFrames(leaderSays(&core, deliveryFrames(1, tag: 1))), deliveryFrames(1, tag: 1))
        XCTAssertEqual(clientFrames(leaderSays(&core, deliveryFrames(1, tag: 2))), deliveryFrames(1, tag: 2))

        loseSession(&core)
        _ = core.onRetryTimer(leader: leader, now: start)
        try openSession(&core)
        _ = leaderSays(&core, method(1, .channel(.openOk(.init()))))
        XCTAssertEqual(clientFrames(leaderSays(&core, deliveryFrames(1, tag: 1, redelivered: true))), deliveryFrames(1, tag: 3, redelivered: true),
                       "the new session's tag 1 is the client's 3")

        XCTAssertEqual(try client(&core, [method(1, .basic(.ack(.init(deliveryTag: 2))))]), [], "an ack for the earlier session's delivery is dropped")
        XCTAssertEqual(try client(&core, [method(1, .basic(.ack(.init(deliveryTag: 3))))]),
                       [.writeToSession([method(1, .basic(.ack(.init(deliveryTag: 1))))])])
    }

    func testATransactionWithWorkClosesItsChannelWith541WhenTheSessionIsLost() throws {
        var core = try openCore()
        try openChannel(1, &core)
        try openChannel(2, &core)
        try request(&core, method(1, .tx(.select)), reply: method(1, .tx(.selectOk)))
        try request(&core, method(2, .tx(.select)), reply: method(2, .tx(.selectOk)))
        try client(&core, publishFrames(1, body: "m"))

        let closes = clientFrames(loseSession(&core))
        XCTAssertEqual(closes.count, 1, "only the channel with work: \(closes)")
        guard case .method(1, .channel(.close(let close)))? = closes.first else { return XCTFail("no channel.close: \(closes)") }
        XCTAssertEqual(close.replyCode.rawValue, 541)
    }

    func testWaitingPastLeaderWaitNacksUnconfirmedPublishesAndClosesWith320() throws {
        var core = makeCore()
        _ = core.onStart(leader: nil, now: start)
        try client(&core, [method(1, .channel(.open(.init()))), method(1, .confirm(.select(.init())))])
        for _ in 1...2 { try client(&core, publishFrames(1, body: "m")) }

        XCTAssertEqual(core.onRetryTimer(leader: nil, now: start + .seconds(10)), [.scheduleRetry(after: .milliseconds(50))], "not past the wait yet")
        let gaveUp = core.onRetryTimer(leader: nil, now: start + .seconds(10) + .nanoseconds(1))
        XCTAssertEqual(clientFrames(gaveUp), [method(1, .basic(.nack(.init(deliveryTag: 2, multiple: true, requeue: false))))])
        let refusals = gaveUp.compactMap { if case .closeClient(let refusal) = $0 { refusal } else { nil } }
        XCTAssertEqual(refusals.map(\.code.rawValue), [320])
        XCTAssertTrue(gaveUp.contains(.stopWatchingLeader), "the relay is closed")
    }

    // MARK: The session's heartbeat and generations

    func testTheHeartbeatGivesUpASilentSessionAfterTwoMissedBeats() throws {
        var core = try openCore()
        let generation = core.generation
        XCTAssertEqual(core.onHeartbeatTimer(generation: generation, now: start), [.writeToSession([.heartbeat])])
        XCTAssertEqual(core.onHeartbeatTimer(generation: generation, now: start), [.writeToSession([.heartbeat])], "one missed beat")
        let given = core.onHeartbeatTimer(generation: generation, now: start)
        XCTAssertEqual(given, [.closeSession, .scheduleRetry(after: .milliseconds(50))], "two missed beats")
    }

    func testTheHeartbeatKeepsASessionThatIsHeardFrom() throws {
        var core = try openCore()
        let generation = core.generation
        for _ in 1...4 {
            XCTAssertEqual(core.onHeartbeatTimer(generation: generation, now: start), [.writeToSession([.heartbeat])])
            _ = leaderSays(&core, .heartbeat)
        }
    }

    func testEventsOfAnAbandonedSessionAreIgnored() throws {
        var core = try openCore()
        try openChannel(1, &core)
        let old = core.generation
        _ = core.onLeaderChanged(to: 2, now: start)
        XCTAssertEqual(core.onRetryTimer(leader: 2, now: start), [.scheduleOpeningTimeout(generation: old + 2, after: .seconds(2)), .dial(2, generation: old + 2)])

        XCTAssertEqual(core.onLeaderFrame(deliveryFrames(1, tag: 1)[0], generation: old, now: start), [])
        XCTAssertEqual(core.onSessionClosed(generation: old, now: start), [])
        XCTAssertEqual(core.onSessionWritability(false, generation: old), [])
        XCTAssertEqual(core.onHeartbeatTimer(generation: old, now: start), [])
        XCTAssertEqual(core.onOpeningTimeout(generation: old, now: start), [])
        XCTAssertEqual(core.onSessionConnected(generation: old), [], "a late connection of the old session is not adopted")
        XCTAssertEqual(core.onSessionFailed(generation: old), [])
        XCTAssertEqual(core.state, .opening(leader: 2, generation: old + 2))
    }

    func testASessionNotOpenByTheOpeningTimeoutIsAbandoned() {
        var core = makeCore()
        _ = core.onStart(leader: leader, now: start)
        XCTAssertEqual(core.onSessionConnected(generation: 1), [.adoptSession(generation: 1)])
        XCTAssertEqual(core.onOpeningTimeout(generation: 1, now: start), [.closeSession, .scheduleRetry(after: .milliseconds(50))])
    }

    // MARK: The client's connection.close

    func testAClientsConnectionCloseWaitsForTheLeadersCloseOk() throws {
        var core = try openCore()
        let close = Method.Connection.Close(replyCode: .replySuccess, replyText: "the client closed its connection", classID: 0, methodID: 0)
        XCTAssertEqual(core.onCloseUpstream(), [.writeToSession([method(0, .connection(.close(close)))]),
                                               .scheduleUpstreamCloseTimer(after: .seconds(2))])
        XCTAssertEqual(leaderSays(&core, method(0, .connection(.closeOk))), [.finishUpstreamClose])
        XCTAssertEqual(core.onUpstreamCloseTimer(), [], "finished once")
    }

    func testAClientsConnectionCloseFinishesWhenTheLeadersCloseOkIsLate() throws {
        var core = try openCore()
        _ = core.onCloseUpstream()
        XCTAssertEqual(core.onUpstreamCloseTimer(), [.finishUpstreamClose])
        XCTAssertEqual(leaderSays(&core, method(0, .connection(.closeOk))), [], "finished once")
    }

    func testAClientsConnectionCloseWithoutASessionFinishesAtOnceAndNoSessionReplacesIt() {
        var core = makeCore()
        _ = core.onStart(leader: leader, now: start)
        XCTAssertEqual(core.onCloseUpstream(), [.finishUpstreamClose])
        XCTAssertEqual(core.onOpeningTimeout(generation: 1, now: start), [.closeSession], "no retry while the client closes")
    }

    // MARK: Helpers

    private func makeCore(_ configure: (inout RelayCore.Settings) -> Void = { _ in }) -> RelayCore {
        var settings = RelayCore.Settings()
        configure(&settings)
        return RelayCore(handshake: .init(vhost: "/", properties: [:], frameSizeMax: 131_072, channelMax: 2047), settings: settings)
    }

    /// A core whose first session to `leader` is open.
    private func openCore() throws -> RelayCore {
        var core = makeCore()
        _ = core.onStart(leader: leader, now: start)
        try openSession(&core)
        return core
    }

    /// Takes the dialled session of the current generation through its handshake.
    @discardableResult
    private func openSession(_ core: inout RelayCore) throws -> [Directive] {
        let generation = core.generation
        XCTAssertEqual(core.onSessionConnected(generation: generation), [.adoptSession(generation: generation)])
        _ = leaderSays(&core, method(0, .connection(.start(.init(serverProperties: [:])))))
        _ = leaderSays(&core, method(0, .connection(.tune(.init(channelMax: 0, frameMax: 0, heartbeat: 0)))))
        let opened = leaderSays(&core, method(0, .connection(.openOk(.init()))))
        guard case .open = core.state else { throw SessionDidNotOpen(state: core.state) }
        return opened
    }

    @discardableResult
    private func loseSession(_ core: inout RelayCore) -> [Directive] {
        core.onSessionClosed(generation: core.generation, now: start)
    }

    private func openChannel(_ number: UInt16, _ core: inout RelayCore) throws {
        try request(&core, method(number, .channel(.open(.init()))), reply: method(number, .channel(.openOk(.init()))))
    }

    /// A request of the client and its reply from the leader, relayed both ways.
    private func request(_ core: inout RelayCore, _ request: Frame, reply: Frame) throws {
        XCTAssertEqual(try client(&core, [request]), [.writeToSession([request])])
        XCTAssertEqual(clientFrames(leaderSays(&core, reply)), [reply])
    }

    @discardableResult
    private func client(_ core: inout RelayCore, _ frames: some Sequence<Frame>) throws -> [Directive] {
        var directives: [Directive] = []
        for frame in frames { directives += try core.onClientFrame(frame) }
        return directives
    }

    private func leaderSays(_ core: inout RelayCore, _ frames: Frame...) -> [Directive] {
        leaderSays(&core, frames)
    }

    private func leaderSays(_ core: inout RelayCore, _ frames: [Frame]) -> [Directive] {
        frames.flatMap { core.onLeaderFrame($0, generation: core.generation, now: start) }
    }

    private func sessionFrames(_ directives: [Directive]) -> [Frame] {
        directives.flatMap { directive -> [Frame] in if case .writeToSession(let frames) = directive { frames } else { [] } }
    }

    private func clientFrames(_ directives: [Directive]) -> [Frame] {
        directives.flatMap { directive -> [Frame] in if case .sendToClient(let frames, _) = directive { frames } else { [] } }
    }

    private func method(_ channel: UInt16, _ method: Method) -> Frame {
        .method(channel: channel, method)
    }

    private func publishFrames(_ channel: UInt16, body: String) -> [Frame] {
        [method(channel, .basic(.publish(.init(routingKey: "q")))),
         .header(channel: channel, ContentHeader(bodySize: UInt64(body.utf8.count))),
         .body(channel: channel, ByteBuffer(string: body))]
    }

    private func deliveryFrames(_ channel: UInt16, tag: UInt64, redelivered: Bool = false) -> [Frame] {
        [method(channel, .basic(.deliver(.init(consumerTag: "ctag", deliveryTag: tag, redelivered: redelivered, exchange: "", routingKey: "q")))),
         .header(channel: channel, ContentHeader(bodySize: 1)),
         .body(channel: channel, ByteBuffer(string: "m"))]
    }
}

private struct SessionDidNotOpen: Error {
    var state: RelayCore.SessionState
}

extension RelayCore.Directive {
    fileprivate var isResumeReadingClient: Bool {
        if case .resumeReadingClient = self { true } else { false }
    }
}
