import Auth
import Broker
import FoundationEssentials
import Glibc
import Gossip
import Hummingbird
import NIOCore
import PeerWire
import Raft
import StatusAPI

/// RabbitMQ's management routes for queues, exchanges, bindings, the overview and the
/// nodes. Lists show the vhosts the user has a permission in (all of them to `administrator`
/// and `monitoring`, as RabbitMQ shows them); a declaration or deletion needs the user's
/// configure permission on the name, a purge its read permission (403 otherwise).
/// Counts only the leader's dispatcher knows come from the leader, asked over the peer
/// link when this node follows, so every node answers alike.
extension ManagementRoutes {
    func addObjectRoutes(to router: Router<StatusRequestContext>) {
        router.get("/api/overview") { request, context in
            try await routes.serve(request, context, needing: .management, style: .management) { user in
                let counts = try await reader.leaderCounts()
                return try StatusHTTPServer.json(try await reader.read { core in Self.overview(core, counts: counts, visibleTo: user) })
            }
        }
        router.get("/api/nodes") { request, context in
            try await routes.serve(request, context, needing: .management, style: .management) { _ in
                try StatusHTTPServer.json(try await reader.read(Self.nodes))
            }
        }
        for path in ["/api/queues", "/api/queues/:vhost"] {
            router.get(RouterPath(path)) { request, context in
                try await routes.serve(request, context, needing: .management, style: .management) { user in
                    let vhost = try context.parameters.get("vhost").map { _ in try Self.parameter("vhost", context) }
                    let counts = try await reader.leaderCounts()
                    guard let queues = try await reader.read({ core in Self.queues(core, counts: counts, in: vhost, visibleTo: user) }) else {
                        return try Self.notFound()
                    }
                    return try StatusHTTPServer.json(queues)
                }
            }
        }
        router.get("/api/queues/:vhost/:name") { request, context in
            try await routes.serve(request, context, needing: .management, style: .management) { user in
                let name = QueueName(vhost: try Self.parameter("vhost", context), try Self.parameter("name", context))
                let counts = try await reader.leaderCounts()
                guard let queue = try await reader.read({ core in Self.queues(core, counts: counts, in: name.vhost, visibleTo: user)?.first { $0.name == name.name } })
                else { return try Self.notFound() }
                return try StatusHTTPServer.json(queue)
            }
        }
        router.put("/api/queues/:vhost/:name") { request, context in
            try await routes.serve(request, context, needing: .management, changes: true, style: .management) { user in
                let name = QueueName(vhost: try Self.parameter("vhost", context), try Self.parameter("name", context))
                let change: QueueChange
                do {
                    change = try JSONDecoder().decode(QueueChange.self, from: Data(try await request.body.collect(upTo: Self.requestBytesMax).readableBytesView))
                } catch {
                    return try Self.badRequest("the body is not a queue (durable, auto_delete, arguments): \(error)")
                }
                if let refused = try await refusal(.configure, .queue(name.name), in: name.vhost, for: user) { return refused }
                let exists = try await reader.read { $0.state.queue(name) != nil }
                let declaration = QueueDeclaration(
                    vhost: name.vhost, name: name.name, durable: change.durable ?? true, autoDelete: change.auto_delete ?? false,
                    arguments: Self.argumentTable(change.arguments ?? [:]), owner: "", timestamp: 0)
                return try await execute(.declareQueue(declaration), created: !exists)
            }
        }
        router.delete("/api/queues/:vhost/:name") { request, context in
            try await routes.serve(request, context, needing: .management, changes: true, style: .management) { user in
                let name = QueueName(vhost: try Self.parameter("vhost", context), try Self.parameter("name", context))
                if let refused = try await refusal(.configure, .queue(name.name), in: name.vhost, for: user) { return refused }
                // AMQP's queue.delete of no queue succeeds; the management API answers 404.
                guard try await reader.read({ $0.state.queue(name) != nil }) else { return try Self.notFound() }
                let deletion = QueueDeletion(
                    vhost: name.vhost, name: name.name, ifUnused: Self.flag("if-unused", request), ifEmpty: Self.flag("if-empty", request))
                return try await execute(.deleteQueue(deletion), created: false)
            }
        }
        router.delete("/api/queues/:vhost/:name/contents") { request, context in
            try await routes.serve(request, context, needing: .management, changes: true, style: .management) { user in
                let name = QueueName(vhost: try Self.parameter("vhost", context), try Self.parameter("name", context))
                if let refused = try await refusal(.read, .queue(name.name), in: name.vhost, for: user) { return refused }
                guard try await reader.read({ $0.state.queue(name) != nil }) else { return try Self.notFound() }
                return try await execute(.purge(QueuePurge(queue: name)), created: false)
            }
        }
        for path in ["/api/exchanges", "/api/exchanges/:vhost"] {
            router.get(RouterPath(path)) { request, context in
                try await routes.serve(request, context, needing: .management, style: .management) { user in
                    let vhost = try context.parameters.get("vhost").map { _ in try Self.parameter("vhost", context) }
                    guard let exchanges = try await reader.read({ core in Self.exchanges(core.state, in: vhost, visibleTo: user) }) else {
                        return try Self.notFound()
                    }
                    return try StatusHTTPServer.json(exchanges)
                }
            }
        }
        router.get("/api/exchanges/:vhost/:name") { request, context in
            try await routes.serve(request, context, needing: .management, style: .management) { user in
                let vhost = try Self.parameter("vhost", context)
                let name = try Self.exchangeParameter("name", context)
                guard let exchange = try await reader.read({ core in Self.exchanges(core.state, in: vhost, visibleTo: user)?.first { $0.name == name } })
                else { return try Self.notFound() }
                return try StatusHTTPServer.json(exchange)
            }
        }
        router.put("/api/exchanges/:vhost/:name") { request, context in
            try await routes.serve(request, context, needing: .management, changes: true, style: .management) { user in
                let vhost = try Self.parameter("vhost", context)
                let name = try Self.exchangeParameter("name", context)
                let change: ExchangeChange
                do {
                    change = try JSONDecoder().decode(ExchangeChange.self, from: Data(try await request.body.collect(upTo: Self.requestBytesMax).readableBytesView))
                } catch {
                    return try Self.badRequest("the body is not an exchange (type, durable, auto_delete, internal, arguments): \(error)")
                }
                guard let type = ExchangeType.allCases.first(where: { $0.name == change.type }) else {
                    return try Self.badRequest("unknown exchange type '\(change.type)'")
                }
                if let refused = try await refusal(.configure, .exchange(name), in: vhost, for: user) { return refused }
                let exists = try await reader.read { $0.state.exchange(ExchangeName(vhost: vhost, name)) != nil }
                let declaration = ExchangeDeclaration(
                    vhost: vhost, name: name, type: type, durable: change.durable ?? true, autoDelete: change.auto_delete ?? false,
                    isInternal: change.internal ?? false, arguments: Self.argumentTable(change.arguments ?? [:]))
                return try await execute(.declareExchange(declaration), created: !exists)
            }
        }
        router.post("/api/exchanges/:vhost/:name/publish") { request, context in
            try await routes.serve(request, context, needing: .management, changes: true, style: .management) { user in
                let vhost = try Self.parameter("vhost", context)
                let exchange = try Self.exchangeParameter("name", context)
                let asked: PublishRequest
                do {
                    asked = try JSONDecoder().decode(PublishRequest.self, from: Data(try await request.body.collect(upTo: Self.publishBytesMax).readableBytesView))
                } catch {
                    return try Self.badRequest("the body is not a message (properties, routing_key, payload, payload_encoding): \(error)")
                }
                let body: [UInt8]
                switch asked.payload_encoding ?? "string" {
                case "string": body = Array(asked.payload.utf8)
                case "base64":
                    guard let decoded = Data(base64Encoded: asked.payload) else { return try Self.badRequest("the payload is not base64") }
                    body = Array(decoded)
                default: return try Self.badRequest("payload_encoding is string or base64")
                }
                if let refused = try await refusal(.write, .exchange(exchange), in: vhost, for: user) { return refused }
                let message = Broker.Message(exchange: exchange, routingKey: asked.routing_key, properties: Self.properties(asked.properties ?? [:]), body: body)
                // Routed here, as a channel of this node routes; the leader stores it where this said.
                // An x-delayed-message exchange holds it instead, if it carries an x-delay.
                let routing = try await reader.read { core -> Result<([QueueName], Publish.Delay?), BrokerError> in
                    Result { () throws(BrokerError) in
                        try core.state.validatePublish(vhost: vhost, message: message)
                        if let delay = core.state.delay(of: message, vhost: vhost) { return ([], delay) }
                        return (try core.state.route(vhost: vhost, exchange: exchange, routingKey: message.routingKey, headers: message.properties.headers), nil)
                    }
                }
                let queues: [QueueName]
                let delay: Publish.Delay?
                switch routing {
                case .success(let routed): (queues, delay) = routed
                case .failure(let error) where error.code == .notFound: return try Self.notFound()
                case .failure(let error): return try Self.badRequest(error.message)
                }
                guard !queues.isEmpty || delay != nil else { return try StatusHTTPServer.json(PublishAnswer(routed: false)) }
                let enqueue = Enqueue(timestamp: 0, messages: [Publish(message: message, queues: queues, delay: delay)])
                let response = try await execute(.enqueue(enqueue), created: false)
                guard response.status == .noContent else { return response }
                // As with the plugin, a held message has been routed nowhere yet.
                return try StatusHTTPServer.json(PublishAnswer(routed: delay == nil))
            }
        }
        router.delete("/api/exchanges/:vhost/:name") { request, context in
            try await routes.serve(request, context, needing: .management, changes: true, style: .management) { user in
                let vhost = try Self.parameter("vhost", context)
                let name = try Self.exchangeParameter("name", context)
                if let refused = try await refusal(.configure, .exchange(name), in: vhost, for: user) { return refused }
                guard try await reader.read({ $0.state.exchange(ExchangeName(vhost: vhost, name)) != nil }) else { return try Self.notFound() }
                return try await execute(.deleteExchange(ExchangeDeletion(vhost: vhost, name: name, ifUnused: Self.flag("if-unused", request))), created: false)
            }
        }
        let between = "/api/bindings/:vhost/e/:source/:kind/:destination"
        router.get(RouterPath(between)) { request, context in
            try await routes.serve(request, context, needing: .management, style: .management) { user in
                let (vhost, source, destination) = try Self.bindingEnds(context)
                guard let bindings = try await reader.read({ core in Self.bindings(core.state, in: vhost, visibleTo: user) }) else {
                    return try Self.notFound()
                }
                return try StatusHTTPServer.json(bindings.filter { $0.source == source && Self.destination(of: $0) == destination })
            }
        }
        router.get(RouterPath(between + "/:properties")) { request, context in
            try await routes.serve(request, context, needing: .management, style: .management) { user in
                let (vhost, source, destination) = try Self.bindingEnds(context)
                let properties = try Self.parameter("properties", context)
                guard let binding = try await reader.read({ core in
                    Self.bindings(core.state, in: vhost, visibleTo: user)?.first {
                        $0.source == source && Self.destination(of: $0) == destination && $0.properties_key == properties
                    }
                }) else { return try Self.notFound() }
                return try StatusHTTPServer.json(binding)
            }
        }
        router.post(RouterPath(between)) { request, context in
            try await routes.serve(request, context, needing: .management, changes: true, style: .management) { user in
                let (vhost, source, destination) = try Self.bindingEnds(context)
                let creation: BindingCreation
                do {
                    creation = try JSONDecoder().decode(BindingCreation.self, from: Data(try await request.body.collect(upTo: Self.requestBytesMax).readableBytesView))
                } catch {
                    return try Self.badRequest("the body is not a binding (routing_key, arguments): \(error)")
                }
                if let refused = try await refusal(.write, Self.resource(destination), in: vhost, for: user) { return refused }
                if let refused = try await refusal(.read, .exchange(source), in: vhost, for: user) { return refused }
                let binding = Binding(
                    source: source, destination: destination, routingKey: creation.routing_key ?? "",
                    arguments: Self.argumentTable(creation.arguments ?? [:]))
                var response = try await execute(.bind(Broker.BindingChange(vhost: vhost, binding: binding)), created: true)
                if response.status == .created {
                    let path = request.uri.path.hasSuffix("/") ? String(request.uri.path.dropLast()) : request.uri.path
                    response.headers[.location] = path + "/" + (Self.propertiesKey(binding).addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? "")
                }
                return response
            }
        }
        router.delete(RouterPath(between + "/:properties")) { request, context in
            try await routes.serve(request, context, needing: .management, changes: true, style: .management) { user in
                let (vhost, source, destination) = try Self.bindingEnds(context)
                let properties = try Self.parameter("properties", context)
                if let refused = try await refusal(.write, Self.resource(destination), in: vhost, for: user) { return refused }
                if let refused = try await refusal(.read, .exchange(source), in: vhost, for: user) { return refused }
                guard let binding = try await reader.read({ core in
                    core.state.bindings(in: vhost).first { $0.source == source && $0.destination == destination && Self.propertiesKey($0) == properties }
                }) else { return try Self.notFound() }
                return try await execute(.unbind(Broker.BindingChange(vhost: vhost, binding: binding)), created: false)
            }
        }
        for path in ["/api/bindings", "/api/bindings/:vhost"] {
            router.get(RouterPath(path)) { request, context in
                try await routes.serve(request, context, needing: .management, style: .management) { user in
                    let vhost = try context.parameters.get("vhost").map { _ in try Self.parameter("vhost", context) }
                    guard let bindings = try await reader.read({ core in Self.bindings(core.state, in: vhost, visibleTo: user) }) else {
                        return try Self.notFound()
                    }
                    return try StatusHTTPServer.json(bindings)
                }
            }
        }
    }

