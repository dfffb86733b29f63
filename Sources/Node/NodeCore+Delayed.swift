import Broker
import NIOCore
import Raft

// The leader's side of x-delayed-message exchanges: it proposes a firing, carrying its
// clock, as soon as a held message is due, and sleeps until then otherwise. Every replica
// fires what the command says at the command's timestamp, so none reads a clock.
extension NodeCore {
    /// MUST be called on the event loop whenever the held messages may have changed (after
    /// applying) and from the periodic sweep. On the leader: proposes one firing if a held
    /// message is due and no firing is in flight, or wakes up when the next is due. A firing
    /// in flight calls this again once applied, so a backlog drains one bounded batch at a time.
    func fireDueDelayedMessages() {
        guard isLeading, !stopped, let next = state.nextDelayedFireAt else { return }
        let now = clock()
        guard next <= now else {
            let bound = NIOLoopBound(self, eventLoop: loop)
            delayedWakeUp.schedule(at: next, now: now, on: loop) {
                bound.value.delayedWakeUp.fired()
                bound.value.fireDueDelayedMessages()
            }
            return
        }
        if let proposed = delayedFiringProposed, proposed.term == group.core.term, group.core.appliedIndex < proposed.index { return }
        guard let command = state.delayedFiring(at: now) else { return }
        do {
            let (term, indexes) = try group.propose([command.encoded()])
            delayedFiringProposed = (term, indexes.upperBound)
            scheduleFlush()
        } catch {
            // Not leading any more, or refused for now (a transfer, too much uncommitted):
            // the sweep, or the next leader, tries again.
            logger.debug("firing delayed messages was refused", metadata: ["error": "\(error)"])
        }
    }

}
