import Auth
import FoundationEssentials
import Glibc
import NIOCore
import NIOHTTP1
import NIOPosix

/// Reads one node's status API: a plain HTTP/1.1 GET on a fresh connection per call. That is
/// all `berth nodes` and the tests need, so no HTTP client library is pulled in for it.
public struct StatusClient: Sendable {
    public let host: String
    public let port: Int
    /// For the whole exchange: connecting, asking, and reading the answer.
    public let timeout: Duration
    /// Sent with every request (HTTP basic authentication): every route needs them; `guest`'s
    /// unless told otherwise, which loopback may use.
    public let credentials: HTTPCredentials?
    private let group: any EventLoopGroup

    /// The largest answer read; a status page is far smaller.
    static let bodyBytesMax = 64 << 20

    public init(host: String, port: Int, timeout: Duration = .seconds(2), credentials: HTTPCredentials? = .guest, on group: any EventLoopGroup) {
        self.host = host
        self.port = port
        self.timeout = timeout
        self.credentials = credentials
        self.group = group
    }

    public func node() async throws -> NodeStatus {
        try decode(NodeStatus.self, from: try await get("/api/berth/node"))
    }

    public func queues() async throws -> QueuesStatus {
        try decode(QueuesStatus.self, from: try await get("/api/berth/queues"))
    }

    /// `GET /api/exchanges/VHOST/NAME`: an exchange as the management API lists it.
    public func exchange(vhost: String, _ name: String) async throws -> ExchangeInfo {
        try decode(ExchangeInfo.self, from: try await get("/api/exchanges/\(pathSegment(vhost))/\(pathSegment(name))"))
    }

    /// The health answer and its HTTP status: 200 with a leader, 503 without.
    public func health() async throws -> (status: Int, health: HealthStatus) {
        let reply = try await get("/api/berth/health")
        return (reply.status, try decode(HealthStatus.self, from: reply, accepting: [200, 503]))
    }

    /// Asks the node to leave the cluster and stop (`POST /api/berth/leave`); refused (401, 403)
    /// without credentials.
    public func leave() async throws -> ActionResult {
        try decode(ActionResult.self, from: try await request(.POST, "/api/berth/leave", timeout: timeout + .seconds(10)), accepting: [200, 401, 403])
    }

    /// Asks the node, which must lead, to remove a member (`DELETE /api/berth/members/ID`).
    public func remove(_ member: UInt64) async throws -> (status: Int, result: ActionResult) {
        let reply = try await request(.DELETE, "/api/berth/members/\(member)")
        return (reply.status, try decode(ActionResult.self, from: reply, accepting: [200, 400, 401, 403, 404, 409]))
    }

    /// `GET path`: the status code and the body, or an error once `timeout` has passed.
    public func get(_ path: String) async throws -> HTTPReply {
        try await request(.GET, path)
    }

    /// Any request: `headers` besides Host, Connection and the credentials, and a body.
    public func send(_ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: [UInt8] = []) async throws -> HTTPReply {
        try await request(method, path, headers: headers, body: body)
    }

    private func request(
        _ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: [UInt8] = [], timeout: Duration? = nil
    ) async throws -> HTTPReply {
        let timeout = timeout ?? self.timeout
        return try await withThrowingTaskGroup(of: HTTPReply.self) { tasks in
            tasks.addTask { try await exchange(method, path, headers: headers, body: body) }
            tasks.addTask {
                try await Task.sleep(for: timeout)
                throw StatusClientError.timedOut(timeout)
            }
            defer { tasks.cancelAll() }
            return try await tasks.next()!
        }
    }

    private func exchange(_ method: HTTPMethod, _ path: String, headers: [(String, String)], body requestBody: [UInt8]) async throws -> HTTPReply {
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(TimeAmount(timeout))
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch let error as NIOConnectionError {
            // NIO lists every address it tried; the first one's reason is what a person needs.
            throw StatusClientError.cannotConnect(error.connectionErrors.first.map { Self.reason($0.error) } ?? "\(error)")
        } catch {
            throw StatusClientError.cannotConnect(Self.reason(error))
        }
        return try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
            head.headers.add(name: "Host", value: "\(host):\(port)")
            head.headers.add(name: "Connection", value: "close")
            if let credentials {
                head.headers.add(name: "Authorization", value: "Basic " + Data("\(credentials.user):\(credentials.password)".utf8).base64EncodedString())
            }
            for (name, value) in headers { head.headers.add(name: name, value: value) }
            if !requestBody.isEmpty || method == .PUT || method == .POST {
                head.headers.add(name: "Content-Length", value: "\(requestBody.count)")
            }
            try await outbound.write(.head(head))
            if !requestBody.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: requestBody)))) }
            try await outbound.write(.end(nil))
            var status: Int?
            var body: [UInt8] = []
            for try await part in inbound {
                switch part {
                case .head(let response):
                    status = Int(response.status.code)
                case .body(let bytes):
                    guard body.count + bytes.readableBytes <= Self.bodyBytesMax else { throw StatusClientError.answerTooLarge }
                    body += bytes.readableBytesView
                case .end:
                    guard let status else { throw StatusClientError.incompleteAnswer }
                    return HTTPReply(status: status, body: body)
                }
            }
            throw StatusClientError.incompleteAnswer
        }
    }

    private static func reason(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        if case ChannelError.connectTimeout = error { return "connecting timed out" }
        return "\(error)"
    }

    private func decode<Value: Decodable>(_ type: Value.Type, from reply: HTTPReply, accepting statuses: Set<Int> = [200]) throws -> Value {
        guard statuses.contains(reply.status) else { throw StatusClientError.unexpectedStatus(reply.status) }
        do {
            return try JSONDecoder().decode(type, from: Data(reply.body))
        } catch {
            throw StatusClientError.undecodable("\(error)")
        }
    }
}

/// A broker user's name and password, for the HTTP API.
public struct HTTPCredentials: Sendable {
    public var user: String
    public var password: String

    public init(user: String, password: String) {
        self.user = user
        self.password = password
    }

    /// RabbitMQ's default user, which only loopback may use.
    public static let guest = HTTPCredentials(user: AccessControl.guestName, password: "guest")
}

/// An HTTP answer: its status code and its body.
public struct HTTPReply: Sendable {
    public var status: Int
    public var body: [UInt8]
}

public enum StatusClientError: Error, CustomStringConvertible {
    case cannotConnect(String)
    case timedOut(Duration)
    case incompleteAnswer
    case answerTooLarge
    case unexpectedStatus(Int)
    case undecodable(String)

    public var description: String {
        switch self {
        case .cannotConnect(let reason): return "cannot connect: \(reason)"
        case .timedOut(let timeout): return "no answer within \(timeout)"
        case .incompleteAnswer: return "the connection closed before a complete answer"
        case .answerTooLarge: return "the answer is larger than \(StatusClient.bodyBytesMax) bytes"
        case .unexpectedStatus(let status): return "HTTP status \(status)"
        case .undecodable(let reason): return "the answer is not the status API's JSON: \(reason)"
        }
    }
}

/// A name as one segment of a path: the default vhost "/" is `%2F`.
public func pathSegment(_ name: String) -> String {
    name.utf8.map { byte in
        let unreserved = (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || "-._~".utf8.contains(byte)
        return unreserved ? String(UnicodeScalar(byte)) : "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
    }.joined()
}
