import Broker
import Client
import FoundationEssentials
import Hummingbird
import NIOCore
import StatusAPI

/// RabbitMQ's routes that take messages out of a queue: `POST /api/queues/VHOST/NAME/get`
/// and `GET /api/aliveness-test/VHOST`. They act through an AMQP session of the requesting
/// user's own with this node (`LoopbackSession`), as RabbitMQ's do through its internal
/// connection: the broker checks the permissions (a get needs read on the queue; the
/// aliveness test configure, write and read) and answers alike from every node.
extension ManagementRoutes {
    /// The queue the aliveness test declares and publishes to, as RabbitMQ's.
    static let alivenessQueue = "aliveness-test"

    func addMessageRoutes(to router: Router<StatusRequestContext>) {
        router.post("/api/queues/:vhost/:name/get") { request, context in
            try await routes.serve(request, context, needing: .management, changes: true, style: .management) { _ in
                let queue = QueueName(vhost: try Self.parameter("vhost", context), try Self.parameter("name", context))
                let get: MessageGet
                do {
                    let body = try await request.body.collect(upTo: Self.requestBytesMax)
                    get = try MessageGet(try JSONDecoder().decode(QueueGetRequest.self, from: Data(body.readableBytesView)))
                } catch let invalid as MessageGet.Invalid {
                    return try Self.badRequest(invalid.reason)
                } catch {
                    return try Self.badRequest("the body is a get (count, ackmode, encoding, truncate): \(error)")
                }
                guard try await reader.read({ $0.state.vhostNames.contains(queue.vhost) }) else { return try Self.notFound() }
                let outcome = await session(request, vhost: queue.vhost) { channel throws(ClientError) in
                    try await Self.take(get, from: queue.name, on: channel)
                }
                switch outcome {
                case .success(let messages): return try StatusHTTPServer.json(messages)
                case .failure(let error): return try Self.sessionRefusal(error) ?? Self.unavailable("the get did not complete: \(error)")
                }
            }
        }
        router.get("/api/aliveness-test/:vhost") { request, context in
            try await routes.serve(request, context, needing: .management, style: .management) { _ in
                let vhost = try Self.parameter("vhost", context)
                guard try await reader.read({ $0.state.vhostNames.contains(vhost) }) else { return try Self.notFound() }
                let outcome = await session(request, vhost: vhost) { channel throws(ClientError) in
                    // Not durable, as RabbitMQ declares it, and left in place: a probe every few
                    // seconds declares what is there and changes nothing.
                    try await channel.queueDeclare(Self.alivenessQueue)
                    // Confirmed first, so the get cannot overtake the message on its way to the queue.
                    try await channel.confirmSelect(window: 1, timeout: LoopbackSession.replyTimeout)
                    try await channel.publish(routingKey: Self.alivenessQueue, body: ByteBuffer(string: "test_message")).confirmed()
                    return try await channel.get(queue: Self.alivenessQueue, noAck: true) != nil
                }
                let failure: String
                switch outcome {
                case .success(true): return try StatusHTTPServer.json(HealthCheck(status: "ok"))
                case .success(false): failure = "aliveness-test queue is empty"
                case .failure(let error):
                    if let refused = try Self.sessionRefusal(error) { return refused }
                    failure = "\(error)"
                }
                return try StatusHTTPServer.json(HealthCheck(status: "failed", reason: failure), status: .serviceUnavailable)
            }
        }
    }

    /// Runs `body` in a session as the user `request` authenticated (the guard checked the
    /// credentials of its `Authorization` header).
    private func session<Value: Sendable>(
        _ request: Request, vhost: String, _ body: (AMQPChannel) async throws(ClientError) -> Value
    ) async -> Result<Value, ClientError> {
        guard let user = HTTPGuard.basicCredentials(request.headers[.authorization]) else {
            return .failure(.invalidArgument("the request has no basic credentials"))
        }
        return await LoopbackSession.run(on: reader, user: user, vhost: vhost, body)
    }

    /// Takes up to `get.count` messages, then settles them all at once: one put back before
    /// the others are taken would be taken again.
    private static func take(_ get: MessageGet, from queue: String, on channel: AMQPChannel) async throws(ClientError) -> [GotMessage] {
        var taken: [GetResponse] = []
        var bodyBytes = 0
        while taken.count < get.count, bodyBytes < MessageGet.bodyBytesMax, let message = try await channel.get(queue: queue, noAck: false) {
            taken.append(message)
            bodyBytes += message.body.readableBytes
        }
        if let last = taken.last?.deliveryTag {
            switch get.settlement {
            case .requeue: try await channel.nack(deliveryTag: last, multiple: true, requeue: true)
            case .ack: try await channel.ack(deliveryTag: last, multiple: true)
            case .reject: try await channel.nack(deliveryTag: last, multiple: true, requeue: false)
            }
        }
        return taken.map(get.shown)
    }

    /// What the broker's refusal of a session answers, as RabbitMQ's management plugin maps
    /// it: its 404 is 404; a permission it refused (403, or 530 for a vhost) is 403, as Berth's
    /// other routes answer (RabbitMQ says 401 there); another close is 400 with its code and
    /// text. nil when the session failed for want of a broker to answer.
    static func sessionRefusal(_ error: ClientError) throws -> Response? {
        switch error {
        case .connectFailed(let failures):
            return try failures.first.flatMap { try sessionRefusal($0.error) }
        case .connectionClosedByServer(let reason), .channelClosedByServer(_, let reason):
            switch reason.replyCode {
            case .notFound: return try notFound()
            case .accessRefused, .notAllowed:
                return try StatusHTTPServer.json(ManagementError(error: "not_authorised", reason: reason.replyText), status: .forbidden)
            default: return try badRequest("\(reason.replyCode.rawValue) \(reason.replyText)")
            }
        case .invalidArgument(let reason):
            return try badRequest(reason)
        case .connectionClosed, .channelClosed, .connectionLost, .io, .heartbeatTimeout, .timedOut, .confirmNacked, .confirmIndeterminate,
            .consumerCancelledByServer, .protocolViolation, .authenticationMechanismUnsupported, .confirmsNotSelected, .limitReached:
            return nil
        }
    }
}