    /// 403 with RabbitMQ's reason if `user` may not have `access` to `resource` in `vhost`.
    private func refusal(_ access: Permission.Access, _ resource: PermissionChecker.Resource, in vhost: String, for user: User) async throws -> Response? {
        let reason = try await reader.read { core -> String? in
            var checker = PermissionChecker(user: user.name, vhost: vhost)
            return checker.refusal(access, resource, in: core.state)
        }
        guard let reason else { return nil }
        return try StatusHTTPServer.json(ManagementError(error: "not_authorised", reason: reason), status: .forbidden)
    }

    // MARK: Shapes

    /// The vhosts `user` sees: every one to `administrator` and `monitoring`, else those it
    /// has a permission in.
    static func visibleVHosts(_ state: BrokerState, to user: User) -> [String] {
        if user.tags.contains("administrator") || user.tags.contains("monitoring") { return state.vhostNames }
        return state.vhostNames.filter { state.permission(vhost: $0, user: user.name) != nil }
    }

    /// The vhosts a list shows: `vhost` alone if named (nil if it is not there or not
    /// visible: 404), else every visible one.
    private static func listed(_ state: BrokerState, _ vhost: String?, visibleTo user: User) -> [String]? {
        let visible = visibleVHosts(state, to: user)
        guard let vhost else { return visible }
        return visible.contains(vhost) ? [vhost] : nil
    }

