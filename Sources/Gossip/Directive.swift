extension SWIM {
    /// What an instance asks of its shell. Every handler returns them in order; the shell
    /// MUST carry out each one, switching exhaustively.
    public enum Directive: Hashable, Sendable {
        /// Send `message` (its `encoded()` bytes) as one datagram to `to`. Fire and forget:
        /// SWIM expects loss, and nothing waits on delivery.
        case send(Message, to: HostPort)
        /// Invoke `onTimeout(sequence:now:)` once `delayMs` have passed. Never needs
        /// cancelling: a timeout for a sequence that was answered meanwhile is ignored.
        case scheduleTimeout(sequence: SequenceNumber, delayMs: Millis)
        /// Membership changed as this instance sees it; the shell reports it onward (to
        /// Raft's driver, metrics, logs). Decides nothing by itself.
        case event(MembershipEvent)
    }

    /// A change in what this instance believes about another node: what the node shell
    /// surfaces to Raft. Gossip never decides who leads; Raft may use `confirmedDead` of its
    /// leader as a signal to stop waiting for it.
    public enum MembershipEvent: Hashable, Sendable, CustomStringConvertible {
        /// First heard of the node, or of a new life after a tombstone (it restarted or
        /// rejoined). `member.status` is alive, or (rarely) suspect.
        case joined(Member)
        /// Alive → suspect: it missed a probe here, or someone else says so.
        case suspected(Member)
        /// Alive or suspect → dead: its suspicion timed out unrefuted.
        case confirmedDead(Member)
        /// Alive, suspect or dead → left: it announced its departure. Not a death.
        case left(Member)
        /// Suspect → alive: it refuted the suspicion with a higher incarnation.
        case aliveAgain(Member)
        /// Its status stayed, its alarms changed (it raised or cleared one).
        case alarmsChanged(Member)

        public var member: Member {
            switch self {
            case .joined(let member), .suspected(let member), .confirmedDead(let member),
                .left(let member), .aliveAgain(let member), .alarmsChanged(let member):
                return member
            }
        }

        public var description: String {
            switch self {
            case .joined(let member): return "joined(\(member))"
            case .suspected(let member): return "suspected(\(member))"
            case .confirmedDead(let member): return "confirmedDead(\(member))"
            case .left(let member): return "left(\(member))"
            case .aliveAgain(let member): return "aliveAgain(\(member))"
            case .alarmsChanged(let member): return "alarmsChanged(\(member))"
            }
        }
    }
}
