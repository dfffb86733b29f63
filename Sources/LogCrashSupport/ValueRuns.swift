import Log
import Node
import Raft

/// The state machine of the crash-loop writer: values 1, 2, 3, ... each in one entry, with
/// the log index each was applied at. Stored as runs (a restart's empty entry breaks a run),
/// so the snapshot stays small however long the loop runs.
public struct ValueRuns: ReplicatedStateMachine, Equatable, Sendable {
    public struct Run: Equatable, Sendable {
        public var firstValue: UInt64
        public var firstIndex: LogIndex
        public var count: UInt64
    }

    public private(set) var runs: [Run] = []

    public init() {}

    public var lastValue: UInt64 { runs.last.map { $0.firstValue + $0.count - 1 } ?? 0 }

    /// The index `value` was applied at, if it was.
    public func index(of value: UInt64) -> LogIndex? {
        var low = 0
        var high = runs.count
        while low < high {
            let mid = (low + high) / 2
            if runs[mid].firstValue + runs[mid].count <= value { low = mid + 1 } else { high = mid }
        }
        guard low < runs.count, runs[low].firstValue <= value else { return nil }
        return runs[low].firstIndex + (value - runs[low].firstValue)
    }

    /// An entry's payload: the value, then a filler derived from it (shorter than
    /// `fillerBytesBound`, its length varying with the value), so that any damaged byte shows.
    public static func payload(value: UInt64, fillerBytesBound: UInt64 = 509) -> [UInt8] {
        var bytes: [UInt8] = (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
        let filler = Int(value % fillerBytesBound)
        bytes.reserveCapacity(8 + filler)
        for i in 0..<filler { bytes.append(UInt8(truncatingIfNeeded: value &* 31 &+ UInt64(i))) }
        return bytes
    }

    /// The value an intact payload carries; nil if any byte is wrong.
    public static func value(in payload: [UInt8], fillerBytesBound: UInt64 = 509) -> UInt64? {
        guard payload.count >= 8 else { return nil }
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(payload[i]) << (8 * i) }
        return payload == Self.payload(value: value, fillerBytesBound: fillerBytesBound) ? value : nil
    }

    public mutating func apply(_ entry: Entry) {
        guard let value = Self.value(in: entry.data) else {
            preconditionFailure("entry \(entry.index) is damaged")
        }
        precondition(value == lastValue + 1, "entry \(entry.index) holds value \(value), expected \(lastValue + 1)")
        if var last = runs.last, last.firstIndex + last.count == entry.index {
            last.count += 1
            runs[runs.count - 1] = last
        } else {
            runs.append(Run(firstValue: value, firstIndex: entry.index, count: 1))
        }
    }

    public func capture() -> [Run] { runs }

    public static func snapshotData(of runs: [Run]) -> [UInt8] {
        var bytes: [UInt8] = []
        for run in runs {
            for word in [run.firstValue, run.firstIndex, run.count] {
                for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: word >> (8 * UInt64(i)))) }
            }
        }
        return bytes
    }

    public struct Undecodable: Error {}

    public mutating func restore(from data: [UInt8]) throws {
        guard data.count % 24 == 0 else { throw Undecodable() }
        var words: [UInt64] = []
        for start in stride(from: 0, to: data.count, by: 8) {
            var word: UInt64 = 0
            for i in 0..<8 { word |= UInt64(data[start + i]) << (8 * i) }
            words.append(word)
        }
        runs = stride(from: 0, to: words.count, by: 3).map { Run(firstValue: words[$0], firstIndex: words[$0 + 1], count: words[$0 + 2]) }
    }
}

/// The settings both the writer and the test's verifier use, so they agree on the layout.
public enum CrashLoopSettings {
    public static let groupID: UInt64 = 1
    public static let nodeID: NodeID = 1

    /// Small segments, so that roll-over and compaction happen under the kills too.
    public static var storageOptions: DurableStorage.Options {
        var options = DurableStorage.Options()
        options.segmentBytesMax = 256 << 10
        return options
    }

    /// The groups of the writer's `groups` mode, which share one write-ahead log.
    public static let sharedLogGroupIDs: [UInt64] = [1, 2, 3]

    /// Small segments for the shared log too.
    public static var logOptions: WriteAheadLog.Options {
        var options = WriteAheadLog.Options()
        options.segmentBytesMax = storageOptions.segmentBytesMax
        return options
    }

    public static var groupOptions: RaftGroup<ValueRuns>.Options {
        var options = RaftGroup<ValueRuns>.Options()
        options.snapshotEveryEntries = 3_000
        options.entriesRetainedAfterSnapshot = 100
        return options
    }
}
