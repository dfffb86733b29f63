import Broker
import Gossip
import Logging
import NIOCore
import Raft
import NIOSSL
import PeerWire
import StatusAPI

/// The node as its HTTP API and `BerthNode` reach it: on the node's event loop, where the
/// core lives.
struct NodeAccess: Sendable {
    let loop: any EventLoop
    let core: NIOLoopBound<NodeCore>

    func read<Value: Sendable>(_ answer: @escaping @Sendable (NodeCore) throws -> Value) async throws -> Value {
        try await loop.submit { [core] in try answer(core.value) }.get()
    }

    /// What `ask` hands its completion, asked on the loop: for the core's calls that answer
    /// later (once the leader or another member has).
    func awaitAnswer<Value: Sendable>(_ ask: @escaping @Sendable (NodeCore, @escaping (Value) -> Void) -> Void) async throws -> Value {
        try await loop.flatSubmit { [core] () -> EventLoopFuture<Value> in
            let answer = core.value.loop.makePromise(of: Value.self)
            ask(core.value) { answer.succeed($0) }
            return answer.futureResult
        }.get()
    }

    /// Makes `command` on the leader, from whichever node this is (`NodeCore.change`), and
    /// returns once it is applied or refused.
    func change(_ command: BrokerCommand) async throws -> NodeCore.ChangeOutcome {
        try await awaitAnswer { core, done in core.change(command, completion: done) }
    }

    /// What only the leader knows (NodeCore.leaderCounts): nil if no leader answers.
    func leaderCounts() async throws -> LeaderCounts? {
        try await awaitAnswer { core, done in core.leaderCounts(completion: done) }
    }

    /// The cluster's client connections (NodeCore.leaderClientConnections): nil if no leader answers.
    func clientConnections() async throws -> ClientConnections? {
        try await awaitAnswer { core, done in core.leaderClientConnections(completion: done) }
    }

    /// Closes a client connection on the node it is connected to: whether it was there (nil:
    /// that node did not answer).
    func closeClientConnection(named name: String, on node: NodeID, reason: String) async throws -> Bool? {
        try await awaitAnswer { core, done in core.closeClientConnection(named: name, on: node, reason: reason, completion: done) }
    }

    /// Every queue as this node's replica has it, with the counts only the leader has
    /// (ready, unacked, consumers) from the leader: absent only when no leader answers.
    func queuesStatus() async throws -> QueuesStatus {
        var status = try await read(\.queuesStatus)
        guard status.queues.contains(where: { $0.ready == nil }), let counts = try await leaderCounts() else { return status }
        var byName: [QueueName: QueueCount] = [:]
        for count in counts.queues { byName[QueueName(vhost: count.vhost, count.name)] = count }
        for index in status.queues.indices {
            guard let count = byName[QueueName(vhost: status.queues[index].vhost, status.queues[index].name)] else { continue }
            status.queues[index].ready = Int(count.ready)
            status.queues[index].unacked = Int(count.unacknowledged)
            status.queues[index].consumers = Int(count.consumers)
        }
        return status
    }

    /// Leaves the cluster gracefully: a leader proposes its own removal; gossip announces
    /// the departure, and the leader removes this node from the group. Returns once this
    /// node's log holds its removal; throws after `timeout`.
    func leave(timeout: Duration) async throws {
        try await loop.flatSubmit { [core] () -> EventLoopFuture<Void> in
            core.value.proposeOwnRemoval()
            return core.value.gossip?.leave() ?? core.value.loop.makeSucceededVoidFuture()
        }.get()
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await read({ !$0.group.core.newestMembership.contains($0.group.core.id) }) { return }
            try await read { $0.proposeOwnRemoval() }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw NodeStartError.leaveTimedOut
    }
}

extension BerthNode {
    /// Where the status API listens, nil if the node has no HTTP port.
    public var httpAddress: SocketAddress? { httpServer?.address }

    /// Where the same API is served over TLS, if it is.
    public var httpsAddress: SocketAddress? { httpsServer?.address }

    /// Where the Prometheus endpoint listens, if it does.
    public var metricsAddress: SocketAddress? { metricsServer?.address }

    /// What `GET /api/berth/node` answers.
    public func nodeStatus() async throws -> NodeStatus {
        try await statusReader.read(\.nodeStatus)
    }

    /// What `GET /api/berth/queues` answers.
    public func queuesStatus() async throws -> QueuesStatus {
        try await statusReader.queuesStatus()
    }

    var statusReader: NodeAccess { NodeAccess(loop: loop, core: core) }

    /// The HTTP port of `configuration`, if it asks for one; over TLS with `tls`.
    static func startHTTP(
        _ configuration: NodeConfiguration, port: Int?, tls: TLSConfiguration? = nil, reader: NodeAccess, logger: Logger
    ) async throws -> StatusHTTPServer? {
        guard let port else { return nil }
        return try await StatusHTTPServer.start(host: configuration.httpHost, port: port, tls: tls, reader: reader, logger: httpLogger(logger))
    }

    /// The HTTP servers' logger, at the node's level.
    static func httpLogger(_ logger: Logger) -> Logger {
        var httpLogger = Logger(label: "berth.http")
        httpLogger.logLevel = logger.logLevel
        return httpLogger
    }
}