    static func nodeName(_ id: NodeID) -> String { "berth@\(id)" }

    static func nodeID(named name: String) -> NodeID? {
        name.hasPrefix("berth@") ? NodeID(name.dropFirst("berth@".count)) : nil
    }

    private static func queues(_ core: NodeCore, counts: LeaderCounts?, in vhost: String?, visibleTo user: User) -> [QueueInfo]? {
        guard let vhosts = listed(core.state, vhost, visibleTo: user) else { return nil }
        var byName: [QueueName: QueueCount] = [:]
        for count in counts?.queues ?? [] { byName[QueueName(vhost: count.vhost, count.name)] = count }
        let raft = core.group.core
        let members = raft.membership.voters.sorted().map(nodeName)
        let online = members.filter { name in
            core.gossipMembers.values.contains { nodeName($0.id) == name && $0.status == .alive } || name == nodeName(raft.id)
        }
        return vhosts.flatMap { vhost in
            core.state.queueNames(in: vhost).compactMap { name -> QueueInfo? in
                let queueName = QueueName(vhost: vhost, name)
                guard let queue = core.state.queue(queueName) else { return nil }
                let count = byName[queueName]
                let unacknowledged = Int(count?.unacknowledged ?? 0)
                let type: String =
                    if case .string(let declared)? = queue.arguments.entries.first(where: { $0.key == "x-queue-type" })?.value { declared } else { "classic" }
                return QueueInfo(
                    name: name, vhost: vhost, durable: queue.durable, auto_delete: queue.autoDelete, exclusive: queue.exclusiveOwner != nil,
                    arguments: json(queue.arguments), type: type, leader: raft.leader.map(nodeName) ?? "", members: members, online: online,
                    messages: queue.deliverableCount, messages_ready: count.map { Int($0.ready) } ?? queue.deliverableCount - unacknowledged,
                    messages_unacknowledged: unacknowledged, consumers: Int(count?.consumers ?? 0),
                    messagesDeadLettering: queue.settings.queueType == .quorum ? (queue.pendingDeadLetterCount, queue.pendingDeadLetterBytes) : nil,
                    messageStats: count.map { messageStats($0.messages, confirms: false) })
            }
        }
    }

