import Glibc
import NIOCore
import Node
import StatusAPI

/// Where the nodes run: each slot is a network namespace joined by a veth to a bridge in the
/// hub namespace, where the cuts are nftables rules. `Chaos/run` builds that network; this
/// harness only starts processes in it and adds and deletes its tables. The first `founders`
/// slots hold the founding members; the others stay empty until membership churn needs
/// them. The harness's own address (`harnessAddress`, on the bridge too) is where clients
/// come from and where the delaying proxy listens.
///
/// Where the machine has no network namespaces, every slot is a loopback address in this
/// namespace (`namespaces` and `hubNamespace` empty), and the cuts are rules on its output.
struct Topology: Sendable {
    /// Slot n (1-based) has address `addresses[n - 1]`, in namespace `namespaces[n - 1]`.
    var addresses: [String]
    var namespaces: [String]
    var hubNamespace: String
    var harnessAddress: String
    var founders: Int

    var loopback: Bool { hubNamespace.isEmpty }
    var slots: [Int] { Array(1...addresses.count) }
    var foundingSlots: [Int] { Array(1...founders) }
    func address(_ slot: Int) -> String { addresses[slot - 1] }
    func namespace(_ slot: Int) -> String { namespaces[slot - 1] }

    /// The proxy's port for connections from `slot` to `peer`'s peer port.
    static func proxyPort(from slot: Int, to peer: Int) -> Int { 20_000 + 10 * slot + peer }
}

/// A network fault, as nftables rules in the hub's bridge.
enum NetworkFault: Sendable {
    /// Every packet between `side` and the other members dropped, both ways.
    case isolate([Int])
    /// Every packet between any two members other than `through` dropped: that one still
    /// reaches all of them, they no longer reach each other.
    case bridge(through: Int)
    /// Packets from `from` to `to` dropped; the other direction flows.
    case oneWay(from: [Int], to: [Int])
    /// Each packet between members dropped with this chance, in percent.
    case loss(percent: Int)
}

