import AMQP
import NIOCore

/// How to connect: credentials, virtual host, the limits to propose and the timeouts.
public struct ConnectionConfiguration: Sendable {
    public var credentials: Credentials
    public var virtualHost: String
    /// The heartbeat interval to ask for; rounded up to whole seconds. `.zero` turns
    /// heartbeats off. The server may lower it. When on, the connection fails with
    /// `heartbeatTimeout` if nothing arrives for twice the agreed interval.
    public var heartbeat: TimeAmount
    /// The largest frame to accept, in bytes (0: no limit); the server may lower it.
    public var frameMax: UInt32
    /// The highest channel number to use (0: no limit); the server may lower it.
    public var channelMax: UInt16
    /// Bounds the TCP connect to each host, and separately the AMQP handshake after it.
    public var connectTimeout: TimeAmount
    /// Bounds the wait for every reply to a synchronous method (declare, bind, qos,
    /// consume, get, tx, close, …). When it passes, the call fails with `timedOut` and
    /// the channel is closed, since later replies could no longer be matched.
    public var rpcTimeout: TimeAmount
    /// Bounds the wait for `connection.close-ok` before the socket is closed anyway.
    public var closeTimeout: TimeAmount
    /// The largest message body accepted from the server, in bytes.
    public var messageSizeMax: UInt64
    /// Shown by the server's management tools.
    public var connectionName: String?
    /// Called on each new socket, on its event loop, before the AMQP handlers go in: to add
    /// what goes under AMQP, such as a TLS handler (this module has no TLS of its own).
    public var prepareChannel: (@Sendable (any Channel, Endpoint) throws -> Void)?

    /// The most synchronous calls waiting for their reply on one channel.
    public static let rpcsPendingMax = 256
    /// The most publishes waiting for room in the confirm window (or for the socket to
    /// drain) on one channel.
    public static let publishesWaitingMax = 4096

    public init(
        credentials: Credentials = .guest,
        virtualHost: String = "/",
        heartbeat: TimeAmount = .seconds(60),
        frameMax: UInt32 = FrameParser.frameSizeMaxDefault,
        channelMax: UInt16 = FrameParser.channelMaxDefault,
        connectTimeout: TimeAmount = .seconds(10),
        rpcTimeout: TimeAmount = .seconds(30),
        closeTimeout: TimeAmount = .seconds(5),
        messageSizeMax: UInt64 = 128 * 1024 * 1024,
        connectionName: String? = nil
    ) {
        precondition(heartbeat >= .zero, "heartbeat \(heartbeat) is negative")
        precondition(frameMax == 0 || frameMax >= Frame.sizeMin, "frame-max \(frameMax) < \(Frame.sizeMin)")
        precondition(connectTimeout > .zero, "connect timeout must be positive")
        precondition(rpcTimeout > .zero, "rpc timeout must be positive")
        precondition(closeTimeout > .zero, "close timeout must be positive")
        self.credentials = credentials
        self.virtualHost = virtualHost
        self.heartbeat = heartbeat
        self.frameMax = frameMax
        self.channelMax = channelMax
        self.connectTimeout = connectTimeout
        self.rpcTimeout = rpcTimeout
        self.closeTimeout = closeTimeout
        self.messageSizeMax = messageSizeMax
        self.connectionName = connectionName
    }

    /// The tuning this client asks for.
    var requestedTuning: Tuning {
        let nanoseconds = self.heartbeat.nanoseconds
        let seconds = (nanoseconds + 999_999_999) / 1_000_000_000
        return Tuning(
            channelMax: self.channelMax,
            frameMax: self.frameMax,
            heartbeatSeconds: UInt16(clamping: seconds)
        )
    }
}