    private static func exchanges(_ state: BrokerState, in vhost: String?, visibleTo user: User) -> [ExchangeInfo]? {
        guard let vhosts = listed(state, vhost, visibleTo: user) else { return nil }
        return vhosts.flatMap { vhost in
            state.exchangeNames(in: vhost).compactMap { name -> ExchangeInfo? in
                guard let exchange = state.exchange(ExchangeName(vhost: vhost, name)) else { return nil }
                return ExchangeInfo(
                    name: name, vhost: vhost, type: exchange.type.name, durable: exchange.durable, auto_delete: exchange.autoDelete,
                    internal: exchange.isInternal, arguments: json(exchange.arguments),
                    messages_delayed: state.delayStore(of: exchange.name)?.messageCount)
            }
        }
    }

    private static func bindings(_ state: BrokerState, in vhost: String?, visibleTo user: User) -> [BindingInfo]? {
        guard let vhosts = listed(state, vhost, visibleTo: user) else { return nil }
        return vhosts.flatMap { vhost in
            // The default exchange's bindings, one to each queue by its name, come first.
            let implicit = state.queueNames(in: vhost).map { name in
                BindingInfo(source: "", vhost: vhost, destination: name, destination_type: "queue", routing_key: name, arguments: [:], properties_key: name)
            }
            return implicit + state.bindings(in: vhost).map { binding in
                let (destination, type): (String, String) =
                    switch binding.destination {
                    case .queue(let name): (name, "queue")
                    case .exchange(let name): (name, "exchange")
                    }
                return BindingInfo(
                    source: binding.source, vhost: vhost, destination: destination, destination_type: type, routing_key: binding.routingKey,
                    arguments: json(binding.arguments), properties_key: propertiesKey(binding))
            }
        }
    }

