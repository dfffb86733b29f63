import Logging
import NIOCore

/// Reads the node's state for the status API: on the node's event loop, where the core lives.
struct NodeStatusReader: Sendable {
    let loop: any EventLoop
    let core: NIOLoopBound<NodeCore>

    func read<Value: Sendable>(_ answer: @escaping @Sendable (NodeCore) -> Value) async throws -> Value {
        try await loop.submit { [core] in answer(core.value) }.get()
    }
}

extension BerthNode {
    /// Where the status API listens, nil if the node has no HTTP port.
    public var httpAddress: SocketAddress? { httpServer?.address }

    /// What `GET /api/node` answers.
    public func nodeStatus() async throws -> NodeStatus {
        try await statusReader.read(\.nodeStatus)
    }

    /// What `GET /api/queues` answers.
    public func queuesStatus() async throws -> QueuesStatus {
        try await statusReader.read(\.queuesStatus)
    }

    var statusReader: NodeStatusReader { NodeStatusReader(loop: loop, core: core) }

    /// The HTTP port of `configuration`, if it asks for one.
    static func startHTTP(_ configuration: NodeConfiguration, reader: NodeStatusReader, logger: Logger) async throws -> StatusHTTPServer? {
        guard let port = configuration.httpPort else { return nil }
        var httpLogger = Logger(label: "berth.http")
        httpLogger.logLevel = logger.logLevel
        return try await StatusHTTPServer.start(host: configuration.httpHost, port: port, reader: reader, logger: httpLogger)
    }
}
