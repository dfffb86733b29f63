import XCTest

@testable import RaftSimulation

/// The fixed set of seeds that runs on every `swift test`: whole clusters under faults,
/// checked after every step. `berth-sim` runs any other seeds.
final class SimulationSeedsTests: XCTestCase {
    static let stepsPerSeed = 2000

    func testThreeNodeClustersKeepEverySafetyProperty() {
        runSeeds(1...300, nodes: 3)
    }

    func testFiveNodeClustersKeepEverySafetyProperty() {
        runSeeds(1001...1250, nodes: 5)
    }

    /// Three groups over three nodes, each node's groups on one disk: a sync by one makes the
    /// others' writes durable, a crash loses the unsynced writes of all of them at once.
    func testGroupsSharingEachNodesDiskKeepEverySafetyProperty() {
        runSeeds(2001...2060, nodes: 3, groups: 3)
    }

    func testTheSameSeedReplaysTheSameRun() {
        func trace(seed: UInt64) -> [String] {
            var lines: [String] = []
            var simulation = Simulation(options: SimulationOptions(seed: seed, nodeCount: 5, steps: 1500), trace: { lines.append($0) })
            _ = simulation.run()
            return lines
        }
        let first = trace(seed: 77)
        XCTAssertGreaterThan(first.count, 500)
        XCTAssertEqual(first, trace(seed: 77))
        XCTAssertNotEqual(first, trace(seed: 78))
    }

    private func runSeeds(_ seeds: ClosedRange<UInt64>, nodes: Int, groups: Int = 1) {
        var steps = 0
        var faults = 0
        var acknowledged = 0
        for seed in seeds {
            var simulation = Simulation(options: SimulationOptions(seed: seed, nodeCount: nodes, steps: Self.stepsPerSeed, groupCount: groups))
            let result = simulation.run()
            steps += result.steps
            faults += result.faults
            acknowledged += result.acknowledged
            XCTAssertGreaterThanOrEqual(result.steps, Self.stepsPerSeed)
            for violation in result.violations {
                XCTFail("seed \(seed): \(violation) — replay: swift run -c release berth-sim --seed \(seed) --nodes \(nodes) --groups \(groups) --steps \(Self.stepsPerSeed) --trace")
            }
        }
        // A run that commits nothing or injects no fault proves nothing.
        XCTAssertGreaterThan(acknowledged, seeds.count * 20)
        XCTAssertGreaterThan(faults, seeds.count)
        print("simulated \(seeds.count) seeds x \(nodes) nodes x \(groups) groups: \(steps) steps, \(faults) faults, \(acknowledged) acknowledged proposals")
    }
}
