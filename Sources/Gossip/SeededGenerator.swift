/// SplitMix64: small, fast, seedable. The core never reads global randomness, so the same
/// seed gives the same probe order and the same intermediaries, and a simulation replays.
struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// An integer in `0..<bound` by multiply-shift; the bias, under bound/2⁶⁴, is
    /// negligible for the small bounds used here.
    mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0, "no value below \(bound)")
        return Int(next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// Fisher–Yates, spelled out so the order never depends on the standard library's
    /// choice of algorithm.
    mutating func shuffle<T>(_ values: inout [T]) {
        guard values.count > 1 else { return }
        for i in stride(from: values.count - 1, to: 0, by: -1) {
            values.swapAt(i, below(i + 1))
        }
    }

    /// Up to `count` distinct elements of `values`, in random order.
    mutating func sample<T>(_ values: [T], count: Int) -> [T] {
        var pool = values
        let taken = min(count, pool.count)
        for i in 0..<taken {
            pool.swapAt(i, i + below(pool.count - i))
        }
        return Array(pool.prefix(taken))
    }
}
