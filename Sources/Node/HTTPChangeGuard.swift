import Auth
import FoundationEssentials
import Glibc
import Hummingbird
import NIOCore

/// Who may change the cluster through the HTTP API (`POST /api/leave`, `DELETE
/// /api/members/ID`), and how the request must come: with a broker user's credentials
/// (HTTP basic authentication; `guest` only from loopback, as over AMQP), addressed to this
/// node by an IP address, `localhost` or the host it listens on (a page whose name was made
/// to resolve to the node gets nothing: DNS rebinding), and not sent by a page of another
/// site (an `Origin` or `Sec-Fetch-Site` that says so is refused: no cross-site request
/// changes anything).
struct HTTPChangeGuard: Sendable {
    let users: UserStore
    /// The host the HTTP API listens on, as configured.
    let listeningHost: String

    enum Refusal: Error, Equatable {
        /// No credentials, or wrong ones: 401, with a challenge.
        case unauthenticated(String)
        /// Credentials or not, the request may not change anything: 403.
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

    /// Why `request` from `remote` may not change the cluster, or nil if it may.
    func refusal(of request: Request, from remote: SocketAddress?) -> Refusal? {
        guard let authority = request.head.authority, namesThisNode(authority) else {
            return .forbidden("a change must be addressed to this node by its address (the Host header names another)")
        }
        if let site = request.headers.first(where: { $0.name.canonicalName == "sec-fetch-site" })?.value, site != "same-origin", site != "none" {
            return .forbidden("a change is not taken from a page of another site")
        }
        if let origin = request.headers[.origin], origin != "http://\(authority)" {
            return .forbidden("a change is not taken from a page of another origin (\(origin))")
        }
        guard let (name, password) = Self.basicCredentials(request.headers[.authorization]) else {
            return .unauthenticated("a change needs a user's credentials (HTTP basic authentication)")
        }
        guard users.authenticate(name: name, password: password, fromLoopback: BerthNode.isLoopback(remote)) else {
            return .unauthenticated("login refused for user '\(name)'")
        }
        return nil
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
