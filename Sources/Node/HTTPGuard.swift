import Auth
import Broker
import FoundationEssentials
import Glibc
import Hummingbird
import Logging
import NIOCore
import StatusAPI

/// Who may use the HTTP API, as RabbitMQ's management plugin decides it: every route needs a
/// broker user's credentials (HTTP basic authentication; `guest` only from loopback, as over
/// AMQP) and a tag that lets the user in (`management`, `policymaker`, `monitoring` or
/// `administrator`); routes that manage users, vhosts, permissions or members need
/// `administrator`. A request that changes something must also be addressed to this node by
/// an IP address, `localhost` or the host it listens on (a page whose name was made to
/// resolve to the node gets nothing: DNS rebinding), and not come from a page of another
/// site (an `Origin` or `Sec-Fetch-Site` that says so is refused).
struct HTTPGuard: Sendable {
    /// The host the HTTP API listens on, as configured.
    let listeningHost: String

    /// What a route needs of the user who asks.
    enum Need: Sendable {
        /// Any management tag: reading.
        case management
        /// `administrator`: users, vhosts, permissions, members.
        case administrator

        func isMet(by tags: [String]) -> Bool {
            switch self {
            case .management: tags.contains { HTTPGuard.managementTags.contains($0) }
            case .administrator: tags.contains("administrator")
            }
        }
    }

    static let managementTags: Set<String> = ["management", "policymaker", "monitoring", "administrator"]

    enum Refusal: Error, Equatable {
        /// No credentials, wrong ones, or a user without the tag: 401, as RabbitMQ answers.
        case unauthenticated(String)
        /// Whoever asks, the request may not change anything: 403.
        case forbidden(String)

        var status: HTTPResponse.Status {
            switch self {
            case .unauthenticated: .unauthorized
            case .forbidden: .forbidden
            }
        }

        var message: String {
            switch self {
            case .unauthenticated(let message), .forbidden(let message): message
            }
        }
    }

    /// Why a request that changes something may not, whoever sends it, or nil if it may.
    func crossSiteRefusal(of request: Request) -> Refusal? {
        guard let authority = request.head.authority, namesThisNode(authority) else {
            return .forbidden("a change must be addressed to this node by its address (the Host header names another)")
        }
        if let site = request.headers.first(where: { $0.name.canonicalName == "sec-fetch-site" })?.value, site != "same-origin", site != "none" {
            return .forbidden("a change is not taken from a page of another site")
        }
        // The same origin is this node's authority, by HTTP or HTTPS (either port is the node's).
        if let origin = request.headers[.origin], origin != "http://\(authority)", origin != "https://\(authority)" {
            return .forbidden("a change is not taken from a page of another origin (\(origin))")
        }
        return nil
    }

    /// The user an `Authorization` header names, if its password is right and its tags meet
    /// `need`; read from the replicated users, so any node answers alike.
    static func user(authorization: String?, fromLoopback: Bool, needing need: Need, in state: BrokerState) -> Result<User, Refusal> {
        guard let (name, password) = basicCredentials(authorization) else {
            return .failure(.unauthenticated("this route needs a user's credentials (HTTP basic authentication)"))
        }
        guard let user = AccessControl.authenticate(state, name: name, password: password, fromLoopback: fromLoopback) else {
            return .failure(.unauthenticated("login refused for user '\(name)'"))
        }
        guard need.isMet(by: user.tags) else {
            return .failure(.unauthenticated(need == .administrator ? "Not administrator user" : "Not management user"))
        }
        return .success(user)
    }

    /// `Authorization: Basic base64(name:password)`.
    static func basicCredentials(_ header: String?) -> (name: String, password: String)? {
        guard let header, header.lowercased().hasPrefix("basic "),
            let decoded = Data(base64Encoded: String(header.dropFirst(6).drop { $0 == " " }))
        else { return nil }
        let text = String(decoding: decoded, as: UTF8.self)
        guard let colon = text.firstIndex(of: ":") else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    /// Whether `authority` (host, with or without a port) is an IP address, `localhost` or
    /// the listening host.
    func namesThisNode(_ authority: String) -> Bool {
        let host: Substring
        if authority.hasPrefix("["), let end = authority.firstIndex(of: "]") {
            host = authority[authority.index(after: authority.startIndex)..<end]
        } else if authority.filter({ $0 == ":" }).count == 1, let colon = authority.firstIndex(of: ":") {
            host = authority[..<colon]
        } else {
            host = authority[...]
        }
        let name = host.lowercased()
        if name == "localhost" || name == listeningHost.lowercased() { return true }
        var address = in6_addr()
        return inet_pton(AF_INET, name, &address) == 1 || inet_pton(AF_INET6, name, &address) == 1
    }
}

/// A request's context with the address of the connection it came on.
struct StatusRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = CoreRequestContextStorage(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// Every route through the guard: a refusal is logged with the peer's address and answered
/// in the route's own shape.
struct GuardedRoutes: Sendable {
    let reader: NodeAccess
    let guarding: HTTPGuard
    let logger: Logger

    /// How a route's refusals look: Berth's own routes answer an `ActionResult`, RabbitMQ's
    /// management routes its `error` and `reason`.
    enum Style: Sendable {
        case berth, management
    }

    /// Answers `request` with `answer(user)` once the guard lets it through.
    func serve(
        _ request: Request, _ context: StatusRequestContext, needing need: HTTPGuard.Need, changes: Bool = false, style: Style = .berth,
        _ answer: (User) async throws -> Response
    ) async throws -> Response {
        let refusal: HTTPGuard.Refusal
        if changes, let crossSite = guarding.crossSiteRefusal(of: request) {
            refusal = crossSite
        } else {
            let authorization = request.headers[.authorization]
            let fromLoopback = BerthNode.isLoopback(context.remoteAddress)
            switch try await reader.read({ HTTPGuard.user(authorization: authorization, fromLoopback: fromLoopback, needing: need, in: $0.state) }) {
            case .success(let user): return try await answer(user)
            case .failure(let failure): refusal = failure
            }
        }
        logger.warning("refused an HTTP request", metadata: [
            "route": "\(request.method) \(request.uri.path)", "peer": "\(context.remoteAddress.map { "\($0)" } ?? "unknown")",
            "reason": "\(refusal.message)",
        ])
        var response: Response
        switch style {
        case .berth: response = try StatusHTTPServer.json(ActionResult(done: false, message: refusal.message), status: refusal.status)
        case .management:
            let error = refusal.status == .unauthorized ? "not_authorized" : "forbidden"
            response = try StatusHTTPServer.json(ManagementError(error: error, reason: refusal.message), status: refusal.status)
        }
        if case .unauthenticated = refusal { response.headers[.wwwAuthenticate] = "Basic realm=\"berth\"" }
        return response
    }
}
