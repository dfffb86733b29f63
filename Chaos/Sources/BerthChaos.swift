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

    @Option(help: "How long the fault windows run, overriding the preset's: seconds, or with a unit (90s, 30m, 1h); 30 s to 4 h.")
    var duration: RunLength?

    @Option(help: "Only these fault kinds, comma-separated (default: all of them: \(FaultKind.faults.map(\.rawValue).joined(separator: ","))).")
    var faults: String?

    @Option(help: "The berth executable to run as nodes.")
    var berth: String

    @Option(name: .customLong("node-address"), help: "A node's address (repeat, one per node).")
    var nodeAddresses: [String]

    @Option(name: .customLong("node-netns"), help: "A node's network namespace (repeat, in the order of --node-address); none on loopback.")
    var nodeNamespaces: [String] = []

    @Option(name: .customLong("hub-netns"), help: "The namespace holding the bridge, where the cuts go; none on loopback, where the cuts are rules in this namespace.")
    var hubNamespace = ""

    @Option(name: .customLong("harness-address"), help: "This process's address on the bridge, where the delaying proxy listens.")
    var harnessAddress: String

    @Option(help: "How many of the nodes found the cluster; the others are spares for membership churn.")
    var founders = 3

    @Option(name: .customLong("work-dir"), help: "Where the nodes keep their data and logs.")
    var workDirectory: String

    @Option(name: .customLong("tls-directory"), help: "Certificates (Cluster/make-tls-certificates): the nodes also serve amqps on 5671, and about half the client connections use it.")
    var tlsDirectory: String?

    @Option(name: .customLong("out"), help: "Where the history (history.jsonl) and the report (report.txt) go.")
    var outDirectory: String

    func validate() throws {
        if let duration, !(30...14_400).contains(duration.seconds) { throw ValidationError("--duration must be between 30 s and 4 h") }
        _ = try faultKinds
        guard founders >= 3, nodeAddresses.count > founders, nodeAddresses.count <= 9 else {
            throw ValidationError("give at least three founding nodes and a spare (nine at most), each with --node-address")
        }
        guard hubNamespace.isEmpty ? nodeNamespaces.isEmpty : nodeNamespaces.count == nodeAddresses.count else {
            throw ValidationError("with --hub-netns give each node its --node-netns; on loopback give neither")
        }
    }

    var faultKinds: [FaultKind] {
        get throws {
            guard let faults else { return FaultKind.faults }
            return try faults.split(separator: ",").map { name in
                guard let kind = FaultKind(rawValue: String(name)), kind != .none else { throw ValidationError("unknown fault kind \(name)") }
                return kind
            }
        }
    }

    func run() async throws {
        let seed = self.seed ?? UInt64.random(in: 1...999_999_999)
        let faultSeconds = duration?.seconds ?? preset.faultSeconds
        say("seed: \(seed)")
        let replay = "Chaos/run --preset \(preset.rawValue) --seed \(seed)" + (duration.map { " --duration \($0.text)" } ?? "") + (faults.map { " --faults \($0)" } ?? "")
        let topology = Topology(
            addresses: nodeAddresses, namespaces: nodeNamespaces, hubNamespace: hubNamespace, harnessAddress: harnessAddress, founders: founders)
        let schedule = FaultSchedule.draw(seed: seed, duration: .seconds(faultSeconds), nodeCount: founders, kinds: try faultKinds)
        say("schedule (\(schedule.windows.count) windows, \(schedule.windows.filter { $0.kind == .none }.count) fault-free):")
        for window in schedule.windows {
            say("  \(window.number). at \(window.offset.components.seconds) s: \(window.summary) for \(window.hold.components.seconds) s, then \(window.recovery.components.seconds) s to recover")
        }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let cluster = Cluster(topology: topology, berth: berth, workDirectory: workDirectory, tlsDirectory: tlsDirectory, group: group)
        var harnessErrors: [String] = []
        let secret = (0..<32).map { _ in String(UInt8.random(in: 0...255), radix: 16) }.joined()
        try writeFile(workDirectory + "/cluster-secret", secret + "\n", secret: true)
        try writeFile(workDirectory + "/users", "\(Cluster.credentials.user):\(Cluster.credentials.password)\n", secret: true)
        let proxy = DelayProxy(group: group, seed: seed)
        try await proxy.start(host: harnessAddress, routes: cluster.proxyRoutes)
        try await cluster.redirectPeerLinks()
        for slot in topology.foundingSlots { try await cluster.start(slot) }
        guard let firstLeader = await cluster.waitForLeader(timeout: .seconds(60)) else {
            await cluster.stopAll()
            say("no leader within 60 s of starting; see the node logs")
            say("replay: \(replay)")
            throw ExitCode(2)
        }
        say("cluster up: leader is node \(firstLeader)")

        let history = History()
        let workload = Workload(
            shape: WorkloadShape(), history: history, topology: topology, group: group, seed: seed,
            tls: try tlsDirectory.map { try Workload.clientTLS(trusting: $0) })
        guard await workload.declareQueues(timeout: .seconds(30)) else {
            await cluster.stopAll()
            say("could not declare the queues within 30 s")
            say("replay: \(replay)")
            throw ExitCode(2)
        }
        // Leader changes set stalls and handovers near them aside, as fault windows do.
        let leaderWatch = Task { await workload.watchLeader(cluster: cluster) }
        let publishers = (1...workload.shape.publishers).map { number in Task { await workload.runPublisher(number) } }
        let consumers = (1...workload.shape.consumers).map { number in
            Task { await workload.runConsumer(number, queue: (number - 1) % workload.shape.queues) }
        } + (1...workload.shape.deadLetterConsumers).map { number in
            Task { await workload.runConsumer(number, queue: workload.deadLetterQueue, prefix: "d") }
        } + [Task { await workload.runConsumer(1, queue: workload.deduplicatedQueue, prefix: "u") }]
            + (1...workload.shape.singleActiveConsumers).map { number in
                Task {
                    await workload.runConsumer(
                        number, queue: workload.singleActiveQueue, prefix: "s", arguments: ["x-priority": .int32(Int32(number))],
                        ackDelayMillisMax: workload.shape.singleActiveAckDelayMillisMax)
                }
            }
            + (1...workload.shape.timeoutConsumers).map { number in Task { await workload.runTimeoutConsumer(number) } }

        var records: [WindowRecord] = []
        for window in schedule.windows {
            try? await Task.sleep(until: history.start + window.offset, clock: .continuous)
            do {
                // Each window starts from a whole cluster; a node that ended on its own is noted and started again.
                try await cluster.healAll()
                let startMillis = History.millis(history.elapsed)
                let fault = try await inject(window, into: cluster, proxy: proxy, seed: seed)
                history.record(.fault, actor: "nemesis") { $0.window = window.number; $0.detail = "\(window.kind.rawValue) \(fault.target)" }
                say("[\(Checker.seconds(startMillis)) s] window \(window.number): \(window.kind.rawValue) \(fault.target)")
                if let midway = fault.midway {
                    try? await Task.sleep(for: window.hold / 2)
                    let note = try await midway()
                    say("[\(Checker.seconds(History.millis(history.elapsed))) s] window \(window.number): \(note)")
                    history.record(.fault, actor: "nemesis") { $0.window = window.number; $0.detail = note }
                    try? await Task.sleep(until: history.start + .milliseconds(startMillis) + window.hold, clock: .continuous)
                } else {
                    try? await Task.sleep(for: window.hold)
                }
                try await fault.heal()
                let healMillis = History.millis(history.elapsed)
                history.record(.heal, actor: "nemesis") { $0.window = window.number }
                records.append(WindowRecord(window: window, target: fault.target, startMillis: startMillis, healMillis: healMillis, endMillis: healMillis))
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
        proxy.setDelay(milliseconds: 0)
        do { try await cluster.healAll() } catch { harnessErrors.append("healing: \(error)") }
        if await cluster.waitForLeader(timeout: .seconds(60)) == nil { harnessErrors.append("no leader within 60 s of healing") }
        // Publishers get a while to have what is still unconfirmed confirmed, then stop.
        workload.stopProducing(settle: .seconds(30))
        for publisher in publishers { await publisher.value }
        await workload.stopConsuming()
        for consumer in consumers { await consumer.value }
        say("[\(Checker.seconds(History.millis(history.elapsed))) s] workload stopped; draining")
        let notEmpty = await workload.drain(cluster: cluster, timeout: .seconds(90))
        say("[\(Checker.seconds(History.millis(history.elapsed))) s] drained; the consumer-timeout probe, then the stream from its first offset")
        let probeProblem = await workload.probeConsumerTimeout(cluster: cluster)
        let streamRead = await workload.replayStream(cluster: cluster, timeout: .seconds(60))
        workload.stopWatchingLeader()
        await leaderWatch.value
        let disagreements = await disagreement(cluster: cluster, timeout: .seconds(30))
        await cluster.reapUnexpectedExits(at: "after the drain")

        let connections = workload.connectionCounts
        say("client connections: \(connections.overTLS) over TLS (amqps), \(connections.plain) plain")
        if tlsDirectory != nil, connections.overTLS == 0 { harnessErrors.append("no client connection went over TLS") }

        let features = FeatureRun(
            queues: workload.featureQueues, streamReader: streamRead?.reader, streamLength: streamRead?.length ?? 0, probed: true, probeProblem: probeProblem,
            pendingDeadLettersMax: workload.pendingDeadLettersMax.withLock { $0 })
        var verdict = Checker.check(history.snapshot, deadLetterQueue: workload.deadLetterQueue, features: features)
        verdict.queuesNotEmpty = notEmpty
        verdict.disagreement = disagreements
        verdict.nodeExits = await cluster.unexpectedExits
        verdict.harnessErrors = harnessErrors
        let report = RunReport(
            seed: seed, windowCount: schedule.windows.count, workloadEndMillis: workloadEnd, replay: replay,
            events: history.snapshot, windows: records, verdict: verdict, snapshotsInstalled: await cluster.snapshotsInstalledFromALeader())
        try report.write(to: outDirectory)

        await cluster.stopAll()
        await proxy.stop()
        try await group.shutdownGracefully()
        if !verdict.passed { throw ExitCode(1) }
    }

    /// A started fault: what it hit, an optional second step half-way through the window
    /// (returning what it did), and how to heal it.
    struct StartedFault {
        var target: String
        var midway: (@Sendable () async throws -> String)?
        var heal: @Sendable () async throws -> Void
    }

    /// Starts the window's fault.
    private func inject(_ window: FaultWindow, into cluster: Cluster, proxy: DelayProxy, seed: UInt64) async throws -> StartedFault {
        func leaderOrDrawn() async -> (Int, String) {
            if let leader = await cluster.waitForLeader(timeout: .seconds(10)) { return (leader, "leader node \(leader)") }
            return (window.drawnNodes[0], "node \(window.drawnNodes[0]) (no leader was found)")
        }
        let drawn = window.drawnNodes[0]
        switch window.kind {
        case .none:
            return StartedFault(target: "-", heal: {})
        case .killLeader, .killNode:
            let (slot, target) = window.kind == .killLeader ? await leaderOrDrawn() : (drawn, "node \(drawn)")
            await cluster.kill(slot)
            return StartedFault(target: target, heal: { try await cluster.start(slot) })
        case .pauseLeader, .pauseNode:
            let (slot, target) = window.kind == .pauseLeader ? await leaderOrDrawn() : (drawn, "node \(drawn)")
            await cluster.pause(slot)
            return StartedFault(target: target, heal: { await cluster.resume(slot) })
        case .pauseThenKill:
            await cluster.pause(drawn)
            return StartedFault(
                target: "node \(drawn)",
                midway: {
                    await cluster.kill(drawn)
                    return "node \(drawn) killed while paused"
                },
                heal: { try await cluster.start(drawn) })
        case .isolateLeader:
            let (slot, target) = await leaderOrDrawn()
            try await cluster.cut(.isolate([slot]))
            return StartedFault(target: target, heal: { try await cluster.heal() })
        case .split:
            let minority = window.drawnNodes
            try await cluster.cut(.isolate(minority))
            return StartedFault(target: "minority " + minority.map(String.init).joined(separator: ","), heal: { try await cluster.heal() })
        case .bridge:
            try await cluster.cut(.bridge(through: drawn))
            return StartedFault(target: "node \(drawn)", heal: { try await cluster.heal() })
        case .oneWay:
            let (slot, target) = await leaderOrDrawn()
            let others = await cluster.occupiedSlots.filter { $0 != slot }
            let outbound = window.parameter == 0
            try await cluster.cut(outbound ? .oneWay(from: [slot], to: others) : .oneWay(from: others, to: [slot]))
            return StartedFault(target: target + (outbound ? ", its packets out" : ", packets to it"), heal: { try await cluster.heal() })
        case .loss:
            try await cluster.cut(.loss(percent: window.parameter))
            return StartedFault(target: "\(window.parameter)% of packets", heal: { try await cluster.heal() })
        case .latency:
            proxy.setDelay(milliseconds: window.parameter)
            return StartedFault(target: "\(window.parameter) ms", heal: { proxy.setDelay(milliseconds: 0) })
        case .churn:
            return try await churn(leaving: drawn, cluster: cluster)
        case .corruptLog:
            return try await corruptLog(window, cluster: cluster, seed: seed)
        }
    }

    /// A spare slot's new member joins and becomes a voter, then the drawn node leaves (so
    /// the group never has fewer than three voters). Healing reverses it: the left slot joins
    /// again as a new member, and once it votes, the spare's member leaves.
    private func churn(leaving slot: Int, cluster: Cluster) async throws -> StartedFault {
        guard let spare = await cluster.emptySlots.first else { throw ClusterError.command("no spare slot for churn") }
        let joined = try await cluster.startNewMember(spare)
        try await cluster.waitUntilVoter(joined, timeout: .seconds(30))
        let leaving = await cluster.member(slot)?.nodeID ?? 0
        try await cluster.leave(slot)
        return StartedFault(
            target: "node \(joined) joined in slot \(spare), node \(leaving) left from slot \(slot)",
            heal: {
                let rejoined = try await cluster.startNewMember(slot)
                try await cluster.waitUntilVoter(rejoined, timeout: .seconds(30))
                try await cluster.leave(spare)
            })
    }

    /// Stops a follower, damages a record of its log and checks that it refuses to start,
    /// naming the file and the offset. Healing wipes it and brings it back as a new member,
    /// then removes its old id.
    private func corruptLog(_ window: FaultWindow, cluster: Cluster, seed: UInt64) async throws -> StartedFault {
        let leader = await cluster.waitForLeader(timeout: .seconds(10))
        let slot = window.drawnNodes[0] == leader ? window.drawnNodes[0] % founders + 1 : window.drawnNodes[0]
        guard let oldID = await cluster.member(slot)?.nodeID else { throw ClusterError.command("slot \(slot) is empty") }
        await cluster.kill(slot)
        var random = SeededGenerator(seed: seed ^ UInt64(window.number))
        let flipped = try LogCorruption.flipByte(under: await cluster.dataDirectory(slot), random: &random)
        let logPath = await cluster.logPath(slot)
        let logStart = (try? LogCorruption.readFile(logPath).count) ?? 0
        try await cluster.start(slot)
        let status = await cluster.waitForExit(slot, timeout: .seconds(30))
        let output = String(decoding: ((try? LogCorruption.readFile(logPath)) ?? []).dropFirst(logStart), as: UTF8.self)
        guard let status, status != 0 else {
            await cluster.kill(slot)
            throw ClusterError.command("node \(oldID) started on a corrupted log (\(flipped))")
        }
        guard output.contains(flipped.fileName), output.contains("offset \(flipped.recordOffset)") else {
            throw ClusterError.command("node \(oldID) refused its corrupted log (\(flipped)) without naming the file and offset; it said: \(output.suffix(400))")
        }
        return StartedFault(
            target: "node \(oldID), \(flipped.fileName) at offset \(flipped.recordOffset): refused with status \(status)",
            heal: {
                let newID = try await cluster.startNewMember(slot)
                try await cluster.waitUntilVoter(newID, timeout: .seconds(30))
                try await cluster.removeMember(oldID, timeout: .seconds(30))
            })
    }
}

/// A length of time on the command line: whole seconds, or a number with `s`, `m` or `h`.
struct RunLength: ExpressibleByArgument, Sendable {
    var seconds: Int
    var text: String

    init?(argument: String) {
        let units = ["s": 1, "m": 60, "h": 3600]
        var digits = Substring(argument)
        var unit = 1
        if let last = argument.last, let factor = units[String(last)] {
            digits = digits.dropLast()
            unit = factor
        }
        guard let count = Int(digits), count > 0 else { return nil }
        let (seconds, overflow) = count.multipliedReportingOverflow(by: unit)
        guard !overflow else { return nil }
        self.seconds = seconds
        self.text = argument
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
