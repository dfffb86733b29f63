import Auth
import Broker
import FoundationEssentials
import Hummingbird
import NIOCore
import StatusAPI

/// RabbitMQ's management API routes for users, vhosts and permissions, with its paths, JSON
/// and status codes: `GET` answers from this node's replica; a change is proposed by the
/// leader, to which a follower passes the command on over its peer link (the user was
/// authenticated here, from the replicated users) and answers with the leader's outcome.
struct ManagementRoutes: Sendable {
    let routes: GuardedRoutes
    var reader: NodeAccess { routes.reader }

    /// The largest request body taken (a user's or a permission's JSON is far smaller).
    static let requestBytesMax = 64 << 10

    func add(to router: Router<StatusRequestContext>) {
        addObjectRoutes(to: router)
        addDefinitionRoutes(to: router)
        addHealthRoutes(to: router)
        addMessageRoutes(to: router)
        addConnectionRoutes(to: router)
        router.get("/api/whoami") { request, context in
            try await routes.serve(request, context, needing: .management, style: .management) { user in
                try StatusHTTPServer.json(WhoAmI(name: user.name, tags: user.tags))
            }
        }
        addUsers(to: router)
        addVHosts(to: router)
        addLimits(to: router)
        addPermissions(to: router)
    }

    // MARK: Users

    private func addUsers(to router: Router<StatusRequestContext>) {
        router.get("/api/users") { request, context in
            try await routes.serve(request, context, needing: .administrator, style: .management) { _ in
                try StatusHTTPServer.json(try await reader.read { $0.state.allUsers.map(Self.info) })
            }
        }
        router.get("/api/users/:user") { request, context in
            try await routes.serve(request, context, needing: .administrator, style: .management) { _ in
                let name = try Self.parameter("user", context)
                guard let user = try await reader.read({ $0.state.user(name) }) else { return try Self.notFound() }
                return try StatusHTTPServer.json(Self.info(user))
            }
        }
        router.get("/api/users/:user/permissions") { request, context in
            try await permissions(request, context, of: "user") { $0.user }
        }
        router.put("/api/users/:user") { request, context in
            try await routes.serve(request, context, needing: .administrator, changes: true, style: .management) { _ in
                let name = try Self.parameter("user", context)
                let body = try await request.body.collect(upTo: Self.requestBytesMax)
                let change: UserChange
                do {
                    change = try JSONDecoder().decode(UserChange.self, from: Data(body.readableBytesView))
                } catch {
                    return try Self.badRequest("the body is not a user: \(error)")
                }
                var hash: PasswordHash?
                if let password = change.password {
                    hash = PasswordHashing.hash(password)
                } else if let given = change.password_hash {
                    guard let bytes = Data(base64Encoded: given).map(Array.init), let decoded = PasswordHash(saltedDigest: bytes) else {
                        return try Self.badRequest("password_hash is base64 of a 4-byte salt and a SHA-256 digest")
                    }
                    hash = decoded
                }
                let exists = try await reader.read { $0.state.user(name) != nil }
                return try await execute(.putUser(User(name: name, passwordHash: hash, tags: change.tags)), created: !exists)
            }
        }
        router.delete("/api/users/:user") { request, context in
            try await routes.serve(request, context, needing: .administrator, changes: true, style: .management) { _ in
                try await execute(.deleteUser(name: try Self.parameter("user", context)), created: false)
            }
        }
    }

    // MARK: Vhosts

    private func addVHosts(to router: Router<StatusRequestContext>) {
        router.get("/api/vhosts") { request, context in
            try await routes.serve(request, context, needing: .management, style: .management) { user in
                // As RabbitMQ: an administrator sees every vhost, anyone else those it may use.
                let administrator = HTTPGuard.Need.administrator.isMet(by: user.tags)
                return try StatusHTTPServer.json(try await reader.read { core in
                    core.state.vhostNames.filter { administrator || AccessControl.mayOpen(core.state, vhost: $0, user: user.name) }.map(VHostInfo.init)
                })
            }
        }
        router.get("/api/vhosts/:vhost") { request, context in
            try await routes.serve(request, context, needing: .management, style: .management) { _ in
                let name = try Self.parameter("vhost", context)
                guard try await reader.read({ $0.state.vhostNames.contains(name) }) else { return try Self.notFound() }
                return try StatusHTTPServer.json(VHostInfo(name: name))
            }
        }
        router.get("/api/vhosts/:vhost/permissions") { request, context in
            try await permissions(request, context, of: "vhost") { $0.vhost }
        }
        router.put("/api/vhosts/:vhost") { request, context in
            try await routes.serve(request, context, needing: .administrator, changes: true, style: .management) { user in
                let name = try Self.parameter("vhost", context)
                let exists = try await reader.read { $0.state.vhostNames.contains(name) }
                let response = try await execute(.declareVHost(name: name), created: !exists)
                // As RabbitMQ's: whoever creates a vhost here may use it.
                guard response.status == .created else { return response }
                return try await execute(.setPermission(vhost: name, user: user.name, .all), created: true)
            }
        }
        router.delete("/api/vhosts/:vhost") { request, context in
            try await routes.serve(request, context, needing: .administrator, changes: true, style: .management) { _ in
                try await execute(.deleteVHost(name: try Self.parameter("vhost", context)), created: false)
            }
        }
    }