/// The cluster's processes and the network cuts between them. The harness speaks of slots;
/// node ids are this actor's business, since a slot gets a new member (and a new id) when
/// its node leaves or is wiped. Every pid here is one this harness started; they are the
/// only processes it signals.
actor Cluster {
    static let amqpPort = 5672
    static let amqpsPort = 5671
    static let httpPort = 15672
    static let peerPort = 4370
    static let credentials = (user: "chaos", password: "chaos")
    static let snapshotEveryEntries = 2_000
    static let entriesRetainedAfterSnapshot = 200
    /// Log kept for a follower behind: a short fault is caught up from the log, a longer one
    /// from a streamed snapshot.
    static let laggingFollowerLog = "256KiB"
    /// One table holds every cut, so deleting it heals them all at once.
    static let cutTable = "berth_chaos"
    static let redirectTable = "berth_chaos_redirect"

    /// Who lives in a slot: the node id, and whether it was started as a founding member
    /// (with the founding peers listed) or joined later (through gossip).
    struct Member: Sendable {
        var nodeID: Int
        var joined: Bool
    }

    let topology: Topology
    let berth: String
    let workDirectory: String
    /// Where the certificates are (Cluster/make-tls-certificates): the nodes also serve amqps.
    let tlsDirectory: String?
    private let group: any EventLoopGroup
    private var members: [Int: Member] = [:]
    private var nextNodeID: Int
    private var pids: [Int: pid_t] = [:]
    private var paused: Set<Int> = []
    private var cutActive = false
    /// Nodes that ended without the harness killing them: a node that will not (re)start.
    private(set) var unexpectedExits: [String] = []

    init(topology: Topology, berth: String, workDirectory: String, tlsDirectory: String?, group: any EventLoopGroup) {
        self.topology = topology
        self.berth = berth
        self.workDirectory = workDirectory
        self.tlsDirectory = tlsDirectory
        self.group = group
        for slot in topology.foundingSlots { members[slot] = Member(nodeID: slot, joined: false) }
        self.nextNodeID = topology.founders + 1
    }

    var commandLog: String { workDirectory + "/commands.log" }
    func logPath(_ slot: Int) -> String { workDirectory + "/node-\(slot).log" }
    func dataDirectory(_ slot: Int) -> String { workDirectory + "/node-\(slot)" }

    /// The slots with a member.
    var occupiedSlots: [Int] { members.keys.sorted() }
    var emptySlots: [Int] { topology.slots.filter { members[$0] == nil } }
    func member(_ slot: Int) -> Member? { members[slot] }

    // MARK: Processes

    /// Starts the slot's member on its data.
    func start(_ slot: Int) throws {
        guard pids[slot] == nil, let member = members[slot] else { return }
        let address = topology.address(slot)
        let inNamespace = topology.loopback ? [] : ["ip", "netns", "exec", topology.namespace(slot)]
        var command = inNamespace + [
            berth, "node",
            "--data-dir", dataDirectory(slot),
            "--node-id", "\(member.nodeID)",
            "--amqp-host", address, "--amqp-port", "\(Self.amqpPort)",
            "--http-host", address, "--http-port", "\(Self.httpPort)",
            "--cluster-secret-file", workDirectory + "/cluster-secret",
            // Clients reach the nodes from the hub's address, not loopback, where guest may not connect.
            "--users-file", workDirectory + "/users",
            // Snapshots often, little log kept behind them: a node back from a fault is
            // usually behind the log and catches up from a streamed snapshot.
            "--snapshot-every-entries", "\(Self.snapshotEveryEntries)", "--snapshot-retained-entries", "\(Self.entriesRetainedAfterSnapshot)",
            "--lagging-follower-log", Self.laggingFollowerLog,
        ]
        if let tlsDirectory {
            command += ["--tls-port", "\(Self.amqpsPort)", "--tls-certificate", tlsDirectory + "/server.pem", "--tls-key", tlsDirectory + "/server.key"]
        }
        if member.joined {
            command += ["--peer-address", "\(address):\(Self.peerPort)"]
            for other in occupiedSlots where other != slot { command += ["--join", "\(topology.address(other)):\(Self.peerPort)"] }
        } else {
            for founder in topology.foundingSlots { command += ["--peer", "\(founder)=\(topology.address(founder)):\(Self.peerPort)"] }
        }
        appendToFile(logPath(slot), "--- chaos: starting node \(member.nodeID) in slot \(slot)\n")
        let pid = try Processes.spawn(command, logPath: logPath(slot))
        pids[slot] = pid
        // Chaos/run ends what is listed here if this process is gone before it could.
        appendToFile(workDirectory + "/pids", "\(pid)\n")
    }

    /// Puts a new member, with a new id and no data, in an empty (or emptied) slot and starts
    /// it: it joins through gossip. Returns its id.
    func startNewMember(_ slot: Int) throws -> Int {
        precondition(pids[slot] == nil, "slot \(slot) still runs a node")
        try Processes.run(["rm", "-rf", dataDirectory(slot)], logPath: commandLog)
        let nodeID = nextNodeID
        nextNodeID += 1
        members[slot] = Member(nodeID: nodeID, joined: true)
        try start(slot)
        return nodeID
    }

    /// SIGKILL, as a crash: nothing is flushed or closed.
    func kill(_ slot: Int) {
        guard let pid = pids.removeValue(forKey: slot) else { return }
        Glibc.kill(pid, SIGKILL)
        _ = Processes.waitForExit(pid)
        paused.remove(slot)
    }

    func pause(_ slot: Int) {
        guard let pid = pids[slot] else { return }
        Glibc.kill(pid, SIGSTOP)
        paused.insert(slot)
    }

    func resume(_ slot: Int) {
        guard let pid = pids[slot], paused.remove(slot) != nil else { return }
        Glibc.kill(pid, SIGCONT)
    }

    /// Waits up to `timeout` for the slot's node to end on its own; its exit status, or nil
    /// if it still runs.
    func waitForExit(_ slot: Int, timeout: Duration) async -> Int32? {
        guard let pid = pids[slot] else { return nil }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status = Processes.exitStatusIfEnded(pid) {
                pids.removeValue(forKey: slot)
                return status
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }

    /// Asks the slot's node to leave the cluster (`POST /api/berth/leave`) and waits for it to end;
    /// the slot is then empty.
    func leave(_ slot: Int, timeout: Duration = .seconds(30)) async throws {
        guard let member = members[slot] else { return }
        _ = try await statusClient(slot).leave()
        guard let status = await waitForExit(slot, timeout: timeout) else {
            kill(slot)
            throw ClusterError.command("node \(member.nodeID) in slot \(slot) did not end within \(timeout) of leaving")
        }
        guard status == 0 else { throw ClusterError.command("node \(member.nodeID) in slot \(slot) left with exit status \(status)") }
        members.removeValue(forKey: slot)
    }

    /// How many snapshots the nodes installed from a leader (streamed with the records they
    /// refer to), as their logs say.
    func snapshotsInstalledFromALeader() -> Int {
        var count = 0
        for slot in Set(topology.foundingSlots + occupiedSlots) {
            guard let bytes = try? LogCorruption.readFile(logPath(slot)) else { continue }
            count += String(decoding: bytes, as: UTF8.self).split(separator: "\n").filter { $0.contains("installed a snapshot from the leader") }.count
        }
        return count
    }

    /// Notes nodes that ended on their own (they are then started again by `healAll`).
    func reapUnexpectedExits(at moment: String) {
        for (slot, pid) in pids {
            if let status = Processes.exitStatusIfEnded(pid) {
                pids.removeValue(forKey: slot)
                paused.remove(slot)
                let cause = lastCrashLine(slot).map { ": \($0)" } ?? "; see its log"
                unexpectedExits.append("node in slot \(slot) exited with status \(status) (\(moment))\(cause)")
            }
        }
    }

    /// The runtime's last word in a slot's log (a failed precondition or a crash), so that a
    /// report read from CI alone says why a node died.
    private func lastCrashLine(_ slot: Int) -> String? {
        guard let bytes = try? LogCorruption.readFile(logPath(slot)) else { return nil }
        let markers = ["Fatal error", "Precondition failed", "Assertion failed", "Program crashed"]
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n")
            .last { line in markers.contains { line.contains($0) } }
            .map { String($0.prefix(400)) }
    }

    /// SIGTERM to every node, SIGKILL to any still running after `grace`.
    func stopAll(grace: Duration = .seconds(10)) async {
        for slot in paused { if let pid = pids[slot] { Glibc.kill(pid, SIGCONT) } }
        paused.removeAll()
        for pid in pids.values { Glibc.kill(pid, SIGTERM) }
        let deadline = ContinuousClock.now + grace
        while !pids.isEmpty {
            for (slot, pid) in pids where Processes.exitStatusIfEnded(pid) != nil { pids.removeValue(forKey: slot) }
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

    // MARK: Membership

    /// Waits until a serving leader counts `nodeID` among its voters.
    func waitUntilVoter(_ nodeID: Int, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let statuses = await statuses()
            if statuses.values.contains(where: { $0.role == .leader && $0.serving && $0.voters.contains(UInt64(nodeID)) }) { return }
            try? await Task.sleep(for: .milliseconds(250))
        }
        throw ClusterError.command("node \(nodeID) was not a voter within \(timeout)")
    }

    /// Removes a member that is gone for good (`DELETE /api/berth/members/ID` on the leader).
    func removeMember(_ nodeID: Int, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = "no leader"
        while ContinuousClock.now < deadline {
            if let leader = await leader() {
                do {
                    let (status, result) = try await statusClient(leader).remove(UInt64(nodeID))
                    if status == 200 || status == 404 { return }
                    last = "status \(status): \(result)"
                } catch {
                    last = "\(error)"
                }
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
        throw ClusterError.command("could not remove node \(nodeID) within \(timeout): \(last)")
    }

    // MARK: Network

    /// Sends every node's TCP connections to another node's peer port through the delaying
    /// proxy, one listener per ordered pair (NAT in the dialing node's namespace).
    func redirectPeerLinks() throws {
        func table(_ rules: [String]) -> String {
            """
            table ip \(Self.redirectTable) {
                chain output {
                    type nat hook output priority -100; policy accept;
            \(rules.map { "        " + $0 + "\n" }.joined())    }
            }

            """
        }
        var all: [String] = []
        for slot in topology.slots {
            let rules = topology.slots.filter { $0 != slot }.map { peer in
                "ip saddr \(topology.address(slot)) ip daddr \(topology.address(peer)) tcp dport \(Self.peerPort) "
                    + "dnat to \(topology.harnessAddress):\(Topology.proxyPort(from: slot, to: peer))"
            }
            if topology.loopback {
                all += rules
            } else {
                try applyRules(table(rules), namespace: topology.namespace(slot), file: "redirect-\(slot).nft")
            }
        }
        if topology.loopback { try applyRules(table(all), namespace: "", file: "redirect.nft") }
    }

    /// The proxy's routes: for each ordered pair, its port and the peer it forwards to.
    nonisolated var proxyRoutes: [DelayProxy.Route] {
        get throws {
            var routes: [DelayProxy.Route] = []
            for slot in topology.slots {
                for peer in topology.slots where peer != slot {
                    routes.append(DelayProxy.Route(
                        listenPort: Topology.proxyPort(from: slot, to: peer),
                        target: try SocketAddress(ipAddress: topology.address(peer), port: Self.peerPort)))
                }
            }
            return routes
        }
    }

    /// Replaces any cut with `fault`. A packet between two nodes goes either straight
    /// (gossip's UDP) or through the proxy (the TCP peer links: node to the harness's address
    /// at the pair's port, and back), so each dropped direction gets rules for both paths.
    func cut(_ fault: NetworkFault) throws {
        try heal()
        let harness = topology.harnessAddress
        var rules: [String] = []
        func drop(from source: Int, to destination: Int, _ verdict: String = "drop") {
            let from = topology.address(source), to = topology.address(destination)
            rules.append("ip saddr \(from) ip daddr \(to) \(verdict)")
            // The source's own connection to the destination, source to proxy...
            rules.append("ip saddr \(from) ip daddr \(harness) tcp dport \(Topology.proxyPort(from: source, to: destination)) \(verdict)")
            // ...and the destination's connection to the source, proxy to destination.
            rules.append("ip saddr \(harness) tcp sport \(Topology.proxyPort(from: destination, to: source)) ip daddr \(to) \(verdict)")
        }
        switch fault {
        case .isolate(let side):
            for inside in side {
                for outside in topology.slots where !side.contains(outside) {
                    drop(from: inside, to: outside)
                    drop(from: outside, to: inside)
                }
            }
        case .bridge(let middle):
            let ends = topology.slots.filter { $0 != middle }
            for source in ends { for destination in ends where destination != source { drop(from: source, to: destination) } }
        case .oneWay(let sources, let destinations):
            for source in sources { for destination in destinations where destination != source { drop(from: source, to: destination) } }
        case .loss(let percent):
            for source in topology.slots {
                for destination in topology.slots where destination != source {
                    drop(from: source, to: destination, "numgen random mod 100 < \(percent) drop")
                }
            }
        }
        // Between namespaces every packet crosses the hub's bridge; on loopback every packet
        // leaves through this namespace's output.
        let (family, hook) = topology.loopback ? ("inet", "output") : ("bridge", "forward")
        let table = """
            table \(family) \(Self.cutTable) {
                chain cut {
                    type filter hook \(hook) priority 0; policy accept;
            \(rules.map { "        " + $0 + "\n" }.joined())    }
            }

            """
        try applyRules(table, namespace: topology.hubNamespace, file: "cut.nft")
        cutActive = true
    }

    /// `nft` in `namespace` (this one when empty).
    private func nft(_ arguments: [String], namespace: String) throws -> Int32 {
        let inNamespace = namespace.isEmpty ? [] : ["ip", "netns", "exec", namespace]
        return try Processes.run(inNamespace + ["nft"] + arguments, logPath: commandLog)
    }

    private func applyRules(_ rules: String, namespace: String, file: String) throws {
        let path = workDirectory + "/" + file
        try writeFile(path, rules)
        let status = try nft(["-f", path], namespace: namespace)
        guard status == 0 else { throw ClusterError.command("nft -f \(path) exited with \(status); see \(commandLog)") }
    }

    /// Deletes the table of cuts, healing them all in one step.
    func heal() throws {
        guard cutActive else { return }
        let family = topology.loopback ? "inet" : "bridge"
        let status = try nft(["delete", "table", family, Self.cutTable], namespace: topology.hubNamespace)
        guard status == 0 else { throw ClusterError.command("nft delete table exited with \(status); see \(commandLog)") }
        cutActive = false
    }

    /// Heals every cut, resumes every paused node, starts every member that is down.
    func healAll() throws {
        try heal()
        for slot in paused { if let pid = pids[slot] { Glibc.kill(pid, SIGCONT) } }
        paused.removeAll()
        reapUnexpectedExits(at: "found when healing")
        for slot in occupiedSlots where pids[slot] == nil { try start(slot) }
    }

    // MARK: Status

    nonisolated func statusClient(_ slot: Int) -> StatusClient {
        StatusClient(
            host: topology.address(slot), port: Self.httpPort, timeout: .seconds(1),
            credentials: HTTPCredentials(user: Self.credentials.user, password: Self.credentials.password), on: group)
    }

    /// Each answering member's status, by slot.
    func statuses() async -> [Int: NodeStatus] {
        let slots = occupiedSlots
        return await withTaskGroup(of: (Int, NodeStatus?).self) { tasks in
            for slot in slots {
                tasks.addTask { (slot, try? await self.statusClient(slot).node()) }
            }
            var result: [Int: NodeStatus] = [:]
            for await (slot, status) in tasks { if let status { result[slot] = status } }
            return result
        }
    }

    /// The slot of the serving leader with the highest term, if any node says it leads.
    func leader() async -> Int? {
        let statuses = await statuses()
        return statuses.filter { $0.value.role == .leader && $0.value.serving }.max { $0.value.term < $1.value.term }?.key
    }

    /// Waits until a serving leader is found, at most `timeout`.
    func waitForLeader(timeout: Duration) async -> Int? {
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
