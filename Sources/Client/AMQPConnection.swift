import AMQP
import NIOCore
import NIOPosix

// The Client module: an AMQP 0-9-1 client on SwiftNIO, with publisher confirms and
// multi-host failover, for the CLI, the benchmark, the chaos harness and the tests.
//
// Each connection's state lives on its channel's event loop (`ConnectionHandler`, one
// `ChannelCore` per AMQP channel); the public `AMQPConnection` and `AMQPChannel` are
// Sendable handles whose async methods hop there. Everything that can pile up has a
// bound: the confirm window, the publishes waiting for it, the calls awaiting replies, a
// consumer's delivery buffer (when full, the socket is not read), the returns and events
// kept unread.
//
// Glossary (one word, one meaning):
// - connection: one TCP connection to one node, after the AMQP handshake.
// - channel: an AMQP channel on a connection (not a NIO `Channel`, which is the socket).
// - publish: one basic.publish; in confirm mode it gets a delivery tag (its sequence
//   number on the channel) which the broker's basic.ack / basic.nack refer to.
// - confirm: the broker's ack or nack of a publish; indeterminate when it never came.
// - delivery: a message the broker pushed to a consumer (basic.deliver).
// - consumer: a basic.consume subscription, read as an `AMQPConsumer` sequence.
// - reply: the server's answer to a synchronous method (declare-ok, qos-ok, …).

/// A connection to an AMQP 0-9-1 broker.
///
/// Open with `connect`, which tries each host in turn; open channels on it; end it with
/// `close()` (the connection is not closed on deinit). When it ends, for whatever reason,
/// every channel's calls fail with that reason and `closed()` returns it.
public final class AMQPConnection: Sendable {
    /// The host this connection reached.
    public let endpoint: Endpoint
    /// The limits agreed with the server.
    public let tuning: Tuning
    /// What the server said about itself in connection.start.
    public let serverProperties: FieldTable
    /// connection.blocked / connection.unblocked, as they come. Keeps the newest 64
    /// unread; ends when the connection closes.
    public let events: AsyncStream<ConnectionEvent>
    let handler: NIOLoopBound<ConnectionHandler>
    private let status: ConnectionStatus
    private let closedFuture: EventLoopFuture<ClientError>

    init(_ established: EstablishedConnection) {
        self.endpoint = established.endpoint
        self.tuning = established.tuning
        self.serverProperties = established.serverProperties
        self.events = established.events
        self.handler = established.handler
        self.status = established.status
        self.closedFuture = established.closed
    }

    /// The event loop the connection's state lives on.
    public var eventLoop: any EventLoop {
        self.handler.eventLoop
    }

    /// The reason of the server's connection.blocked, while the server blocks publishes.
    public var blockedReason: String? {
        self.status.blockedReason.withLock { $0 }
    }

    /// True while the server blocks publishes (connection.blocked).
    public var isBlocked: Bool {
        self.blockedReason != nil
    }

    /// Opens a channel on the next free channel number.
    public func openChannel() async throws(ClientError) -> AMQPChannel {
        let handler = self.handler
        let opened = try await handler.eventLoop.flatSubmit { handler.value.openChannel() }.clientValue()
        return AMQPChannel(opened)
    }

    /// Closes the connection: connection.close 200, then the socket once the server
    /// answers, or after `closeTimeout`. Every channel fails with `connectionClosed`
    /// (consumers end normally; unconfirmed publishes become indeterminate). Returns once
    /// the socket is closed; at once when already closed.
    public func close() async {
        let handler = self.handler
        _ = try? await handler.eventLoop.flatSubmit { handler.value.close() }.get()
    }

    /// Waits until the connection is closed and returns why: `connectionClosed` after
    /// `close()`, `connectionClosedByServer` with the server's reply code and text,
    /// `heartbeatTimeout`, `connectionLost`, `io`, or `protocolViolation`.
    public func closed() async -> ClientError {
        (try? await self.closedFuture.get()) ?? .connectionLost
    }

    /// True while a consumer's full buffer keeps the connection from reading.
    func isReadingPaused() async -> Bool {
        let handler = self.handler
        return (try? await handler.eventLoop.submit { handler.value.isReadingPaused }.get()) ?? false
    }
}

extension AMQPConnection {
    /// Connects to the first of `hosts` that accepts: tries each in order, and for each
    /// bounds the TCP connect and then the handshake by `connectTimeout`.
    ///
    /// - Parameters:
    ///   - heartbeat: the interval to ask for (whole seconds; `.zero` for none).
    ///   - frameMax: the largest frame to accept (the server may lower it).
    /// - Throws: `ClientError.connectFailed` with each host's error when none accepts.
    public static func connect(
        hosts: [(host: String, port: Int)],
        credentials: Credentials = .guest,
        virtualHost: String = "/",
        heartbeat: TimeAmount = .seconds(60),
        frameMax: UInt32 = FrameParser.frameSizeMaxDefault,
        connectTimeout: TimeAmount = .seconds(10),
        on eventLoopGroup: any EventLoopGroup
    ) async throws(ClientError) -> AMQPConnection {
        let configuration = ConnectionConfiguration(
            credentials: credentials,
            virtualHost: virtualHost,
            heartbeat: heartbeat,
            frameMax: frameMax,
            connectTimeout: connectTimeout
        )
        return try await Self.connect(
            to: hosts.map { Endpoint(host: $0.host, port: $0.port) },
            configuration: configuration,
            on: eventLoopGroup
        )
    }

    /// Connects to the first of `endpoints` that accepts, with every setting given.
    public static func connect(
        to endpoints: [Endpoint],
        configuration: ConnectionConfiguration,
        on eventLoopGroup: any EventLoopGroup
    ) async throws(ClientError) -> AMQPConnection {
        precondition(!endpoints.isEmpty, "connect needs at least one host")
        var failures: [HostFailure] = []
        for endpoint in endpoints {
            do {
                return try await Self.connect(to: endpoint, configuration: configuration, on: eventLoopGroup)
            } catch {
                failures.append(HostFailure(endpoint: endpoint, error: error))
            }
        }
        throw ClientError.connectFailed(failures)
    }

    private static func connect(
        to endpoint: Endpoint,
        configuration: ConnectionConfiguration,
        on eventLoopGroup: any EventLoopGroup
    ) async throws(ClientError) -> AMQPConnection {
        let requested = configuration.requestedTuning
        let eventLoop = eventLoopGroup.next()
        // Completed by the handler when the handshake ends (or here, when no handler
        // was ever made); taken from the initializer, as the pipeline may already be torn
        // down when `connect` returns.
        let established = eventLoop.makePromise(of: EstablishedConnection.self)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try configuration.prepareChannel?(channel, endpoint)
                    let decoder = AMQPFrameDecoder(
                        role: .client,
                        frameSizeMax: requested.frameMax == 0 ? UInt32.max : requested.frameMax,
                        channelMax: requested.channelMax == 0 ? UInt16.max : requested.channelMax
                    )
                    let handler = ConnectionHandler(
                        configuration: configuration,
                        endpoint: endpoint,
                        eventLoop: channel.eventLoop
                    )
                    handler.established().cascade(to: established)
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(decoder))
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: endpoint.host, port: endpoint.port).get()
        } catch {
            let failure: ClientError =
                if case ChannelError.connectTimeout = error {
                    .timedOut("TCP connect to \(endpoint)")
                } else {
                    .wrapping(error)
                }
            established.fail(failure)
            throw failure
        }
        do {
            return AMQPConnection(try await established.futureResult.clientValue())
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }
}
