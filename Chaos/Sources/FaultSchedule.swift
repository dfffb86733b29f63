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

    var end: Duration { offset + hold + recovery }
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

    /// Windows filling about `duration`; a quarter of them (rounded) fault-free, the others
    /// going through every fault kind in a seeded order before any repeats, then shuffled.
    static func draw(seed: UInt64, duration: Duration, nodeCount: Int) -> FaultSchedule {
        var random = SeededGenerator(seed: seed)
        let meanSeconds = Double(holdSeconds.lowerBound + holdSeconds.upperBound + recoverySeconds.lowerBound + recoverySeconds.upperBound) / 2
        let totalSeconds = Double(duration.components.seconds)
        let count = max(1, Int(totalSeconds / meanSeconds))
        let faultFree = (count + 2) / 4
        var kinds = [FaultKind](repeating: .none, count: faultFree)
        var cycle: [FaultKind] = []
        while kinds.count < count {
            if cycle.isEmpty { cycle = random.shuffled(FaultKind.faults) }
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
            windows.append(FaultWindow(number: index + 1, kind: kind, offset: offset, hold: hold, recovery: recovery, drawnNodes: drawn))
            offset += hold + recovery
        }
        return FaultSchedule(seed: seed, windows: windows)
    }

    /// When the last window's recovery ends.
    var end: Duration { windows.last?.end ?? Self.warmUp }
}
