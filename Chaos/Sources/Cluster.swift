import Glibc
import NIOCore
import Node

/// Where the nodes run: each in its own network namespace, joined by a veth to a bridge in
/// the hub namespace, where the cuts are nftables rules. `Chaos/run` builds that network;
/// this harness only starts processes in it and adds and deletes the one table of cuts.
struct Topology: Sendable {
    /// Node n (1-based) has address `addresses[n - 1]`, in namespace `namespaces[n - 1]`.
    var addresses: [String]
    var namespaces: [String]
    var hubNamespace: String

    var nodeNumbers: [Int] { Array(1...addresses.count) }
    func address(_ node: Int) -> String { addresses[node - 1] }
    func namespace(_ node: Int) -> String { namespaces[node - 1] }
}

/// The cluster's processes and the network cuts between them. Every pid here is one this
/// harness started; they are the only processes it signals.
actor Cluster {
    static let amqpPort = 5672
    static let httpPort = 15672
    static let peerPort = 4370
    static let credentials = (user: "chaos", password: "chaos")
    /// One table holds every cut, so deleting it heals them all at once.
    static let cutTable = "berth_chaos"

    let topology: Topology
    let berth: String
    let workDirectory: String
    private let group: any EventLoopGroup
    private var pids: [Int: pid_t] = [:]
    private var paused: Set<Int> = []
    private var cutActive = false
    /// Nodes that ended without the harness killing them: a node that will not (re)start.
    private(set) var unexpectedExits: [String] = []

    init(topology: Topology, berth: String, workDirectory: String, group: any EventLoopGroup) {
        self.topology = topology
        self.berth = berth
        self.workDirectory = workDirectory
        self.group = group
    }

    var commandLog: String { workDirectory + "/commands.log" }
    func logPath(_ node: Int) -> String { workDirectory + "/node-\(node).log" }

    // MARK: Processes

    func start(_ node: Int) throws {
        guard pids[node] == nil else { return }
        let address = topology.address(node)
        var command = [
            "ip", "netns", "exec", topology.namespace(node), berth, "node",
            "--data-dir", workDirectory + "/node-\(node)",
            "--node-id", "\(node)",
            "--amqp-host", address, "--amqp-port", "\(Self.amqpPort)",
            "--http-host", address, "--http-port", "\(Self.httpPort)",
            "--cluster-secret-file", workDirectory + "/cluster-secret",
            // Clients reach the nodes from the hub's address, not loopback, where guest may not connect.
            "--user", "\(Self.credentials.user):\(Self.credentials.password)",
        ]
        for peer in topology.nodeNumbers { command += ["--peer", "\(peer)=\(topology.address(peer)):\(Self.peerPort)"] }
        appendToFile(logPath(node), "--- chaos: starting node \(node)\n")
        pids[node] = try Processes.spawn(command, logPath: logPath(node))
    }

    /// SIGKILL, as a crash: nothing is flushed or closed.
    func kill(_ node: Int) {
        guard let pid = pids.removeValue(forKey: node) else { return }
        Glibc.kill(pid, SIGKILL)
        _ = Processes.waitForExit(pid)
        paused.remove(node)
    }

    func pause(_ node: Int) {
        guard let pid = pids[node] else { return }
        Glibc.kill(pid, SIGSTOP)
        paused.insert(node)
    }

    func resume(_ node: Int) {
        guard let pid = pids[node], paused.remove(node) != nil else { return }
        Glibc.kill(pid, SIGCONT)
    }

    var isRunning: [Int: Bool] { topology.nodeNumbers.reduce(into: [:]) { $0[$1] = pids[$1] != nil } }

    /// Notes nodes that ended on their own (they are then started again by `healAll`).
    func reapUnexpectedExits(at moment: String) {
        for (node, pid) in pids {
            if let status = Processes.exitStatusIfEnded(pid) {
                pids.removeValue(forKey: node)
                paused.remove(node)
                unexpectedExits.append("node \(node) exited with status \(status) (\(moment)); see its log")
            }
        }
    }

    /// SIGTERM to every node, SIGKILL to any still running after `grace`.
    func stopAll(grace: Duration = .seconds(10)) async {
        for node in paused { if let pid = pids[node] { Glibc.kill(pid, SIGCONT) } }
        paused.removeAll()
        for pid in pids.values { Glibc.kill(pid, SIGTERM) }
        let deadline = ContinuousClock.now + grace
        while !pids.isEmpty {
            for (node, pid) in pids where Processes.exitStatusIfEnded(pid) != nil { pids.removeValue(forKey: node) }
            if pids.isEmpty { break }
            if ContinuousClock.now >= deadline {
                for pid in pids.values {
                    Glibc.kill(pid, SIGKILL)
                    _ = Processes.waitForExit(pid)
                }
                pids.removeAll()
                break
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    // MARK: Network cuts

    /// Black-holes every packet, TCP and UDP alike, between `side` and the other nodes, in
    /// both directions. Clients (on the hub's own address) still reach every node.
    func cut(isolating side: [Int]) throws {
        try heal()
        let inside = side.map(topology.address).joined(separator: ", ")
        let outside = topology.nodeNumbers.filter { !side.contains($0) }.map(topology.address).joined(separator: ", ")
        let rules = """
            table bridge \(Self.cutTable) {
                chain forward {
                    type filter hook forward priority 0; policy accept;
                    ip saddr { \(inside) } ip daddr { \(outside) } drop
                    ip saddr { \(outside) } ip daddr { \(inside) } drop
                }
            }

            """
        let path = workDirectory + "/cut.nft"
        try writeFile(path, rules)
        let status = try Processes.run(["ip", "netns", "exec", topology.hubNamespace, "nft", "-f", path], logPath: commandLog)
        guard status == 0 else { throw ClusterError.command("nft -f \(path) exited with \(status); see \(commandLog)") }
        cutActive = true
    }

    /// Deletes the table of cuts, healing them all in one step.
    func heal() throws {
        guard cutActive else { return }
        let status = try Processes.run(["ip", "netns", "exec", topology.hubNamespace, "nft", "delete", "table", "bridge", Self.cutTable], logPath: commandLog)
        guard status == 0 else { throw ClusterError.command("nft delete table exited with \(status); see \(commandLog)") }
        cutActive = false
    }

    /// Heals every cut, resumes every paused node, starts every node that is down.
    func healAll() throws {
        try heal()
        for node in paused { if let pid = pids[node] { Glibc.kill(pid, SIGCONT) } }
        paused.removeAll()
        reapUnexpectedExits(at: "found when healing")
        for node in topology.nodeNumbers where pids[node] == nil { try start(node) }
    }

    // MARK: Status

    nonisolated func statusClient(_ node: Int) -> StatusClient {
        StatusClient(host: topology.address(node), port: Self.httpPort, timeout: .seconds(1), on: group)
    }

    /// Each answering node's status.
    nonisolated func statuses() async -> [Int: NodeStatus] {
        await withTaskGroup(of: (Int, NodeStatus?).self) { tasks in
            for node in topology.nodeNumbers {
                tasks.addTask { (node, try? await self.statusClient(node).node()) }
            }
            var result: [Int: NodeStatus] = [:]
            for await (node, status) in tasks { if let status { result[node] = status } }
            return result
        }
    }

    /// The serving leader with the highest term, if any node says it leads.
    nonisolated func leader() async -> Int? {
        let statuses = await statuses()
        return statuses.filter { $0.value.role == .leader && $0.value.serving }.max { $0.value.term < $1.value.term }?.key
    }

    /// Waits until a serving leader is found, at most `timeout`.
    nonisolated func waitForLeader(timeout: Duration) async -> Int? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let leader = await leader() { return leader }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return nil
    }
}

enum ClusterError: Error, CustomStringConvertible {
    case command(String)
    case noLeader(String)

    var description: String {
        switch self {
        case .command(let text): return text
        case .noLeader(let text): return text
        }
    }
}
