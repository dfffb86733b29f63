import AMQP
import NIOCore
import NIOPosix
import Synchronization
import XCTest

@testable import Client

/// A small scripted AMQP 0-9-1 server for the client's tests, on 127.0.0.1 and a port
/// chosen by the system.
///
/// It decodes with the AMQP codec (role `.server`), runs the handshake, and answers
/// every synchronous method with its "-ok" by default (see `PeerSession.answerByDefault`).
/// A per-test `script` sees each method first (with its content, if any) and may answer
/// differently, or not at all; tests can also act on the latest connection at any time
/// with `perform`. Everything received is logged for assertions.
final class ScriptedPeer: Sendable {
    /// What the peer does with a connection.
    enum Behaviour: Sendable {
        /// Speaks AMQP.
        case amqp
        /// Closes the socket as soon as it is accepted.
        case closeOnAccept
        /// Accepts and never sends a byte.
        case silent
    }

    struct Options: Sendable {
        var behaviour: Behaviour = .amqp
        /// What connection.tune proposes; the peer's decoder enforces its frame-max.
        var tune = Method.Connection.Tune(channelMax: 2047, frameMax: 131_072, heartbeat: 0)
        var mechanisms = "AMQPLAIN PLAIN"
        /// Whether the peer sends heartbeats (every half interval) when the interval is not 0.
        var sendsHeartbeats = true
    }

    /// Sees each method the client sends (with its content) before the default answer;
    /// returns true when it answered itself (the default answer is then skipped).
    typealias Script = @Sendable (PeerSession, UInt16, AssembledMethod) -> Bool

    let options: Options
    let port: Int
    let shared: PeerShared
    private let serverChannel: any Channel

    var endpoint: (host: String, port: Int) {
        ("127.0.0.1", self.port)
    }

    private init(options: Options, port: Int, shared: PeerShared, serverChannel: any Channel) {
        self.options = options
        self.port = port
        self.shared = shared
        self.serverChannel = serverChannel
    }

    static func start(
        _ options: Options = Options(),
        on group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        script: @escaping Script = { _, _, _ in false }
    ) async throws -> ScriptedPeer {
        let shared = PeerShared()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let frameMax = options.tune.frameMax == 0 ? UInt32.max : options.tune.frameMax
                    let decoder = AMQPFrameDecoder(role: .server, frameSizeMax: frameMax)
                    let handler = PeerHandler(options: options, shared: shared, script: script)
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(decoder))
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        let serverChannel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        let port = serverChannel.localAddress!.port!
        return ScriptedPeer(options: options, port: port, shared: shared, serverChannel: serverChannel)
    }

    /// A loopback port nothing listens on (bound, then released).
    static func refusingPort(on group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> Int {
        let channel = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress!.port!
        try await channel.close()
        return port
    }

    func stop() async {
        try? await self.serverChannel.close()
        let sessions = self.shared.state.withLock { $0.sessions }
        for session in sessions {
            try? await session.eventLoop.submit { session.value.closeSocket() }.get()
        }
    }

    /// Runs `body` on the latest connection's event loop.
    func perform(_ body: @escaping @Sendable (PeerSession) -> Void) async throws {
        guard let session = self.shared.state.withLock({ $0.sessions.last }) else {
            throw PeerError.noConnection
        }
        try await session.eventLoop.submit { body(session.value) }.get()
    }

    /// A snapshot of everything logged so far.
    var log: PeerLog {
        self.shared.state.withLock { $0.log }
    }

    /// Waits until `condition` holds for the log, polling, for at most `timeout`.
    func waitUntil(
        _ what: String,
        timeout: Duration = .seconds(5),
        file: StaticString = #filePath,
        line: UInt = #line,
        _ condition: @Sendable (PeerLog) -> Bool
    ) async throws {
        try await eventually(what, timeout: timeout, file: file, line: line) {
            condition(self.log)
        }
    }
}

enum PeerError: Error {
    case noConnection
}
