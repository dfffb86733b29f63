import AMQP
import NIOCore
import XCTest

@testable import Client

final class ConnectionTests: XCTestCase {
    func testHandshakeSendsCredentialsAndHonoursTheServersTuning() async throws {
        var options = ScriptedPeer.Options()
        options.tune = Method.Connection.Tune(channelMax: 3, frameMax: 4096, heartbeat: 30)
        let peer = try await ScriptedPeer.start(options)
        defer { Task { await peer.stop() } }

        let connection = try await AMQPConnection.connect(
            hosts: [peer.endpoint],
            credentials: Credentials(username: "user", password: "secret"),
            virtualHost: "vh",
            heartbeat: .seconds(60),
            frameMax: 131_072,
            on: testGroup
        )

        XCTAssertEqual(connection.tuning, Tuning(channelMax: 3, frameMax: 4096, heartbeatSeconds: 30))
        let log = peer.log
        guard case .connection(.startOk(let startOk)) = log.methods(named: "connection.start-ok").first?.method else {
            return XCTFail("no start-ok")
        }
        XCTAssertEqual(startOk.mechanism, "PLAIN")
        XCTAssertEqual(startOk.response, Array("\0user\0secret".utf8))
        guard case .connection(.tuneOk(let tuneOk)) = log.methods(named: "connection.tune-ok").first?.method else {
            return XCTFail("no tune-ok")
        }
        XCTAssertEqual(tuneOk, Method.Connection.TuneOk(channelMax: 3, frameMax: 4096, heartbeat: 30))
        guard case .connection(.open(let open)) = log.methods(named: "connection.open").first?.method else {
            return XCTFail("no connection.open")
        }
        XCTAssertEqual(open.virtualHost, "vh")

        // channel-max 3: a fourth channel is refused by the client itself.
        var channels: [AMQPChannel] = []
        for _ in 1...3 {
            channels.append(try await connection.openChannel())
        }
        XCTAssertEqual(channels.map(\.number), [1, 2, 3])
        let error = await clientError { try await connection.openChannel() }
        guard case .limitReached = error else {
            return XCTFail("expected limitReached, got \(String(describing: error))")
        }
        await connection.close()
    }

    func testFrameMaxSplitsALargeBody() async throws {
        var options = ScriptedPeer.Options()
        options.tune.frameMax = 4096
        let peer = try await ScriptedPeer.start(options)
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()

        let body = ByteBuffer(bytes: (0..<10_000).map { UInt8($0 % 251) })
        try await channel.publish(exchange: "x", routingKey: "k", body: body)

        try await peer.waitUntil("the publish") { $0.count("basic.publish") == 1 }
        let log = peer.log
        XCTAssertEqual(log.errors, [])
        let bodyFrameSizes = log.frames.compactMap { frame -> Int? in
            guard case .body(_, let part) = frame else {
                return nil
            }
            return part.readableBytes
        }
        XCTAssertEqual(bodyFrameSizes, [4088, 4088, 1824])
        guard case .content(.publish(let publish), let header, let received) = log.methods(named: "basic.publish")[0].assembled
        else {
            return XCTFail("no content")
        }
        XCTAssertEqual(publish.exchange, "x")
        XCTAssertEqual(publish.routingKey, "k")
        XCTAssertEqual(header.bodySize, 10_000)
        XCTAssertEqual(received.collected(), body)
        await connection.close()
    }

    func testFailoverSkipsHostsThatRefuseOrDropTheConnection() async throws {
        let refusing = try await ScriptedPeer.refusingPort()
        let dropping = try await ScriptedPeer.start(ScriptedPeer.Options(behaviour: .closeOnAccept))
        let accepting = try await ScriptedPeer.start()
        defer {
            Task {
                await dropping.stop()
                await accepting.stop()
            }
        }

        let connection = try await AMQPConnection.connect(
            hosts: [("127.0.0.1", refusing), dropping.endpoint, accepting.endpoint],
            heartbeat: .zero,
            connectTimeout: .seconds(2),
            on: testGroup
        )

        XCTAssertEqual(connection.endpoint, Endpoint(host: "127.0.0.1", port: accepting.port))
        XCTAssertEqual(dropping.log.connectionsAccepted, 1)
        _ = try await connection.openChannel()
        await connection.close()
    }

