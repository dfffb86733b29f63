import Raft

/// Which links are cut, and how lossy and slow the rest are. Messages are delayed by a
/// random amount, so they reorder; some are dropped and some duplicated.
struct SimulatedNetwork {
    struct Link: Hashable {
        var from: NodeID
        var to: NodeID
    }

    struct Conditions {
        var dropProbability = 0.0
        var duplicateProbability = 0.0
        var delayMin: SimulatedTime = 1
        var delayMax: SimulatedTime = 10
        /// Occasionally a message takes much longer (a congested link, a GC pause).
        var slowProbability = 0.0
        var slowDelayMax: SimulatedTime = 100
    }

    var conditions = Conditions()
    private(set) var cutLinks: Set<Link> = []

    func isCut(from: NodeID, to: NodeID) -> Bool {
        cutLinks.contains(Link(from: from, to: to))
    }

    mutating func cut(from: NodeID, to: NodeID) {
        cutLinks.insert(Link(from: from, to: to))
    }

    mutating func cutBothWays(_ a: NodeID, _ b: NodeID) {
        cut(from: a, to: b)
        cut(from: b, to: a)
    }

    /// Splits the nodes into two sides that cannot reach each other.
    mutating func partition(_ side: Set<NodeID>, from rest: Set<NodeID>) {
        for a in side {
            for b in rest { cutBothWays(a, b) }
        }
    }

    mutating func healAll() {
        cutLinks = []
    }

    /// The delivery delays for one message: empty if dropped, two if duplicated.
    func deliveryDelays(random: inout SeededGenerator) -> [SimulatedTime] {
        if Double.random(in: 0..<1, using: &random) < conditions.dropProbability { return [] }
        var delays = [delay(random: &random)]
        if Double.random(in: 0..<1, using: &random) < conditions.duplicateProbability {
            delays.append(delay(random: &random))
        }
        return delays
    }

    private func delay(random: inout SeededGenerator) -> SimulatedTime {
        if Double.random(in: 0..<1, using: &random) < conditions.slowProbability {
            return SimulatedTime.random(in: conditions.delayMax...conditions.slowDelayMax, using: &random)
        }
        return SimulatedTime.random(in: conditions.delayMin...conditions.delayMax, using: &random)
    }
}
