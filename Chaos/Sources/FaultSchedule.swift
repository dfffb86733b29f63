/// What a fault window does to the cluster.
enum FaultKind: String, CaseIterable, Sendable {
    /// Nothing: a fault-free window, the baseline for availability.
    case none
    /// SIGKILL the leader; restart it when the window heals.
    case killLeader = "kill-leader"
    /// SIGKILL a node drawn from the seed (leader or not); restart it when the window heals.
    case killNode = "kill-node"
    /// SIGSTOP the leader; SIGCONT when the window heals.
    case pauseLeader = "pause-leader"
    /// SIGSTOP a node drawn from the seed; SIGCONT when the window heals.
    case pauseNode = "pause-node"
    /// Cut the leader off from every other node (clients still reach it).
    case isolateLeader = "isolate-leader"
    /// Cut a minority drawn from the seed off from the majority.
    case split
    /// A bridge: the drawn node still reaches both others, which no longer reach each other.
    case bridge
    /// The leader's packets to the other nodes are dropped, or theirs to it (the parameter:
    /// 0 outbound, 1 inbound); the other direction still flows.
    case oneWay = "one-way"
    /// Each packet between nodes is dropped with the parameter's chance, in percent.
    case loss
    /// Every byte between nodes arrives the parameter's milliseconds late (a delaying proxy
    /// on the peer links; this kernel has no netem).
    case latency
    /// SIGSTOP the drawn node, SIGKILL it half-way through the window while its writes pile
    /// up, restart it when the window heals.
    case pauseThenKill = "pause-then-kill"
    /// Membership churn: a fresh node joins, then the drawn node leaves; on healing it comes
    /// back as a new member and the fresh one leaves. Never fewer than three voters.
    case churn
    /// Stop the drawn node (never the leader), flip a byte in a record of its log before the
    /// tail: it must refuse to start, naming the file and offset. On healing its data is
    /// wiped and it joins again as a new member, and its old id is removed.
    case corruptLog = "corrupt-log"

    static let faults: [FaultKind] = allCases.filter { $0 != .none }
}

/// One window of the schedule: the fault starts at `offset` from the workload's start, is
/// healed `hold` later, and the cluster then has `recovery` before the next window.
struct FaultWindow: Sendable {
    var number: Int
    var kind: FaultKind
    var offset: Duration
    var hold: Duration
    var recovery: Duration
    /// The seed's choice among the nodes, for the kinds that do not target the leader: the
    /// first `minority` node numbers of a seeded permutation.
    var drawnNodes: [Int]
    /// The kind's drawn setting: a loss percentage, a delay in milliseconds, a direction.
    var parameter = 0

    var end: Duration { offset + hold + recovery }

    /// The kind with what the seed drew for it, as the schedule prints it.
    var summary: String {
        switch kind {
        case .killNode, .pauseNode, .pauseThenKill, .churn, .corruptLog, .bridge: "\(kind.rawValue) node \(drawnNodes[0])"
        case .split: "split minority \(drawnNodes.map(String.init).joined(separator: ","))"
        case .loss: "loss \(parameter)%"
        case .latency: "latency \(parameter) ms"
        case .oneWay: parameter == 0 ? "one-way (the leader's packets out)" : "one-way (packets to the leader)"
        case .none, .killLeader, .pauseLeader, .isolateLeader: kind.rawValue
        }
    }
}

/// The whole schedule, drawn from the seed alone: the same seed gives the same windows, the
/// same kinds in the same order, the same holds and the same drawn nodes. (Which node is the
/// leader when a window opens depends on the run.)
struct FaultSchedule: Sendable {
    var seed: UInt64
    var windows: [FaultWindow]

    /// The cluster settles this long after the workload starts before the first window.
    static let warmUp = Duration.seconds(5)
    static let holdSeconds = 6...12
    static let recoverySeconds = 6...9
    static let lossPercent = 5...30
    // One way; the round trip stays within the default election timeout (300 ms), which a
    // slower link needs raised (berth node --election-timeout-ms).
    static let latencyMillis = 10...60

    /// Windows filling about `duration`; a quarter of them (rounded) fault-free, the others
    /// going through every kind of `faults` in a seeded order (isolating the leader first)
    /// before any repeats, then shuffled.
    static func draw(seed: UInt64, duration: Duration, nodeCount: Int, kinds faults: [FaultKind] = FaultKind.faults) -> FaultSchedule {
        var random = SeededGenerator(seed: seed)
        let meanSeconds = Double(holdSeconds.lowerBound + holdSeconds.upperBound + recoverySeconds.lowerBound + recoverySeconds.upperBound) / 2
        let totalSeconds = Double(duration.components.seconds)
        let count = max(1, Int(totalSeconds / meanSeconds))
        let faultFree = (count + 2) / 4
        var kinds = [FaultKind](repeating: .none, count: faultFree)
        var cycle: [FaultKind] = []
        // The first cycle opens with isolating the leader, when it is asked for: the fault
        // that most directly shows a confirm given before a majority has the message, so even
        // a short schedule has it.
        var firstCycle = true
        while kinds.count < count {
            if cycle.isEmpty {
                cycle = random.shuffled(faults)
                if firstCycle, let index = cycle.firstIndex(of: .isolateLeader) { cycle.insert(cycle.remove(at: index), at: 0) }
                firstCycle = false
            }
            kinds.append(cycle.removeFirst())
        }
        kinds = random.shuffled(kinds)
        let minority = (nodeCount - 1) / 2
        var windows: [FaultWindow] = []
        var offset = warmUp
        for (index, kind) in kinds.enumerated() {
            let hold = Duration.seconds(random.within(holdSeconds))
            let recovery = Duration.seconds(random.within(recoverySeconds))
            let permutation = random.shuffled(Array(1...nodeCount))
            let drawn = Array(permutation.prefix(kind == .split ? minority : 1))
            let parameter = switch kind {
            case .loss: random.within(lossPercent)
            case .latency: random.within(latencyMillis)
            case .oneWay: random.below(2)
            default: 0
            }
            windows.append(FaultWindow(
                number: index + 1, kind: kind, offset: offset, hold: hold, recovery: recovery, drawnNodes: drawn, parameter: parameter))
            offset += hold + recovery
        }
        return FaultSchedule(seed: seed, windows: windows)
    }

    /// When the last window's recovery ends.
    var end: Duration { windows.last?.end ?? Self.warmUp }
}
