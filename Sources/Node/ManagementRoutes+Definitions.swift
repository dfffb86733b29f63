import Broker
import FoundationEssentials
import Hummingbird
import NIOCore
import StatusAPI

/// RabbitMQ's definitions, exported and imported (`GET` and `POST /api/definitions`, an
/// administrator's): users, vhosts, permissions, exchanges, queues and bindings, so that
/// `rabbitmqadmin export` and `import` move a setup between RabbitMQ and Berth.
extension ManagementRoutes {
    /// The largest definitions body taken: many thousands of queues and bindings.
    static let definitionsBytesMax = 16 << 20

    func addDefinitionRoutes(to router: Router<StatusRequestContext>) {
        router.get("/api/definitions") { request, context in
            try await routes.serve(request, context, needing: .administrator, style: .management) { _ in
                try StatusHTTPServer.json(try await reader.read { Self.definitions(of: $0.state) })
            }
        }
        router.post("/api/definitions") { request, context in
            try await routes.serve(request, context, needing: .administrator, changes: true, style: .management) { _ in
                let definitions: Definitions
                do {
                    let body = try await request.body.collect(upTo: Self.definitionsBytesMax)
                    definitions = try JSONDecoder().decode(Definitions.self, from: Data(body.readableBytesView))
                } catch {
                    return try Self.badRequest("the body is not RabbitMQ's definitions: \(error)")
                }
                let commands: [(what: String, command: BrokerCommand)]
                do {
                    commands = try Self.commands(importing: definitions)
                } catch let error as DefinitionError {
                    return try Self.badRequest(error.reason)
                }
                // In order (vhosts and users before what names them); the first refusal stops
                // the import and says what it refused, as RabbitMQ's does.
                for (what, command) in commands {
                    switch try await reader.change(command) {
                    case .done: continue
                    case .refused(let error): return try Self.badRequest("\(what): \(error.message)")
                    case .unavailable(let reason):
                        return try StatusHTTPServer.json(ManagementError(error: "unavailable", reason: "\(what): \(reason)"), status: .serviceUnavailable)
                    }
                }
                return Response(status: .noContent)
            }
        }
    }

    private struct DefinitionError: Error {
        var reason: String
    }

    static func definitions(of state: BrokerState) -> Definitions {
        let users = state.allUsers.map { user in
            DefinedUser(
                name: user.name, password_hash: user.passwordHash.map { Data($0.saltedDigest).base64EncodedString() } ?? "",
                hashing_algorithm: (user.passwordHash?.algorithm ?? .sha256).name, tags: user.tags)
        }
        let permissions = state.allPermissions.map { entry in
            PermissionInfo(user: entry.user, vhost: entry.vhost, configure: entry.permission.configure, write: entry.permission.write, read: entry.permission.read)
        }
        var queues: [DefinedQueue] = []
        var exchanges: [ExchangeInfo] = []
        var bindings: [BindingInfo] = []
        for vhost in state.vhostNames {
            for name in state.queueNames(in: vhost) {
                guard let queue = state.queue(QueueName(vhost: vhost, name)), queue.exclusiveOwner == nil else { continue }
                queues.append(DefinedQueue(name: name, vhost: vhost, durable: queue.durable, auto_delete: queue.autoDelete, arguments: json(queue.arguments)))
            }
            for name in state.exchangeNames(in: vhost) where !name.isEmpty && !name.hasPrefix("amq.") {
                guard let exchange = state.exchange(ExchangeName(vhost: vhost, name)) else { continue }
                exchanges.append(ExchangeInfo(
                    name: name, vhost: vhost, type: exchange.type.name, durable: exchange.durable, auto_delete: exchange.autoDelete,
                    internal: exchange.isInternal, arguments: json(exchange.arguments)))
            }
            for binding in state.bindings(in: vhost) {
                let (destination, type): (String, String) =
                    switch binding.destination {
                    case .queue(let name): (name, "queue")
                    case .exchange(let name): (name, "exchange")
                    }
                // A binding to an exclusive queue goes with the queue.
                if type == "queue", state.queue(QueueName(vhost: vhost, destination))?.exclusiveOwner != nil { continue }
                bindings.append(BindingInfo(
                    source: binding.source, vhost: vhost, destination: destination, destination_type: type, routing_key: binding.routingKey,
                    arguments: json(binding.arguments)))
            }
        }
        return Definitions(
            version: BerthVersion.current, rabbitmqVersion: BerthVersion.rabbitmqCompatible, users: users,
            vhosts: state.vhostNames.map(DefinedVHost.init), permissions: permissions, queues: queues, exchanges: exchanges, bindings: bindings)
    }

    /// The commands that make `definitions`, each with what it makes (for a refusal's words).
    private static func commands(importing definitions: Definitions) throws -> [(what: String, command: BrokerCommand)] {
        var commands: [(String, BrokerCommand)] = []
        for vhost in definitions.vhosts ?? [] {
            commands.append(("vhost '\(vhost.name)'", .declareVHost(name: vhost.name)))
        }
        for user in definitions.users ?? [] {
            var hash: PasswordHash?
            if !user.password_hash.isEmpty {
                guard user.hashing_algorithm == PasswordHash.Algorithm.sha256.name, let bytes = Data(base64Encoded: user.password_hash).map(Array.init),
                    let decoded = PasswordHash(saltedDigest: bytes)
                else {
                    throw DefinitionError(reason: "user '\(user.name)': password_hash is base64 of a 4-byte salt and a SHA-256 digest (rabbit_password_hashing_sha256)")
                }
                hash = decoded
            }
            commands.append(("user '\(user.name)'", .putUser(User(name: user.name, passwordHash: hash, tags: user.tags))))
        }
        for entry in definitions.permissions ?? [] {
            commands.append((
                "permission of '\(entry.user)' in vhost '\(entry.vhost)'",
                .setPermission(vhost: entry.vhost, user: entry.user, Permission(configure: entry.configure, write: entry.write, read: entry.read))
            ))
        }
        for exchange in definitions.exchanges ?? [] {
            guard let type = ExchangeType.allCases.first(where: { $0.name == exchange.type }) else {
                throw DefinitionError(reason: "exchange '\(exchange.name)' in vhost '\(exchange.vhost)': unknown type '\(exchange.type)'")
            }
            commands.append((
                "exchange '\(exchange.name)' in vhost '\(exchange.vhost)'",
                .declareExchange(ExchangeDeclaration(
                    vhost: exchange.vhost, name: exchange.name, type: type, durable: exchange.durable, autoDelete: exchange.auto_delete,
                    isInternal: exchange.internal, arguments: argumentTable(exchange.arguments)))
            ))
        }
        for queue in definitions.queues ?? [] {
            commands.append((
                "queue '\(queue.name)' in vhost '\(queue.vhost)'",
                .declareQueue(QueueDeclaration(
                    vhost: queue.vhost, name: queue.name, durable: queue.durable, autoDelete: queue.auto_delete,
                    arguments: argumentTable(queue.arguments), owner: "", timestamp: 0))
            ))
        }
        for binding in definitions.bindings ?? [] {
            let destination: BindingDestination = binding.destination_type == "exchange" ? .exchange(binding.destination) : .queue(binding.destination)
            commands.append((
                "binding of '\(binding.source)' to '\(binding.destination)' in vhost '\(binding.vhost)'",
                .bind(Broker.BindingChange(vhost: binding.vhost, binding: Binding(
                    source: binding.source, destination: destination, routingKey: binding.routing_key, arguments: argumentTable(binding.arguments))))
            ))
        }
        return commands
    }
}
