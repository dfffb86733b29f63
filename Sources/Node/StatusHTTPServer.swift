import Auth
import FoundationEssentials
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import StatusAPI

/// The node's HTTP port: the status API (see `NodeStatus`, `QueuesStatus`, `HealthStatus`),
/// RabbitMQ's management routes for users, vhosts and permissions (`ManagementRoutes`) and
/// the operator's dashboard at `/` (`DashboardPage`), served by Hummingbird on the node's own
/// event loop.
final class StatusHTTPServer: Sendable {
    let address: SocketAddress
    private let services: ServiceGroup
    private let running: Task<Void, any Error>

    private init(address: SocketAddress, services: ServiceGroup, running: Task<Void, any Error>) {
        self.address = address
        self.services = services
        self.running = running
    }

    /// Listens on `host:port` (port 0: any free port), over TLS with `tls`, and returns once
    /// it does.
    static func start(host: String, port: Int, tls: TLSConfiguration? = nil, reader: NodeAccess, logger: Logger) async throws -> StatusHTTPServer {
        try await serve(router(reader, guarding: HTTPGuard(listeningHost: host), logger: logger), host: host, port: port, tls: tls,
                        loop: reader.loop, logger: logger)
    }

    /// The Prometheus endpoint's own port (RabbitMQ's 15692): `GET /metrics`, and
    /// `/metrics/per-object` with a series for each queue. Unauthenticated, as RabbitMQ's
    /// is: what a scraper reads is counts, never a message nor a credential.
    static func startMetrics(host: String, port: Int, reader: NodeAccess, logger: Logger) async throws -> StatusHTTPServer {
        let router = Router(context: StatusRequestContext.self)
        for (path, perObject) in [("/metrics", false), ("/metrics/per-object", true)] {
            router.get(RouterPath(path)) { _, _ in
                let text = try await reader.read { $0.prometheusText(perObject: perObject) }
                return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                                body: ResponseBody(byteBuffer: ByteBuffer(bytes: text)))
            }
        }
        return try await serve(router, host: host, port: port, tls: nil, loop: reader.loop, logger: logger)
    }

    private static func serve(
        _ router: Router<StatusRequestContext>, host: String, port: Int, tls: TLSConfiguration?, loop: any EventLoop, logger: Logger
    ) async throws -> StatusHTTPServer {
        let listening = loop.makePromise(of: SocketAddress.self)
        let application = Application(
            router: router,
            server: try tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1(),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "berth"),
            onServerRunning: { channel in
                if let address = channel.localAddress { listening.succeed(address) } else { listening.fail(NodeStartError.noAddress) }
            },
            eventLoopGroupProvider: .shared(loop),
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

    private static func router(_ reader: NodeAccess, guarding: HTTPGuard, logger: Logger) -> Router<StatusRequestContext> {
        let router = Router(context: StatusRequestContext.self)
        let routes = GuardedRoutes(reader: reader, guarding: guarding, logger: logger)
        // Unguarded: the page holds no data; its requests to the API are guarded (see DashboardPage).
        for path in ["/", "/index.html"] {
            router.get(RouterPath(path)) { _, _ in DashboardPage.response() }
        }
        router.get("/api/berth/node") { request, context in try await routes.serve(request, context, needing: .management) { _ in
            try json(await reader.read(\.nodeStatus))
        } }
        router.get("/api/berth/queues") { request, context in try await routes.serve(request, context, needing: .management) { _ in
            try json(await reader.queuesStatus())
        } }
        router.get("/api/berth/health") { request, context in try await routes.serve(request, context, needing: .management) { _ in
            let health = try await reader.read(\.healthStatus)
            return try json(health, status: health.isHealthy ? .ok : .serviceUnavailable)
        } }
        router.post("/api/berth/leave") { request, context in try await routes.serve(request, context, needing: .administrator, changes: true) { _ in
            try await reader.leave(timeout: .seconds(10))
            // Left: the process has nothing more to do in the cluster.
            try await reader.read { $0.stopRequest.succeed(nil) }
            return try json(ActionResult(done: true, message: "left the cluster; stopping"))
        } }
        router.delete("/api/berth/members/:id") { request, context in try await routes.serve(request, context, needing: .administrator, changes: true) { _ in
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
        ManagementRoutes(routes: routes).add(to: router)
        return router
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
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
