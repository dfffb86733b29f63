import Broker
import Log
import Raft

/// The broker's replicated state as the Raft group's state machine. Applying an entry decodes
/// its command, writes the records of the messages it stored to the message store before the
/// next entry is applied (which may read them back), and keeps the other effects, with the
/// entry's index, for the node to act on.
public struct BrokerMachine: ReplicatedStateMachine {
    public private(set) var state: BrokerState
    /// Where the bodies of queued messages are, on this node's disk.
    public let store: MessageStore
    private var effects: [(index: LogIndex, term: Term, effects: [BrokerEffect])] = []

    public init(state: BrokerState = BrokerState(), store: MessageStore) {
        precondition(store.options.segmentBytes == state.limits.storeSegmentBytes, "the store's segments must be the broker's")
        self.state = state
        self.store = store
    }

    public mutating func apply(_ entry: Entry) {
        var applied: [BrokerEffect]
        do {
            applied = try state.apply(encoded: entry.data, at: entry.index, reader: StoreReader(store: store))
        } catch {
            // Every replica holds the same bytes and skips them alike; the proposer is told.
            applied = [.failed(BrokerError(.internalError, "undecodable command at \(entry.index): \(error)"))]
        }
        if case .write(let writes)? = applied.last {
            applied.removeLast()
            do {
                try store.write(writes.map { ($0.location.store, $0.location.position, $0.record) })
            } catch {
                fatalError("the message store cannot be written; a node that cannot store a committed message must stop: \(error)")
            }
        }
        effects.append((entry.index, entry.term, applied))
    }

    /// The effects of the entries applied since the last call, in log order.
    public mutating func takeEffects() -> [(index: LogIndex, term: Term, effects: [BrokerEffect])] {
        defer { effects = [] }
        return effects
    }

    /// The state itself: a value whose storage is shared until the next change, so taking
    /// it costs nothing and the persister serialises it while this machine applies on.
    public func capture() -> BrokerState { state }

    public static func snapshotData(of state: BrokerState) -> [UInt8] {
        state.snapshotData()
    }

    public mutating func restore(from data: [UInt8]) throws {
        var restored = BrokerState(limits: state.limits)
        try restored.restore(from: data)
        adopt(restored)
    }

    /// Takes a state restored elsewhere (from a snapshot received and decoded off the loop).
    mutating func adopt(_ restored: BrokerState) {
        state = restored
        effects = []
    }

    /// A follower receives, besides the snapshot's file, a header and every record the
    /// state refers to (`SnapshotTransfer`).
    public var snapshotTransferExtraBytes: Int { SnapshotTransfer.headerBytes + state.recordBytes }

    /// The records a snapshot refers to are durable before it is.
    public func makeReferencesDurable() throws(LogError) { try store.sync() }
}

/// The message store as the broker reads it: a record it refers to that cannot be read
/// means this node's disk lost what it had acknowledged, and the node stops.
struct StoreReader: MessageReader {
    let store: MessageStore

    func record(at location: RecordLocation) -> [UInt8] {
        do {
            return try store.read(store: location.store, position: location.position, bytes: Int(location.bytes))
        } catch {
            fatalError("the message store lost a record the state refers to (\(location)): \(error)")
        }
    }
}