    private static func overview(_ core: NodeCore, counts: LeaderCounts?, visibleTo user: User) -> OverviewInfo {
        let queues = Self.queues(core, counts: counts, in: nil, visibleTo: user) ?? []
        let exchanges = Self.exchanges(core.state, in: nil, visibleTo: user) ?? []
        let me = nodeName(core.group.core.id)
        // The ports it serves, as the health checks see them.
        let listeners = core.allListeners.map { OverviewInfo.Listener(node: me, protocol: $0.protocolName, ip_address: $0.host, port: $0.port) }
        return OverviewInfo(
            version: BerthVersion.current, rabbitmqVersion: BerthVersion.rabbitmqCompatible, clusterName: NodeCore.clusterName, node: me,
            objectTotals: .init(
                queues: queues.count, exchanges: exchanges.count, connections: Int(counts?.connections ?? 0), channels: Int(counts?.channels ?? 0),
                consumers: queues.reduce(0) { $0 + $1.consumers }),
            queueTotals: .init(
                messages: queues.reduce(0) { $0 + $1.messages }, messages_ready: queues.reduce(0) { $0 + $1.messages_ready },
                messages_unacknowledged: queues.reduce(0) { $0 + $1.messages_unacknowledged }),
            messageStats: messageStats(counts?.messages ?? MessageStats(), confirms: true), listeners: listeners)
    }

