import Raft

/// The simulated application: an append-only list of client values, each with the log index
/// it was applied at. Small and deterministic, so that any divergence between nodes shows.
struct ValueLog {
    private(set) var appliedIndex: LogIndex = 0
    private(set) var values: [(index: LogIndex, value: UInt64)] = []
    /// Set when an entry arrives out of order; the checker reports it.
    private(set) var gap: (expected: LogIndex, got: LogIndex)?

    init() {}

    /// Snapshot layout: applied index, then (index, value) pairs; u64 little-endian.
    init(restoring data: [UInt8], at index: LogIndex) {
        var words: [UInt64] = []
        words.reserveCapacity(data.count / 8)
        var offset = 0
        while offset + 8 <= data.count {
            var word: UInt64 = 0
            for i in 0..<8 { word |= UInt64(data[offset + i]) << UInt64(8 * i) }
            words.append(word)
            offset += 8
        }
        precondition(words.first == index, "snapshot data is for index \(words.first ?? 0), not \(index)")
        appliedIndex = index
        var i = 1
        while i + 1 < words.count {
            values.append((words[i], words[i + 1]))
            i += 2
        }
    }

    func snapshotData() -> [UInt8] {
        var data: [UInt8] = []
        data.reserveCapacity(8 + 16 * values.count)
        func put(_ word: UInt64) {
            for shift in stride(from: 0, to: 64, by: 8) { data.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        put(appliedIndex)
        for (index, value) in values {
            put(index)
            put(value)
        }
        return data
    }

    static func payload(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> UInt64(8 * $0)) }
    }

    static func value(in entry: Entry) -> UInt64? {
        guard entry.data.count == 8 else { return nil }
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(entry.data[i]) << UInt64(8 * i) }
        return value
    }

    mutating func apply(_ entry: Entry) {
        if entry.index != appliedIndex + 1, gap == nil { gap = (appliedIndex + 1, entry.index) }
        appliedIndex = entry.index
        if entry.kind == .normal, let value = Self.value(in: entry) { values.append((entry.index, value)) }
    }

    func indexesByValue() -> [UInt64: [LogIndex]] {
        var result: [UInt64: [LogIndex]] = [:]
        for (index, value) in values { result[value, default: []].append(index) }
        return result
    }
}
