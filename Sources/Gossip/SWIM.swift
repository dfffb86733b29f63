/// SWIM membership (Das, Gupta, Motivala, 2002) as a pure core, with a few simple
/// refinements, most from Lifeguard (Dadgar et al., 2018):
/// - nacks from intermediaries (counted; they show the intermediary is reachable);
/// - the buddy system: a message to a member held as suspect, dead or left carries that
///   record first, so the member hears of it at once and can refute;
/// - one extra untracked ping a period to a suspect, so the buddy system reaches it even
///   when the round does not, and its refuting ack clears the suspicion here;
/// - a rare ping to a dead member (`Settings.deadProbeIntervalMs`), so that both sides of a
///   healed long partition find each other again;
/// - stale news is answered: a record older than the one held puts the held one back into
///   dissemination, first in line (for a ping, in the ack to its sender);
/// - a death at an incarnation below the one held is stale (see `Member.supersedes`).
///
/// `SWIMInstance` owns no socket, clock, thread or global randomness: time comes in as an
/// argument (`Millis`, milliseconds on the shell's monotonic clock), randomness from
/// `Settings.randomSeed`, and every handler answers with `Directive`s for the shell to carry
/// out. Given the same settings and the same inputs it gives the same outputs.
///
/// Glossary (one word, one meaning):
/// - **node**: one `berth node` process, named by its `NodeID`.
/// - **member**: a node as one instance sees it: id, incarnation, status and addresses.
/// - **incarnation**: a counter only the node itself raises, to refute suspicion of itself.
/// - **update**: a member record being disseminated, piggybacked on pings, acks and nacks.
/// - **probe**: this period's ping to one member, then ping-requests through others.
/// - **period**: `Settings.probeIntervalMs`; one `onPeriodicTick` starts each.
/// - **life**: the span of a node's incarnations between (re)joining and dying or leaving.
///   A record with a higher incarnation than a tombstone (dead, left) starts a new life.
///
/// Gossip never decides who leads: it only reports membership events to the node shell.
public enum SWIM {
    public typealias NodeID = UInt64
    public typealias Incarnation = UInt64
    public typealias SequenceNumber = UInt64
    /// Milliseconds: an instant on the shell's monotonic clock, or a duration.
    public typealias Millis = UInt64

    /// The highest incarnation on the wire. Refuting adds one, so an incarnation never
    /// overflows; a record at this incarnation can no longer be refuted.
    public static let incarnationMax: Incarnation = UInt64.max / 2
}