    // MARK: Permissions

    private func addPermissions(to router: Router<StatusRequestContext>) {
        router.get("/api/permissions") { request, context in
            try await routes.serve(request, context, needing: .administrator, style: .management) { _ in
                try StatusHTTPServer.json(try await reader.read { $0.state.allPermissions.map(Self.info) })
            }
        }
        router.get("/api/permissions/:vhost/:user") { request, context in
            try await routes.serve(request, context, needing: .administrator, style: .management) { _ in
                let vhost = try Self.parameter("vhost", context)
                let user = try Self.parameter("user", context)
                guard let permission = try await reader.read({ $0.state.permission(vhost: vhost, user: user) }) else { return try Self.notFound() }
                return try StatusHTTPServer.json(Self.info((vhost, user, permission)))
            }
        }
        router.put("/api/permissions/:vhost/:user") { request, context in
            try await routes.serve(request, context, needing: .administrator, changes: true, style: .management) { _ in
                let vhost = try Self.parameter("vhost", context)
                let user = try Self.parameter("user", context)
                let body = try await request.body.collect(upTo: Self.requestBytesMax)
                let change: PermissionChange
                do {
                    change = try JSONDecoder().decode(PermissionChange.self, from: Data(body.readableBytesView))
                } catch {
                    return try Self.badRequest("the body is not a permission (configure, write, read): \(error)")
                }
                let exists = try await reader.read { $0.state.permission(vhost: vhost, user: user) != nil }
                let permission = Permission(configure: change.configure, write: change.write, read: change.read)
                // As RabbitMQ: a permission for a user or vhost that does not exist is a bad request.
                return try await execute(
                    .setPermission(vhost: vhost, user: user, permission), created: !exists, missing: .badRequest("vhost_or_user_not_found"))
            }
        }
        router.delete("/api/permissions/:vhost/:user") { request, context in
            try await routes.serve(request, context, needing: .administrator, changes: true, style: .management) { _ in
                let command = BrokerCommand.clearPermission(vhost: try Self.parameter("vhost", context), user: try Self.parameter("user", context))
                return try await execute(command, created: false)
            }
        }
    }

    // MARK: Limits

    /// `/api/vhost-limits` and `/api/user-limits`: every subject's limits, one subject's,
    /// and PUT (`{"value": N}`) or DELETE of one limit.
    private func addLimits(to router: Router<StatusRequestContext>) {
        for (path, makeSubject) in [("/api/vhost-limits", LimitSubject.vhost), ("/api/user-limits", LimitSubject.user)] {
            router.get(RouterPath(path)) { request, context in
                try await routes.serve(request, context, needing: .administrator, style: .management) { _ in
                    try StatusHTTPServer.json(try await reader.read { core in
                        core.state.allResourceLimits.filter { makeSubject($0.subject.name) == $0.subject }.map(Self.info)
                    })
                }
            }
            router.get(RouterPath(path + "/:name")) { request, context in
                try await routes.serve(request, context, needing: .administrator, style: .management) { _ in
                    let subject = makeSubject(try Self.parameter("name", context))
                    return try StatusHTTPServer.json(try await reader.read { core in
                        core.state.allResourceLimits.filter { $0.subject == subject }.map(Self.info)
                    })
                }
            }
            router.put(RouterPath(path + "/:name/:limit")) { request, context in
                try await routes.serve(request, context, needing: .administrator, changes: true, style: .management) { _ in
                    let subject = makeSubject(try Self.parameter("name", context))
                    guard let limit = ResourceLimit(rawValue: try Self.parameter("limit", context)) else {
                        return try Self.badRequest("no such limit: \(try Self.parameter("limit", context))")
                    }
                    let body = try await request.body.collect(upTo: Self.requestBytesMax)
                    let change: LimitChange
                    do {
                        change = try JSONDecoder().decode(LimitChange.self, from: Data(body.readableBytesView))
                    } catch {
                        return try Self.badRequest("the body is a limit's value, {\"value\": N}: \(error)")
                    }
                    return try await execute(.setLimit(subject, limit, value: change.value), created: false)
                }
            }
            router.delete(RouterPath(path + "/:name/:limit")) { request, context in
                try await routes.serve(request, context, needing: .administrator, changes: true, style: .management) { _ in
                    let subject = makeSubject(try Self.parameter("name", context))
                    guard let limit = ResourceLimit(rawValue: try Self.parameter("limit", context)) else { return try Self.notFound() }
                    return try await execute(.clearLimit(subject, limit), created: false)
                }
            }
        }
    }

