import Auth
import Broker
import Hummingbird
import PeerWire
import StatusAPI

/// RabbitMQ's routes for client connections, channels and consumers: `/api/connections`
/// (and `/api/connections/NAME`, `/api/connections/NAME/channels`,
/// `/api/vhosts/VHOST/connections`), `/api/channels` (and per vhost) and
/// `/api/consumers[/VHOST]`. The leader serves every channel of the cluster, so it answers
/// for all of them and a follower asks it (`NodeCore.leaderClientConnections`). As in
/// RabbitMQ, a user sees its own connections and channels unless it has the
/// `administrator` or `monitoring` tag, and the consumers of the vhosts it may see.
extension ManagementRoutes {
    func addConnectionRoutes(to router: Router<StatusRequestContext>) {
        for path in ["/api/connections", "/api/vhosts/:vhost/connections"] {
            router.get(RouterPath(path)) { request, context in
                try await listing(request, context) { all, user, vhost in
                    try StatusHTTPServer.json(all.connections.filter { Self.sees(user, $0.user) && (vhost == nil || $0.vhost == vhost) })
                }
            }
        }
        router.get("/api/connections/:connection") { request, context in
            try await listing(request, context) { all, user, _ in
                let name = try Self.parameter("connection", context)
                guard let connection = all.connections.first(where: { $0.name == name && Self.sees(user, $0.user) }) else { return try Self.notFound() }
                return try StatusHTTPServer.json(connection)
            }
        }
        // As RabbitMQ's: 320 CONNECTION_FORCED with the X-Reason header's text, or its own.
        router.delete("/api/connections/:connection") { request, context in
            try await routes.serve(request, context, needing: .management, changes: true, style: .management) { user in
                let name = try Self.parameter("connection", context)
                guard let all = try await reader.clientConnections() else { return try Self.unavailable("no leader answered for the cluster's connections") }
                guard let connection = all.connections.first(where: { $0.name == name && Self.sees(user, $0.user) }),
                    let node = Self.nodeID(named: connection.node)
                else { return try Self.notFound() }
                guard connection.user == user.name || user.tags.contains("administrator") else {
                    return try StatusHTTPServer.json(ManagementError(error: "not_authorised", reason: "only an administrator closes another user's connection"),
                                                     status: .forbidden)
                }
                let given = request.headers.first { $0.name.canonicalName == "x-reason" }?.value
                let reason = given.map { String(decoding: $0.utf8.prefix(PeerFrame.closeReasonBytesMax), as: UTF8.self) } ?? Self.closedByOperator
                switch try await reader.closeClientConnection(named: name, on: node, reason: reason) {
                case true?: return Response(status: .noContent)
                case false?: return try Self.notFound()
                case nil: return try Self.unavailable("node \(node), which the client is connected to, did not answer")
                }
            }
        }
        router.get("/api/connections/:connection/channels") { request, context in
            try await listing(request, context) { all, user, _ in
                let name = try Self.parameter("connection", context)
                guard all.connections.contains(where: { $0.name == name && Self.sees(user, $0.user) }) else { return try Self.notFound() }
                return try StatusHTTPServer.json(all.channels.filter { $0.connection_details.name == name })
            }
        }
        for path in ["/api/channels", "/api/vhosts/:vhost/channels"] {
            router.get(RouterPath(path)) { request, context in
                try await listing(request, context) { all, user, vhost in
                    try StatusHTTPServer.json(all.channels.filter { Self.sees(user, $0.user) && (vhost == nil || $0.vhost == vhost) })
                }
            }
        }
        for path in ["/api/consumers", "/api/consumers/:vhost"] {
            router.get(RouterPath(path)) { request, context in
                try await listing(request, context) { all, user, vhost in
                    let visible = try await reader.read { core in Set(Self.visibleVHosts(core.state, to: user)) }
                    return try StatusHTTPServer.json(all.consumers.filter { visible.contains($0.queue.vhost) && (vhost == nil || $0.queue.vhost == vhost) })
                }
            }
        }
    }

    /// Serves a list of the cluster's connections to a user with a management tag; 404 for
    /// a vhost in the path that is not there or not visible to the user, 503 when no leader
    /// answers.
    private func listing(
        _ request: Request, _ context: StatusRequestContext, _ answer: @escaping @Sendable (ClientConnections, User, String?) async throws -> Response
    ) async throws -> Response {
        try await routes.serve(request, context, needing: .management, style: .management) { user in
            let vhost = try context.parameters.get("vhost").map { _ in try Self.parameter("vhost", context) }
            if let vhost {
                guard try await reader.read({ core in Self.visibleVHosts(core.state, to: user).contains(vhost) }) else { return try Self.notFound() }
            }
            guard let all = try await reader.clientConnections() else { return try Self.unavailable("no leader answered for the cluster's connections") }
            return try await answer(all, user, vhost)
        }
    }

    /// The reason RabbitMQ gives a client whose connection its management API closed.
    static let closedByOperator = "Closed via management plugin"

    /// Whether `user` sees what `owner` opened.
    private static func sees(_ user: User, _ owner: String) -> Bool {
        user.name == owner || user.tags.contains("administrator") || user.tags.contains("monitoring")
    }
}
