/// SplitMix64. Its own arithmetic, not the standard library's `random(in:)`, draws every
/// choice, so a seed replays the same schedule whatever the toolchain.
struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A whole number in `0..<bound`.
    mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0, "bound \(bound) must be positive")
        return Int(next() % UInt64(bound))
    }

    /// A whole number in `range`.
    mutating func within(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + below(range.count)
    }

    /// True with probability `percent` / 100.
    mutating func chance(percent: Int) -> Bool {
        below(100) < percent
    }

    /// Fisher–Yates, drawing from this generator.
    mutating func shuffled<Element>(_ elements: [Element]) -> [Element] {
        var result = elements
        var i = result.count - 1
        while i > 0 {
            result.swapAt(i, below(i + 1))
            i -= 1
        }
        return result
    }
}
