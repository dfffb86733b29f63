import ArgumentParser
import Glibc
import NIOPosix

/// `berth-chaos`: runs a workload against real `berth node` processes while faults drawn
/// from a seed hit them, then heals, drains and checks the history. `Chaos/run` builds the
/// network it runs in and cleans it up; use that rather than this directly.
@main
struct BerthChaos: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "berth-chaos",
        abstract: "Inject seeded faults into a Berth cluster under load and check that no confirmed message is lost."
    )

    enum Preset: String, ExpressibleByArgument, CaseIterable {
        /// Bounded for CI: three minutes of faults.
        case ci
        /// Longer: ten minutes of faults.
        case long

        var faultSeconds: Int {
            switch self {
            case .ci: 180
            case .long: 600
            }
        }
    }

    @Option(help: "The preset: ci (3 minutes of faults) or long (10 minutes).")
    var preset: Preset = .ci

    @Option(help: "The seed the fault schedule is drawn from (default: a random one, printed first).")
    var seed: UInt64?

    @Option(help: "Seconds of fault windows, overriding the preset's (30...3600).")
    var duration: Int?

    @Option(help: "The berth executable to run as nodes.")
    var berth: String

    @Option(name: .customLong("node-address"), help: "A node's address (repeat, one per node).")
    var nodeAddresses: [String]

    @Option(name: .customLong("node-netns"), help: "A node's network namespace (repeat, in the order of --node-address).")
    var nodeNamespaces: [String]

    @Option(name: .customLong("hub-netns"), help: "The namespace holding the bridge, where the cuts go.")
    var hubNamespace: String

    @Option(name: .customLong("work-dir"), help: "Where the nodes keep their data and logs.")
    var workDirectory: String

    @Option(name: .customLong("out"), help: "Where the history (history.jsonl) and the report (report.txt) go.")
    var outDirectory: String

    func validate() throws {
        if let duration, !(30...3600).contains(duration) { throw ValidationError("--duration must be in 30...3600") }
        guard nodeAddresses.count == nodeNamespaces.count, nodeAddresses.count >= 3 else {
            throw ValidationError("give at least three nodes, each with --node-address and --node-netns")
        }
    }

    func run() async throws {
        let seed = self.seed ?? UInt64.random(in: 1...999_999_999)
        let faultSeconds = duration ?? preset.faultSeconds
        say("seed: \(seed)")
        let replay = "Chaos/run --preset \(preset.rawValue) --seed \(seed)" + (duration.map { " --duration \($0)" } ?? "")
        let topology = Topology(addresses: nodeAddresses, namespaces: nodeNamespaces, hubNamespace: hubNamespace)
        let schedule = FaultSchedule.draw(seed: seed, duration: .seconds(faultSeconds), nodeCount: topology.addresses.count)
        say("schedule (\(schedule.windows.count) windows, \(schedule.windows.filter { $0.kind == .none }.count) fault-free):")
        for window in schedule.windows {
            let drawn = window.kind == .killNode || window.kind == .pauseNode || window.kind == .split ? " node(s) \(window.drawnNodes.map(String.init).joined(separator: ","))" : ""
            say("  \(window.number). at \(window.offset.components.seconds) s: \(window.kind.rawValue)\(drawn) for \(window.hold.components.seconds) s, then \(window.recovery.components.seconds) s to recover")
        }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let cluster = Cluster(topology: topology, berth: berth, workDirectory: workDirectory, group: group)
        var harnessErrors: [String] = []
        let secret = (0..<32).map { _ in String(UInt8.random(in: 0...255), radix: 16) }.joined()
        try writeFile(workDirectory + "/cluster-secret", secret + "\n")
        for node in topology.nodeNumbers { try await cluster.start(node) }
        guard let firstLeader = await cluster.waitForLeader(timeout: .seconds(60)) else {
            await cluster.stopAll()
            say("no leader within 60 s of starting; see the node logs")
            say("replay: \(replay)")
            throw ExitCode(2)
        }
        say("cluster up: leader is node \(firstLeader)")

        let history = History()
        let workload = Workload(shape: WorkloadShape(), history: history, topology: topology, group: group, seed: seed)
        guard await workload.declareQueues(timeout: .seconds(30)) else {
            await cluster.stopAll()
            say("could not declare the queues within 30 s")
            say("replay: \(replay)")
            throw ExitCode(2)
        }
        let publishers = (1...workload.shape.publishers).map { number in Task { await workload.runPublisher(number) } }
        let consumers = (1...workload.shape.consumers).map { number in Task { await workload.runConsumer(number) } }

        var records: [WindowRecord] = []
        for window in schedule.windows {
            try? await Task.sleep(until: history.start + window.offset, clock: .continuous)
            do {
                // Each window starts from a whole cluster; a node that ended on its own is noted and started again.
                try await cluster.healAll()
                let (target, heal) = try await inject(window, into: cluster)
                let startMillis = History.millis(history.elapsed)
                history.record(.fault, actor: "nemesis") { $0.window = window.number; $0.detail = "\(window.kind.rawValue) \(target)" }
                say("[\(Checker.seconds(startMillis)) s] window \(window.number): \(window.kind.rawValue) \(target)")
                try? await Task.sleep(for: window.hold)
                try await heal()
                let healMillis = History.millis(history.elapsed)
                history.record(.heal, actor: "nemesis") { $0.window = window.number }
                records.append(WindowRecord(window: window, target: target, startMillis: startMillis, healMillis: healMillis, endMillis: healMillis))
            } catch {
                harnessErrors.append("window \(window.number) (\(window.kind.rawValue)): \(error)")
                say("harness error in window \(window.number): \(error)")
            }
        }
        try? await Task.sleep(until: history.start + schedule.end, clock: .continuous)
        let workloadEnd = History.millis(history.elapsed)
        for index in records.indices {
            records[index].endMillis = index + 1 < records.count ? records[index + 1].startMillis : workloadEnd
        }

        say("[\(Checker.seconds(workloadEnd)) s] healing everything, waiting for a leader")
        do { try await cluster.healAll() } catch { harnessErrors.append("healing: \(error)") }
        if await cluster.waitForLeader(timeout: .seconds(60)) == nil { harnessErrors.append("no leader within 60 s of healing") }
        // Publishers get a while to have what is still unconfirmed confirmed, then stop.
        workload.stopProducing(settle: .seconds(30))
        for publisher in publishers { await publisher.value }
        await workload.stopConsuming()
        for consumer in consumers { await consumer.value }
        say("[\(Checker.seconds(History.millis(history.elapsed))) s] workload stopped; draining")
        let notEmpty = await workload.drain(cluster: cluster, timeout: .seconds(90))
        let disagreements = await disagreement(cluster: cluster, timeout: .seconds(30))
        await cluster.reapUnexpectedExits(at: "after the drain")

        var verdict = Checker.check(history.snapshot)
        verdict.queuesNotEmpty = notEmpty
        verdict.disagreement = disagreements
        verdict.nodeExits = await cluster.unexpectedExits
        verdict.harnessErrors = harnessErrors
        let report = RunReport(
            seed: seed, windowCount: schedule.windows.count, workloadEndMillis: workloadEnd, replay: replay,
            events: history.snapshot, windows: records, verdict: verdict)
        try report.write(to: outDirectory)

        await cluster.stopAll()
        try await group.shutdownGracefully()
        if !verdict.passed { throw ExitCode(1) }
    }

    /// Starts the window's fault; returns what it hit and how to heal it.
    private func inject(_ window: FaultWindow, into cluster: Cluster) async throws -> (String, @Sendable () async throws -> Void) {
        func leaderOrDrawn() async -> (Int, String) {
            if let leader = await cluster.waitForLeader(timeout: .seconds(10)) { return (leader, "leader node \(leader)") }
            return (window.drawnNodes[0], "node \(window.drawnNodes[0]) (no leader was found)")
        }
        func drawn() -> (Int, String) { (window.drawnNodes[0], "node \(window.drawnNodes[0])") }
        switch window.kind {
        case .none:
            return ("-", {})
        case .killLeader, .killNode:
            var choice = drawn()
            if window.kind == .killLeader { choice = await leaderOrDrawn() }
            let (node, target) = choice
            await cluster.kill(node)
            return (target, { try await cluster.start(node) })
        case .pauseLeader, .pauseNode:
            var choice = drawn()
            if window.kind == .pauseLeader { choice = await leaderOrDrawn() }
            let (node, target) = choice
            await cluster.pause(node)
            return (target, { await cluster.resume(node) })
        case .isolateLeader:
            let (node, target) = await leaderOrDrawn()
            try await cluster.cut(isolating: [node])
            return (target, { try await cluster.heal() })
        case .split:
            let minority = window.drawnNodes
            try await cluster.cut(isolating: minority)
            return ("minority " + minority.map(String.init).joined(separator: ","), { try await cluster.heal() })
        }
    }
}

/// Writes a line straight to standard output, unbuffered, so progress shows as it happens
/// even when the output is a pipe.
func say(_ text: String = "", terminator: String = "\n") {
    let bytes = Array((text + terminator).utf8)
    var written = 0
    while written < bytes.count {
        let result = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress! + written, $0.count - written) }
        if result <= 0 { break }
        written += result
    }
}
