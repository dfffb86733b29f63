import Broker
import Log
import Node
import Raft

/// The message store's crash loop: a one-node broker group whose one queue takes messages
/// with bodies derived from a value, and settles its oldest now and then. Segments are small
/// and snapshots frequent, so that record writes, snapshots, segment removal and hole
/// punching all happen under the kills.
public enum StoreCrashLoop {
    public static let queue = QueueName(vhost: "/", "crash-loop")

    public static var limits: BrokerLimits {
        var limits = BrokerLimits()
        limits.storeSegmentBytes = 64 << 10
        return limits
    }

    public static var groupOptions: RaftGroup<BrokerMachine>.Options {
        var options = RaftGroup<BrokerMachine>.Options()
        options.snapshotEveryEntries = 40
        options.entriesRetainedAfterSnapshot = 10
        return options
    }

    /// A message's body: the value, then a filler derived from it, up to 3,000 bytes long so
    /// that records of many sizes fill the small segments (`ValueRuns.payload`).
    public static func body(value: UInt64) -> [UInt8] { ValueRuns.payload(value: value, fillerBytesBound: bodyFillerBytesBound) }

    /// The value an intact body carries; nil if any byte is wrong.
    public static func value(inBody body: [UInt8]) -> UInt64? { ValueRuns.value(in: body, fillerBytesBound: bodyFillerBytesBound) }

    private static let bodyFillerBytesBound: UInt64 = 3_000

    /// A group of one that did not elect itself.
    public struct NotElected: Error {}

    /// The group on `directory` as a node restarting there has it: the snapshot restored,
    /// the group leading itself again and its log applied (which writes again the records of
    /// what follows the snapshot).
    public static func open(directory: String, seed: UInt64) throws -> (group: RaftGroup<BrokerMachine>, storage: DurableStorage) {
        let (storage, recovery) = try DurableStorage.open(
            dataDirectory: directory, groupID: CrashLoopSettings.groupID, options: CrashLoopSettings.storageOptions)
        var storeOptions = MessageStore.Options()
        storeOptions.segmentBytes = limits.storeSegmentBytes
        let store = try MessageStore.open(groupDirectory: storage.directory, options: storeOptions)
        let group = try RaftGroup(
            config: Config(id: CrashLoopSettings.nodeID, randomSeed: seed), storage: storage, recovered: recovery.state,
            snapshot: recovery.snapshot?.snapshot, machine: BrokerMachine(state: BrokerState(limits: limits), store: store),
            bootstrapVoters: [CrashLoopSettings.nodeID], options: groupOptions)
        guard try group.campaignAlone() else { throw NotElected() }
        return (group, storage)
    }

    /// The values of the messages in the queue, oldest first, each read back from the store;
    /// nil for a record that is missing or damaged.
    public static func queuedValues(in machine: BrokerMachine) -> [UInt64?] {
        guard let queue = machine.state.queue(Self.queue) else { return [] }
        return queue.messages.map { message in
            let location = queue.location(of: message)
            guard let record = try? machine.store.read(store: location.store, position: location.position, bytes: Int(location.bytes)),
                MessageRecord.isIntact(record), let decoded = try? MessageRecord.decode(record, limits: limits)
            else { return nil }
            return value(inBody: decoded.body)
        }
    }

    /// Gives back the store's space by a snapshot just saved, as a node's shell does.
    public static func reclaim(_ machine: BrokerMachine, by capture: RaftGroup<BrokerMachine>.SnapshotCapture) throws(LogError) {
        let state = capture.state
        _ = try machine.store.reclaim(snapshotIndex: capture.metadata.index, cursors: state.storeCursors) { visit in
            state.forEachRecord { visit(MessageStore.Extent(store: $0.store, position: $0.position, bytes: Int($0.bytes))) }
        }
    }
}