    func testConnectFailsWithEachHostsError() async throws {
        let refusing = try await ScriptedPeer.refusingPort()
        let dropping = try await ScriptedPeer.start(ScriptedPeer.Options(behaviour: .closeOnAccept))
        defer { Task { await dropping.stop() } }

        let error = await clientError {
            try await AMQPConnection.connect(
                hosts: [("127.0.0.1", refusing), dropping.endpoint],
                connectTimeout: .seconds(2),
                on: testGroup
            )
        }

        guard case .connectFailed(let failures) = error else {
            return XCTFail("expected connectFailed, got \(String(describing: error))")
        }
        XCTAssertEqual(
            failures.map { $0.endpoint },
            [Endpoint(host: "127.0.0.1", port: refusing), Endpoint(host: "127.0.0.1", port: dropping.port)]
        )
        guard case .io(let description) = failures[0].error else {
            return XCTFail("expected an I/O error, got \(failures[0].error)")
        }
        XCTAssertTrue(description.lowercased().contains("refused"), description)
        // Closed at once after accepting: an EOF, or a reset when the protocol header was unread.
        switch failures[1].error {
        case .connectionLost:
            break
        case .io(let description):
            XCTAssertTrue(description.lowercased().contains("reset"), description)
        default:
            XCTFail("expected the connection to be lost, got \(failures[1].error)")
        }
    }

    func testHandshakeTimesOutOnASilentHost() async throws {
        let silent = try await ScriptedPeer.start(ScriptedPeer.Options(behaviour: .silent))
        defer { Task { await silent.stop() } }

        let error = await clientError {
            try await AMQPConnection.connect(
                hosts: [silent.endpoint],
                connectTimeout: .milliseconds(300),
                on: testGroup
            )
        }

        guard case .connectFailed(let failures) = error, case .timedOut = failures.first?.error else {
            return XCTFail("expected a handshake timeout, got \(String(describing: error))")
        }
    }

    func testAuthenticationMechanismMustIncludePlain() async throws {
        let peer = try await ScriptedPeer.start(ScriptedPeer.Options(mechanisms: "AMQPLAIN EXTERNAL"))
        defer { Task { await peer.stop() } }

        let error = await clientError { try await connect(peer) }

        guard case .connectFailed(let failures) = error else {
            return XCTFail("expected connectFailed, got \(String(describing: error))")
        }
        XCTAssertEqual(failures.first?.error, .authenticationMechanismUnsupported(offered: "AMQPLAIN EXTERNAL"))
    }

    func testRefusedLoginFailsTheConnectWithTheServersReplyCode() async throws {
        let refused = Method.Connection.Close(
            replyCode: .accessRefused,
            replyText: "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN",
            classID: 0,
            methodID: 0
        )
        let peer = try await ScriptedPeer.start { session, _, assembled in
            guard case .method(.connection(.startOk)) = assembled else {
                return false
            }
            session.send(channel: 0, .connection(.close(refused)))
            return true
        }
        defer { Task { await peer.stop() } }

        let error = await clientError { try await connect(peer) }

        guard case .connectFailed(let failures) = error else {
            return XCTFail("expected connectFailed, got \(String(describing: error))")
        }
        XCTAssertEqual(
            failures.first?.error,
            .connectionClosedByServer(CloseReason(replyCode: .accessRefused, replyText: refused.replyText))
        )
        try await peer.waitUntil("connection.close-ok") { $0.count("connection.close-ok") == 1 }
    }

    func testAFrameAboveTheClientsFrameMaxIsAFrameError() async throws {
        let peer = try await ScriptedPeer.start()
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer, frameMax: 4096)
        XCTAssertEqual(connection.tuning.frameMax, 4096)
        let channel = try await connection.openChannel()

        try await peer.perform { session in
            session.send(.body(channel: channel.number, ByteBuffer(repeating: 0, count: 5000)))
        }

