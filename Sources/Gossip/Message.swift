extension SWIM {
    /// One datagram between instances. Every message names its sender and carries a
    /// sequence number: the sender's own for pings, ping-requests, joins and leaves; the one
    /// being answered for acks, nacks and join replies.
    public struct Message: Hashable, Sendable {
        public var from: NodeID
        public var sequence: SequenceNumber
        public var body: Body

        public init(from: NodeID, sequence: SequenceNumber, body: Body) {
            self.from = from
            self.sequence = sequence
            self.body = body
        }

        public enum Body: Hashable, Sendable {
            /// "Are you there?" Answered with an ack to the datagram's source.
            case ping(updates: [Member])
            /// "Ping `target` for me and relay its ack (or a nack if it stays silent)."
            case pingRequest(target: NodeID, targetAddress: HostPort, updates: [Member])
            /// `target` answered a ping with this sequence number, at `incarnation`. Sent by
            /// the target itself, or relayed by an intermediary.
            case ack(target: NodeID, incarnation: Incarnation, updates: [Member])
            /// An intermediary did not hear from `target` within the probe timeout (Lifeguard):
            /// the intermediary is reachable, the target maybe not.
            case nack(target: NodeID, updates: [Member])
            /// A node asks to join, with its own record (alive).
            case join(Member)
            /// Every member the answering node knows, itself first.
            case joinReply(members: [Member])
            /// The sender leaves for good; `member` is its record with status `left`.
            case leave(Member)
        }

        /// The piggybacked updates, or the members of a join, join reply or leave.
        public var members: [Member] {
            switch body {
            case .ping(let updates), .pingRequest(_, _, let updates), .ack(_, _, let updates), .nack(_, let updates):
                return updates
            case .join(let member), .leave(let member):
                return [member]
            case .joinReply(let members):
                return members
            }
        }

        /// A short name for traces.
        public var name: String {
            switch body {
            case .ping: return "ping"
            case .pingRequest: return "pingRequest"
            case .ack: return "ack"
            case .nack: return "nack"
            case .join: return "join"
            case .joinReply: return "joinReply"
            case .leave: return "leave"
            }
        }
    }
}
