import Broker
import Raft

/// The broker's replicated state as the Raft group's state machine. Applying an entry decodes
/// its command and keeps the effects, with the entry's index, for the node to act on.
public struct BrokerMachine: ReplicatedStateMachine {
    public private(set) var state: BrokerState
    private var effects: [(index: LogIndex, term: Term, effects: [BrokerEffect])] = []

    public init(state: BrokerState = BrokerState()) {
        self.state = state
    }

    public mutating func apply(_ entry: Entry) {
        do {
            effects.append((entry.index, entry.term, try state.apply(encoded: entry.data, at: entry.index)))
        } catch {
            // Every replica holds the same bytes and skips them alike; the proposer is told.
            effects.append((entry.index, entry.term, [.failed(BrokerError(.internalError, "undecodable command at \(entry.index): \(error)"))]))
        }
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
        state = restored
        effects = []
    }
}