        let reason = try await withTimeout("the connection to end") { await connection.closed() }
        guard case .protocolViolation(let code, _) = reason else {
            return XCTFail("expected a protocol violation, got \(reason)")
        }
        XCTAssertEqual(code, .frameError)
    }

    func testMissedHeartbeatsFailTheConnectionWhileHeartbeatsKeepAnotherAlive() async throws {
        var silentOptions = ScriptedPeer.Options()
        silentOptions.tune.heartbeat = 1
        silentOptions.sendsHeartbeats = false
        var liveOptions = silentOptions
        liveOptions.sendsHeartbeats = true
        let silent = try await ScriptedPeer.start(silentOptions)
        let live = try await ScriptedPeer.start(liveOptions)
        defer {
            Task {
                await silent.stop()
                await live.stop()
            }
        }
        let clock = ContinuousClock()
        let started = clock.now
        let doomed = try await connect(silent, heartbeat: .seconds(1))
        let healthy = try await connect(live, heartbeat: .seconds(1))
        XCTAssertEqual(doomed.tuning.heartbeatSeconds, 1)

        let reason = try await withTimeout("the heartbeat timeout", .seconds(5)) { await doomed.closed() }

        XCTAssertEqual(reason, .heartbeatTimeout(intervalSeconds: 1))
        XCTAssertGreaterThanOrEqual(clock.now - started, .seconds(2))
        // The client sent heartbeats to the silent peer all along.
        XCTAssertGreaterThan(silent.log.heartbeatsReceived, 0)
        // The connection that heard heartbeats, as old as the failed one, is still open.
        let channel = try await healthy.openChannel()
        try await channel.queueDeclare("q")
        await healthy.close()
    }

    func testServerConnectionCloseFailsEverythingWithItsReplyCodeAndText() async throws {
        let forced = Method.Connection.Close(
            replyCode: .connectionForced,
            replyText: "CONNECTION_FORCED - broker shutdown",
            classID: 0,
            methodID: 0
        )
        let peer = try await ScriptedPeer.start { session, _, assembled in
            guard case .method(.queue(.declare)) = assembled else {
                return false
            }
            session.send(channel: 0, .connection(.close(forced)))
            return true
        }
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()
        let expected = ClientError.connectionClosedByServer(
            CloseReason(replyCode: .connectionForced, replyText: "CONNECTION_FORCED - broker shutdown")
        )

        let error = await clientError { try await channel.queueDeclare("q") }

        XCTAssertEqual(error, expected)
        let closed = await connection.closed()
        XCTAssertEqual(closed, expected)
        let channelClosed = await channel.closed()
        XCTAssertEqual(channelClosed, expected)
        try await peer.waitUntil("connection.close-ok") { $0.count("connection.close-ok") == 1 }
        let afterwards = await clientError { try await connection.openChannel() }
        XCTAssertEqual(afterwards, expected)
        let publish = await clientError { try await channel.publish(routingKey: "q", body: ByteBuffer()) }
        XCTAssertEqual(publish, expected)
    }

    func testOrderlyCloseSendsReplySuccessAndEndsChannels() async throws {
        let peer = try await ScriptedPeer.start()
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()

        await connection.close()

        let connectionClosed = await connection.closed()
        XCTAssertEqual(connectionClosed, .connectionClosed)
        let channelClosed = await channel.closed()
        XCTAssertEqual(channelClosed, .connectionClosed)
        guard case .connection(.close(let close)) = peer.log.methods(named: "connection.close").first?.method else {
            return XCTFail("no connection.close")
        }
        XCTAssertEqual(close.replyCode, .replySuccess)
        let error = await clientError { try await channel.queueDeclare("q") }
        XCTAssertEqual(error, .connectionClosed)
    }

    func testSocketLossIsConnectionLost() async throws {
        let peer = try await ScriptedPeer.start()
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)

        try await peer.perform { $0.closeSocket() }

        let reason = try await withTimeout("the connection to end") { await connection.closed() }
        XCTAssertEqual(reason, .connectionLost)
    }

    func testBlockedAndUnblockedAreSurfaced() async throws {
        let peer = try await ScriptedPeer.start()
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        var events = connection.events.makeAsyncIterator()

        try await peer.perform { $0.send(channel: 0, .connection(.blocked(.init(reason: "low on memory")))) }
        let blocked = await events.next()
        XCTAssertEqual(blocked, .blocked(reason: "low on memory"))
        XCTAssertTrue(connection.isBlocked)
        XCTAssertEqual(connection.blockedReason, "low on memory")

        try await peer.perform { $0.send(channel: 0, .connection(.unblocked)) }
        let unblocked = await events.next()
        XCTAssertEqual(unblocked, .unblocked)
        XCTAssertFalse(connection.isBlocked)
        await connection.close()
    }

    func testUnexpectedMethodIsAProtocolViolation() async throws {
        let peer = try await ScriptedPeer.start()
        defer { Task { await peer.stop() } }
        let connection = try await connect(peer)
        let channel = try await connection.openChannel()

        try await peer.perform { $0.send(channel: channel.number, .basic(.qosOk)) }

        let reason = try await withTimeout("the connection to end") { await connection.closed() }
        guard case .protocolViolation(let code, _) = reason else {
            return XCTFail("expected a protocol violation, got \(reason)")
        }
        XCTAssertEqual(code, .commandInvalid)
        try await peer.waitUntil("connection.close 503") { log in
            log.methods(named: "connection.close").contains { received in
                guard case .connection(.close(let close)) = received.method else {
                    return false
                }
                return close.replyCode == .commandInvalid
            }
        }
    }
}
