import Broker
import Gossip
import Logging
import NIOCore
import NIOSSL
import StatusAPI

/// The node as its HTTP API and `BerthNode` reach it: on the node's event loop, where the
/// core lives.
struct NodeAccess: Sendable {
    let loop: any EventLoop
    let core: NIOLoopBound<NodeCore>

    func read<Value: Sendable>(_ answer: @escaping @Sendable (NodeCore) throws -> Value) async throws -> Value {
        try await loop.submit { [core] in try answer(core.value) }.get()
    }

    /// Makes `command` on the leader, from whichever node this is (`NodeCore.change`), and
    /// returns once it is applied or refused.
    func change(_ command: BrokerCommand) async throws -> NodeCore.ChangeOutcome {
        try await loop.flatSubmit { [core] () -> EventLoopFuture<NodeCore.ChangeOutcome> in
            let outcome = core.value.loop.makePromise(of: NodeCore.ChangeOutcome.self)
            core.value.change(command) { outcome.succeed($0) }
            return outcome.futureResult
        }.get()
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

    /// What `GET /api/node` answers.
    public func nodeStatus() async throws -> NodeStatus {
        try await statusReader.read(\.nodeStatus)
    }

    /// What `GET /api/queues` answers.
    public func queuesStatus() async throws -> QueuesStatus {
        try await statusReader.read(\.queuesStatus)
    }

    var statusReader: NodeAccess { NodeAccess(loop: loop, core: core) }

    /// The HTTP port of `configuration`, if it asks for one; over TLS with `tls`.
    static func startHTTP(
        _ configuration: NodeConfiguration, port: Int?, tls: TLSConfiguration? = nil, reader: NodeAccess, logger: Logger
    ) async throws -> StatusHTTPServer? {
        guard let port else { return nil }
        var httpLogger = Logger(label: "berth.http")
        httpLogger.logLevel = logger.logLevel
        return try await StatusHTTPServer.start(host: configuration.httpHost, port: port, tls: tls, reader: reader, logger: httpLogger)
    }
}
