import Gossip
import Hummingbird
import Raft
import StatusAPI

/// RabbitMQ's health checks (`/api/health/checks/...`), for an orchestrator's probes: 200
/// with `{"status": "ok"}` when the check passes, 503 with `status` "failed" and RabbitMQ's
/// reason when it does not.
extension ManagementRoutes {
    func addHealthRoutes(to router: Router<StatusRequestContext>) {
        router.get("/api/health/checks/alarms") { request, context in
            try await routes.serve(request, context, needing: .management, style: .management) { _ in
                try Self.answer(try await reader.read { Self.alarms($0, everyMember: true) })
            }
        }
        router.get("/api/health/checks/local-alarms") { request, context in
            try await routes.serve(request, context, needing: .management, style: .management) { _ in
                try Self.answer(try await reader.read { Self.alarms($0, everyMember: false) })
            }
        }
        router.get("/api/health/checks/node-is-quorum-critical") { request, context in
            try await routes.serve(request, context, needing: .management, style: .management) { _ in
                try Self.answer(try await reader.read(Self.quorumCritical))
            }
        }
        router.get("/api/health/checks/virtual-hosts") { request, context in
            try await routes.serve(request, context, needing: .management, style: .management) { _ in
                // A vhost is part of the replicated state: every one is up wherever the node is.
                try Self.answer(HealthCheck(status: "ok"))
            }
        }
        router.get("/api/health/checks/port-listener/:port") { request, context in
            try await routes.serve(request, context, needing: .management, style: .management) { _ in
                guard let port = context.parameters.get("port", as: Int.self) else { return try Self.badRequest("a port is a number") }
                let ports = try await reader.read { $0.allListeners.map(\.port) }
                guard ports.contains(port) else {
                    return try Self.answer(HealthCheck(status: "failed", reason: "No active listener", missing: .int(Int64(port)), ports: ports))
                }
                return try Self.answer(HealthCheck(status: "ok", port: port))
            }
        }
        router.get("/api/health/checks/protocol-listener/:protocol") { request, context in
            try await routes.serve(request, context, needing: .management, style: .management) { _ in
                let asked = try Self.parameter("protocol", context)
                let protocols = try await reader.read { $0.allListeners.map(\.protocolName) }
                guard protocols.contains(asked) else {
                    return try Self.answer(HealthCheck(status: "failed", reason: "No active listener", missing: .string(asked), protocols: protocols))
                }
                return try Self.answer(HealthCheck(status: "ok", protocol: asked))
            }
        }
    }

    private static func answer(_ check: HealthCheck) throws -> Response {
        try StatusHTTPServer.json(check, status: check.status == "ok" ? .ok : .serviceUnavailable)
    }

    /// This node's alarms, and with `everyMember` those of every live member gossip knows.
    private static func alarms(_ core: NodeCore, everyMember: Bool) -> HealthCheck {
        var raised: [HealthCheck.Alarm] = []
        func add(_ alarms: SWIM.Alarms, of node: NodeID) {
            if alarms.contains(.memory) { raised.append(.init(node: nodeName(node), resource: "memory")) }
            if alarms.contains(.disk) { raised.append(.init(node: nodeName(node), resource: "disk")) }
        }
        let me = core.group.core.id
        add(core.resources.alarms.gossip, of: me)
        if everyMember {
            for member in core.gossipMembers.values.sorted(by: { $0.id < $1.id }) where member.id != me && member.status == .alive {
                add(member.alarms, of: member.id)
            }
        }
        guard !raised.isEmpty else { return HealthCheck(status: "ok") }
        let reason = everyMember ? "There are alarms in effect in the cluster" : "There are alarms in effect on the node"
        return HealthCheck(status: "failed", reason: reason, alarms: raised)
    }

    /// Whether stopping this node would leave the group without a majority of live voters:
    /// then every queue (one group holds them all) would lose its quorum.
    private static func quorumCritical(_ core: NodeCore) -> HealthCheck {
        let raft = core.group.core
        let voters = raft.membership.voters
        guard voters.contains(raft.id), voters.count > 1 else { return HealthCheck(status: "ok") }
        let liveOthers = voters.filter { $0 != raft.id && core.gossipMembers[$0]?.status == .alive }.count
        guard liveOthers < voters.count / 2 + 1 else { return HealthCheck(status: "ok") }
        let queues = core.state.allQueueNames.map { name in
            HealthCheck.CriticalQueue(name: name.name, readable_name: "queue '\(name.name)' in vhost '\(name.vhost)'", virtual_host: name.vhost, type: "quorum")
        }
        return HealthCheck(status: "failed", reason: "There are quorum queues that would lose their quorum if the target node is shut down", queues: queues)
    }
}
