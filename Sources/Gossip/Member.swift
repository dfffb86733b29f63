extension SWIM {
    /// What one instance believes about a node.
    public enum Status: Hashable, Sendable, CustomStringConvertible {
        /// Answering probes, or refuted its latest suspicion.
        case alive
        /// Missed a probe; becomes dead after `Settings.suspicionTimeoutMs` unless it refutes.
        case suspect
        /// Confirmed dead: a tombstone for this life.
        case dead
        /// Announced its departure: a tombstone for this life; never reported as dead.
        case left

        /// Alive or suspect: probed, and counted in the dissemination limit.
        public var isLive: Bool {
            switch self {
            case .alive, .suspect: return true
            case .dead, .left: return false
            }
        }

        public var description: String {
            switch self {
            case .alive: return "alive"
            case .suspect: return "suspect"
            case .dead: return "dead"
            case .left: return "left"
            }
        }
    }

    /// A member record: the unit of dissemination.
    public struct Member: Hashable, Sendable, CustomStringConvertible {
        public var id: NodeID
        public var incarnation: Incarnation
        public var status: Status
        public var addresses: Addresses

        public init(id: NodeID, incarnation: Incarnation, status: Status, addresses: Addresses) {
            self.id = id
            self.incarnation = incarnation
            self.status = status
            self.addresses = addresses
        }

        public var description: String { "\(id)@\(incarnation):\(status)" }

        /// The same record with another status (and incarnation).
        public func with(status: Status, incarnation: Incarnation? = nil) -> Member {
            Member(id: id, incarnation: incarnation ?? self.incarnation, status: status, addresses: addresses)
        }
    }
}
