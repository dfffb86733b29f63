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

    /// The resource alarms a node has raised, carried in its record so that every member
    /// knows them (a publisher is blocked while any member of the cluster has one, as in
    /// RabbitMQ). Only the node itself changes them, raising its incarnation to do so.
    public struct Alarms: OptionSet, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        public static let memory = Alarms(rawValue: 1 << 0)
        public static let disk = Alarms(rawValue: 1 << 1)
        /// Every alarm this version knows; a record with another bit is not decoded.
        public static let known: Alarms = [.memory, .disk]

        public var description: String {
            isEmpty ? "none" : [(Alarms.memory, "memory"), (.disk, "disk")].filter { contains($0.0) }.map(\.1).joined(separator: "+")
        }
    }

    /// A member record: the unit of dissemination.
    public struct Member: Hashable, Sendable, CustomStringConvertible {
        public var id: NodeID
        public var incarnation: Incarnation
        public var status: Status
        public var addresses: Addresses
        public var alarms: Alarms

        public init(id: NodeID, incarnation: Incarnation, status: Status, addresses: Addresses, alarms: Alarms = []) {
            self.id = id
            self.incarnation = incarnation
            self.status = status
            self.addresses = addresses
            self.alarms = alarms
        }

        public var description: String {
            alarms.isEmpty ? "\(id)@\(incarnation):\(status)" : "\(id)@\(incarnation):\(status)[alarms \(alarms)]"
        }

        /// The same record with another status (and incarnation).
        public func with(status: Status, incarnation: Incarnation? = nil) -> Member {
            Member(id: id, incarnation: incarnation ?? self.incarnation, status: status, addresses: addresses, alarms: alarms)
        }
    }
}