    // MARK: Changes

    /// What a change answers when what it names is not there.
    enum Missing {
        case notFound
        case badRequest(String)
    }

    /// Makes `command` on the leader (a follower passes it on over its peer link) and
    /// answers as RabbitMQ does: 201 for what it created (`created`, as this node's replica
    /// saw it, which on the leader is the state the command applies to), 204 for a change or
    /// a deletion.
    func execute(
        _ command: BrokerCommand, created: Bool, missing: Missing = .notFound
    ) async throws -> Response {
        switch try await reader.change(command) {
        case .done:
            return Response(status: created ? .created : .noContent)
        case .refused(let error) where error.code == .notFound:
            switch missing {
            case .notFound: return try Self.notFound()
            case .badRequest(let reason): return try Self.badRequest(reason)
            }
        case .refused(let error):
            return try Self.badRequest(error.message)
        case .unavailable(let reason):
            return try Self.unavailable(reason)
        }
    }

    // MARK: Shapes

    /// The permissions of the user or on the vhost the route's `parameter` names.
    private func permissions(
        _ request: Request, _ context: StatusRequestContext, of parameter: String,
        _ subject: @escaping @Sendable ((vhost: String, user: String, permission: Permission)) -> String
    ) async throws -> Response {
        try await routes.serve(request, context, needing: .administrator, style: .management) { _ in
            let name = try Self.parameter(parameter, context)
            return try StatusHTTPServer.json(try await reader.read { core in
                core.state.allPermissions.filter { subject($0) == name }.map(Self.info)
            })
        }
    }

    private static func info(_ entry: (subject: LimitSubject, limits: [ResourceLimit: Int64])) -> LimitsInfo {
        let value = Dictionary(uniqueKeysWithValues: entry.limits.map { ($0.key.rawValue, $0.value) })
        switch entry.subject {
        case .vhost(let name): return LimitsInfo(vhost: name, value: value)
        case .user(let name): return LimitsInfo(user: name, value: value)
        }
    }

    private static func info(_ user: User) -> UserInfo {
        UserInfo(
            name: user.name, password_hash: user.passwordHash.map { Data($0.saltedDigest).base64EncodedString() } ?? "",
            hashing_algorithm: (user.passwordHash?.algorithm ?? .sha256).name, tags: user.tags)
    }

    private static func info(_ entry: (vhost: String, user: String, permission: Permission)) -> PermissionInfo {
        PermissionInfo(
            user: entry.user, vhost: entry.vhost, configure: entry.permission.configure, write: entry.permission.write,
            read: entry.permission.read)
    }

    /// A path parameter, percent-decoded: the default vhost "/" comes as `%2F`.
    static func parameter(_ name: String, _ context: StatusRequestContext) throws -> String {
        guard let raw = context.parameters.get(name) else { throw HTTPError(.badRequest, message: "missing \(name)") }
        return raw.removingPercentEncoding ?? raw
    }

    static func notFound() throws -> Response {
        try StatusHTTPServer.json(ManagementError(error: "Object Not Found", reason: "Not Found"), status: .notFound)
    }

    static func badRequest(_ reason: String) throws -> Response {
        try StatusHTTPServer.json(ManagementError(error: "bad_request", reason: reason), status: .badRequest)
    }

    /// 503: no leader answered, or the broker could not be reached.
    static func unavailable(_ reason: String) throws -> Response {
        try StatusHTTPServer.json(ManagementError(error: "unavailable", reason: reason), status: .serviceUnavailable)
    }
}
