import Raft

/// The fault mix of one seed, drawn from it first: how lossy and slow the network is, how
/// slow the disks are, and how often each kind of fault strikes. Different seeds stress
/// different corners.
struct FaultProfile: CustomStringConvertible {
    enum Fault: CaseIterable {
        case crashLeader, crashAny, partition, isolateLeader, bridge, oneWayCut, transferLeadership, membershipChurn
        /// Gossip tells a follower its leader died, truly or falsely.
        case leaderReportedDead
    }

    let conditions: SimulatedNetwork.Conditions
    let syncLatencyMax: SimulatedTime
    let proposeIntervalMax: SimulatedTime
    let faultIntervalMean: SimulatedTime
    let weights: [(Fault, Int)]
    /// Replication bounds vary too: one entry per append and one append in flight make
    /// followers hold a prefix of a batch, where old-term entries sit without the new one.
    let appendEntriesMax: Int
    let inflightAppendsMax: Int
    /// How much of the applied log stays in memory: with little, leaders send from disk.
    let entryCacheBytesMax: Int

    init(random: inout SeededGenerator) {
        var conditions = SimulatedNetwork.Conditions()
        conditions.dropProbability = [0, 0.01, 0.05, 0.15].randomElement(using: &random)!
        conditions.duplicateProbability = [0, 0.02, 0.08].randomElement(using: &random)!
        conditions.delayMin = 1
        conditions.delayMax = [2, 5, 15].randomElement(using: &random)!
        conditions.slowProbability = [0, 0.01, 0.05].randomElement(using: &random)!
        conditions.slowDelayMax = 150
        self.conditions = conditions
        syncLatencyMax = [1, 4, 12].randomElement(using: &random)!
        proposeIntervalMax = [6, 20].randomElement(using: &random)!
        faultIntervalMean = [30, 80, 200, 400].randomElement(using: &random)!
        weights = Fault.allCases.map { ($0, Int.random(in: 0...4, using: &random)) }
        appendEntriesMax = [1, 2, 8].randomElement(using: &random)!
        inflightAppendsMax = [1, 4].randomElement(using: &random)!
        entryCacheBytesMax = [0, 64, 1 << 20].randomElement(using: &random)!
    }

    func faultInterval(random: inout SeededGenerator) -> SimulatedTime {
        SimulatedTime.random(in: faultIntervalMean / 2...faultIntervalMean * 3 / 2, using: &random)
    }

    func nextFault(random: inout SeededGenerator) -> Fault {
        let total = weights.reduce(0) { $0 + $1.1 }
        guard total > 0 else { return .crashAny }
        var pick = Int.random(in: 0..<total, using: &random)
        for (fault, weight) in weights {
            if pick < weight { return fault }
            pick -= weight
        }
        return .crashAny
    }

    var description: String {
        let mix = weights.filter { $0.1 > 0 }.map { "\($0.0)x\($0.1)" }.joined(separator: " ")
        return "drop \(conditions.dropProbability) dup \(conditions.duplicateProbability) delay ≤\(conditions.delayMax)ms slow \(conditions.slowProbability) sync ≤\(syncLatencyMax)ms faults every ~\(faultIntervalMean)ms [\(mix)] append ≤\(appendEntriesMax) inflight ≤\(inflightAppendsMax) cache ≤\(entryCacheBytesMax)B"
    }
}