    /// RabbitMQ's `message_stats`; a queue's has no `confirm` (a channel confirms).
    private static func messageStats(_ stats: MessageStats, confirms: Bool) -> MessageStatsInfo {
        var counts: [(String, MessageStats.Count)] = [
            ("publish", stats.publish), ("deliver_get", stats.deliverGet), ("ack", stats.ack), ("redeliver", stats.redeliver),
        ]
        if confirms { counts.append(("confirm", stats.confirm)) }
        return MessageStatsInfo(counts: Dictionary(uniqueKeysWithValues: counts.map { ($0, .init(total: $1.total, rate: $1.ratePerSecond)) }))
    }

    private static func nodes(_ core: NodeCore) -> [ClusterNodeInfo] {
        let raft = core.group.core
        return raft.membership.all.sorted().map { id in
            let role = id == raft.leader ? "leader" : raft.membership.learners.contains(id) ? "learner" : "voter"
            let running = id == raft.id || core.gossipMembers[id]?.status == .alive
            return ClusterNodeInfo(name: nodeName(id), running: running, role: role)
        }
    }

    /// The largest publish body taken: a message of the node's usual size, as JSON.
    static let publishBytesMax = 1 << 20

    /// A message's properties as RabbitMQ's API names them; what it does not know is left out.
    static func properties(_ fields: [String: JSONValue]) -> BasicProperties {
        func text(_ key: String) -> String? {
            switch fields[key] {
            case .string(let value)?: value
            case .int(let value)?: String(value)
            default: nil
            }
        }
        func number(_ key: String) -> Int64? {
            switch fields[key] {
            case .int(let value)?: value
            case .string(let value)?: Int64(value)
            default: nil
            }
        }
        var headers: ArgumentTable?
        if case .object(let table)? = fields["headers"] { headers = argumentTable(table) }
        return BasicProperties(
            contentType: text("content_type"), contentEncoding: text("content_encoding"), headers: headers,
            deliveryMode: number("delivery_mode").flatMap(UInt8.init(exactly:)), priority: number("priority").flatMap(UInt8.init(exactly:)),
            correlationId: text("correlation_id"), replyTo: text("reply_to"), expiration: text("expiration"), messageId: text("message_id"),
            timestamp: number("timestamp").flatMap(UInt64.init(exactly:)), type: text("type"), userId: text("user_id"), appId: text("app_id"),
            clusterId: text("cluster_id"))
    }

    /// A message's properties as RabbitMQ's API shows them (the names `properties(_:)` takes):
    /// those it has, none for those it has not.
    static func json(_ properties: BasicProperties) -> [String: JSONValue] {
        let text: [(String, String?)] = [
            ("content_type", properties.contentType), ("content_encoding", properties.contentEncoding),
            ("correlation_id", properties.correlationId), ("reply_to", properties.replyTo), ("expiration", properties.expiration),
            ("message_id", properties.messageId), ("type", properties.type), ("user_id", properties.userId), ("app_id", properties.appId),
            ("cluster_id", properties.clusterId),
        ]
        let numbers: [(String, Int64?)] = [
            ("delivery_mode", properties.deliveryMode.map(Int64.init)), ("priority", properties.priority.map(Int64.init)),
            ("timestamp", properties.timestamp.map { Int64(clamping: $0) }),
        ]
        var object: [String: JSONValue] = [:]
        for case let (key, value?) in text { object[key] = .string(value) }
        for case let (key, value?) in numbers { object[key] = .int(value) }
        if let headers = properties.headers { object["headers"] = .object(json(headers)) }
        return object
    }

    // MARK: Bindings

