import ArgumentParser
import Glibc
import RaftSimulation

/// The seed being simulated, for the crash handler: a failed assertion in the core must
/// still tell which seed to replay.
nonisolated(unsafe) private var currentSeedText: [UInt8] = []

@main
struct BerthSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "berth-sim",
        abstract: "Runs Berth's Raft core under seeded, deterministic fault simulation.",
        discussion: """
            Each seed decides a fault mix (loss, duplication, delay, partitions, crashes with \
            lost and torn writes, membership churn, leadership transfers) and runs a fault \
            phase of --steps events, then a liveness phase on the healed cluster. A checker \
            verifies election safety, log matching, leader completeness, state machine safety, \
            linearizable reads and that no acknowledged proposal is lost, in each of the \
            cluster's groups (whose members on one node share its disk and its crashes).
            """
    )

    @Option(help: "How many seeds to run, starting at --first-seed.")
    var seeds: Int = 1000

    @Option(help: "The first seed of the run.")
    var firstSeed: UInt64 = 1

    @Option(help: "Replay one seed (with --trace to see every event).")
    var seed: UInt64?

    @Option(help: "Cluster size: 3 or 5. By default each seed picks one.")
    var nodes: Int?

    @Option(help: "Raft groups over the nodes, sharing each node's disk. By default each seed picks 1 or 3.")
    var groups: Int?

    @Option(help: "Events in the fault phase of each seed.")
    var steps: Int = 2000

    @Flag(help: "Print every event of the run (use with --seed).")
    var trace = false

    func validate() throws {
        if let nodes, nodes != 3 && nodes != 5 { throw ValidationError("--nodes must be 3 or 5") }
        guard seeds > 0 else { throw ValidationError("--seeds must be positive") }
        if let groups, !(1...16).contains(groups) { throw ValidationError("--groups must be 1 to 16") }
        guard steps > 0 else { throw ValidationError("--steps must be positive") }
    }

    func run() throws {
        installCrashReporter()
        let range: [UInt64] = seed.map { [$0] } ?? (0..<UInt64(seeds)).map { firstSeed &+ $0 }
        var totals = (seeds: 0, steps: 0, faults: 0, violations: 0, failed: 0, acknowledged: 0)
        let start = monotonicSeconds()
        for s in range {
            setCurrentSeed(s)
            let options = SimulationOptions(
                seed: s, nodeCount: nodes ?? SimulationOptions.defaultNodeCount(seed: s), steps: steps,
                groupCount: groups ?? SimulationOptions.defaultGroupCount(seed: s))
            var simulation = Simulation(options: options, trace: trace ? { writeLine($0) } : nil)
            let result = simulation.run()
            totals.seeds += 1
            totals.steps += result.steps
            totals.faults += result.faults
            totals.acknowledged += result.acknowledged
            if let first = result.violations.first {
                totals.violations += result.violations.count
                totals.failed += 1
                print("FAIL seed \(s) (\(options.nodeCount) nodes, \(options.groupCount) groups): \(first) — replay: swift run -c release berth-sim --seed \(s) --nodes \(options.nodeCount) --groups \(options.groupCount) --steps \(steps) --trace")
            }
        }
        let elapsed = monotonicSeconds() - start
        let rate = elapsed > 0 ? Int(Double(totals.steps) / elapsed) : 0
        print("seeds \(totals.seeds), steps \(totals.steps), faults \(totals.faults), acknowledged proposals \(totals.acknowledged), violations \(totals.violations) in \(totals.failed) seeds; \(Double(Int(elapsed * 10)) / 10)s, \(rate) steps/s")
        if totals.violations > 0 { throw ExitCode.failure }
    }
}

/// Unbuffered, so that a trace is complete up to the event that crashed.
private func writeLine(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
}

private func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

private func setCurrentSeed(_ seed: UInt64) {
    currentSeedText = Array("\nberth-sim: crashed while simulating seed \(seed)\n".utf8)
}

/// On a trap (a failed precondition in the core), print the seed before dying.
private func installCrashReporter() {
    for sig in [SIGILL, SIGTRAP, SIGSEGV, SIGABRT] {
        signal(sig) { number in
            currentSeedText.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
            signal(number, SIG_DFL)
            raise(number)
        }
    }
}
