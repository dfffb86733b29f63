import Auth
import FoundationEssentials
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import StatusAPI

/// The node's HTTP port: the status API (see `NodeStatus`, `QueuesStatus`, `HealthStatus`),
/// served by Hummingbird on the node's own event loop.
final class StatusHTTPServer: Sendable {
    let address: SocketAddress
    private let services: ServiceGroup
    private let running: Task<Void, any Error>

    private init(address: SocketAddress, services: ServiceGroup, running: Task<Void, any Error>) {
        self.address = address
        self.services = services
        self.running = running
    }

    /// Listens on `host:port` (port 0: any free port) and returns once it does.
    static func start(host: String, port: Int, reader: NodeAccess, users: UserStore, logger: Logger) async throws -> StatusHTTPServer {
        let listening = reader.loop.makePromise(of: SocketAddress.self)
        let application = Application(
            router: router(reader, changes: HTTPChangeGuard(users: users, listeningHost: host), logger: logger),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "berth"),
            onServerRunning: { channel in
                if let address = channel.localAddress { listening.succeed(address) } else { listening.fail(NodeStartError.noAddress) }
            },
            eventLoopGroupProvider: .shared(reader.loop),
            logger: logger)
        var configuration = ServiceGroupConfiguration(services: [application], logger: logger)
        // A client that never finishes its request must not hold up the node's shutdown.
        configuration.maximumGracefulShutdownDuration = .seconds(2)
        let services = ServiceGroup(configuration: configuration)
        let running = Task {
            do {
                try await services.run()
            } catch {
                listening.fail(error)  // no effect once it listened
                throw error
            }
            listening.fail(StatusHTTPServerError.stoppedBeforeListening)
        }
        return StatusHTTPServer(address: try await listening.futureResult.get(), services: services, running: running)
    }

    /// Stops listening, lets requests in progress finish, and closes every connection.
    func stop() async throws {
        await services.triggerGracefulShutdown()
        try await running.value
    }

    private static func router(_ reader: NodeAccess, changes: HTTPChangeGuard, logger: Logger) -> Router<StatusRequestContext> {
        let router = Router(context: StatusRequestContext.self)
        router.get("/api/node") { _, _ in try json(await reader.read(\.nodeStatus)) }
        router.get("/api/queues") { _, _ in try json(await reader.read(\.queuesStatus)) }
        /// A route that changes the cluster answers only what `changes` lets through.
        @Sendable func guarded(_ request: Request, _ context: StatusRequestContext, _ change: () async throws -> Response) async throws -> Response {
            if let refusal = changes.refusal(of: request, from: context.remoteAddress) {
                logger.warning("refused a change through HTTP", metadata: [
                    "route": "\(request.method) \(request.uri.path)", "peer": "\(context.remoteAddress.map { "\($0)" } ?? "unknown")",
                    "reason": "\(refusal.message)",
                ])
                var response = try json(ActionResult(done: false, message: refusal.message), status: refusal.status)
                if case .unauthenticated = refusal { response.headers[.wwwAuthenticate] = "Basic realm=\"berth\"" }
                return response
            }
            return try await change()
        }
        router.post("/api/leave") { request, context in try await guarded(request, context) {
            try await reader.leave(timeout: .seconds(10))
            // Left: the process has nothing more to do in the cluster.
            try await reader.read { $0.stopRequest.succeed(nil) }
            return try json(ActionResult(done: true, message: "left the cluster; stopping"))
        } }
        router.delete("/api/members/:id") { request, context in try await guarded(request, context) {
            guard let id = context.parameters.get("id", as: UInt64.self) else {
                return try json(ActionResult(done: false, message: "a member id is a number"), status: .badRequest)
            }
            do {
                try await reader.read { try $0.remove(id) }
                return try json(ActionResult(done: true, message: "removing node \(id)"))
            } catch NodeError.notLeader {
                let leader = try await reader.read { $0.leader }
                return try json(ActionResult(done: false, message: "this node does not lead; " + (leader.map { "node \($0) does" } ?? "no leader is known")),
                                status: .conflict)
            } catch let error as MembershipError {
                return try json(ActionResult(done: false, message: "\(error)"), status: .notFound)
            }
        } }
        router.get("/api/health") { _, _ in
            let health = try await reader.read(\.healthStatus)
            return try json(health, status: health.isHealthy ? .ok : .serviceUnavailable)
        }
        return router
    }

    private static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}

enum StatusHTTPServerError: Error, CustomStringConvertible {
    case stoppedBeforeListening

    var description: String { "the HTTP server stopped before it listened" }
}
