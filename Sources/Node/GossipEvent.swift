import Gossip

/// A change in membership as this node's gossip sees it, reported by `GossipShell` for the
/// node to act on (Raft's driver, metrics, logs). Gossip decides nothing by itself.
///
/// Each carries the member's record as it stands after the change: node id, incarnation,
/// status, and its peer, AMQP and HTTP addresses.
public enum GossipEvent: Hashable, Sendable, CustomStringConvertible {
    /// First heard of the member, or of a new life after it died or left (it restarted or
    /// rejoined): alive, or rarely already suspect.
    case joined(SWIM.Member)
    /// It refuted a suspicion: alive again at a higher incarnation.
    case alive(SWIM.Member)
    /// It missed a probe here, or someone else suspects it; not yet dead.
    case suspect(SWIM.Member)
    /// Its suspicion timed out unrefuted.
    case dead(SWIM.Member)
    /// It announced its departure. Never reported as dead afterwards.
    case left(SWIM.Member)
    /// It raised or cleared a resource alarm (`member.alarms`).
    case alarms(SWIM.Member)

    init(_ event: SWIM.MembershipEvent) {
        switch event {
        case .joined(let member): self = .joined(member)
        case .aliveAgain(let member): self = .alive(member)
        case .suspected(let member): self = .suspect(member)
        case .confirmedDead(let member): self = .dead(member)
        case .left(let member): self = .left(member)
        case .alarmsChanged(let member): self = .alarms(member)
        }
    }

    public var member: SWIM.Member {
        switch self {
        case .joined(let member), .alive(let member), .suspect(let member), .dead(let member), .left(let member),
            .alarms(let member):
            return member
        }
    }

    public var description: String {
        switch self {
        case .joined(let member): return "joined(\(member))"
        case .alive(let member): return "alive(\(member))"
        case .suspect(let member): return "suspect(\(member))"
        case .dead(let member): return "dead(\(member))"
        case .left(let member): return "left(\(member))"
        case .alarms(let member): return "alarms(\(member))"
        }
    }
}