    /// What names a binding among those between the same two ends, as RabbitMQ's
    /// `properties_key`: its routing key ("~" if empty), then "~" and a digest of its
    /// arguments if it has any.
    static func propertiesKey(_ binding: Binding) -> String {
        let key = binding.routingKey.isEmpty ? "~" : binding.routingKey
        guard !binding.arguments.entries.isEmpty else { return key }
        // FNV-1a over the arguments' JSON, keys sorted: the same arguments, the same key.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = (try? encoder.encode(json(binding.arguments))) ?? Data()
        var digest: UInt32 = 2_166_136_261
        for byte in text { digest = (digest ^ UInt32(byte)) &* 16_777_619 }
        return (binding.routingKey.isEmpty ? "" : binding.routingKey) + "~" + String(digest, radix: 36)
    }

    private static func bindingEnds(_ context: StatusRequestContext) throws -> (vhost: String, source: String, destination: BindingDestination) {
        let vhost = try parameter("vhost", context)
        let source = try exchangeParameter("source", context)
        let destination = try parameter("destination", context)
        switch try parameter("kind", context) {
        case "q": return (vhost, source, .queue(destination))
        case "e": return (vhost, source, .exchange(destination))
        default: throw HTTPError(.notFound, message: "a binding's destination is q/QUEUE or e/EXCHANGE")
        }
    }

    private static func destination(of info: BindingInfo) -> BindingDestination {
        info.destination_type == "exchange" ? .exchange(info.destination) : .queue(info.destination)
    }

    private static func resource(_ destination: BindingDestination) -> PermissionChecker.Resource {
        switch destination {
        case .queue(let name): .queue(name)
        case .exchange(let name): .exchange(name)
        }
    }

    /// An exchange's name in a path: the default exchange is `amq.default` there.
    static func exchangeParameter(_ name: String, _ context: StatusRequestContext) throws -> String {
        let value = try parameter(name, context)
        return value == "amq.default" ? "" : value
    }

    // MARK: Arguments

    static func json(_ table: ArgumentTable) -> [String: JSONValue] {
        var object: [String: JSONValue] = [:]
        // The first entry of a key is the one in force, as for lookups.
        for entry in table.entries where object[entry.key] == nil { object[entry.key] = json(entry.value) }
        return object
    }

    static func json(_ value: ArgumentValue) -> JSONValue {
        switch value {
        case .bool(let v): .bool(v)
        case .int8(let v): .int(Int64(v))
        case .uint8(let v): .int(Int64(v))
        case .int16(let v): .int(Int64(v))
        case .uint16(let v): .int(Int64(v))
        case .int32(let v): .int(Int64(v))
        case .uint32(let v): .int(Int64(v))
        case .int64(let v): .int(v)
        case .uint64(let v): Int64(exactly: v).map(JSONValue.int) ?? .double(Double(v))
        case .float(let v): .double(Double(v))
        case .double(let v): .double(v)
        case .decimal(let scale, let v): .double(Double(v) / pow(10, Double(scale)))
        case .string(let v): .string(v)
        case .bytes(let v): .string(String(decoding: v, as: UTF8.self))
        case .timestamp(let v): .int(Int64(clamping: v))
        case .array(let values): .array(values.map(json))
        case .table(let table): .object(json(table))
        case .void: .null
        }
    }

    /// Arguments given as JSON, typed as RabbitMQ's API types them: integers as long
    /// integers, other numbers as doubles, strings as long strings.
    static func argumentTable(_ object: [String: JSONValue]) -> ArgumentTable {
        ArgumentTable(object.keys.sorted().map { ArgumentTable.Entry(key: $0, value: argument(object[$0]!)) })
    }

    static func argument(_ value: JSONValue) -> ArgumentValue {
        switch value {
        case .null: .void
        case .bool(let v): .bool(v)
        case .int(let v): .int64(v)
        case .double(let v): .double(v)
        case .string(let v): .string(v)
        case .array(let values): .array(values.map(argument))
        case .object(let fields): .table(argumentTable(fields))
        }
    }

    /// A query flag such as `if-empty=true`.
    private static func flag(_ name: String, _ request: Request) -> Bool {
        request.uri.queryParameters.get(name) == "true"
    }
}
