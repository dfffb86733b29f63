import Broker
import NIOCore

// The leader's side of held-back messages (delayed retry, a delivery time): a message held
// back is replicated with its ready time, and the dispatcher hands it out once its clock
// passes that time. The leader wakes at the earliest such time rather than waiting for
// whatever runs the dispatcher next.
extension NodeCore {
    /// MUST be called on the event loop after dispatching. On the leader: wakes up when the
    /// earliest message held back is ready, unless a wake-up comes sooner already.
    func wakeForHeldBackMessages() {
        guard !stopped, let next = dispatcher?.nextHeldBackReadyAt else { return }
        let bound = NIOLoopBound(self, eventLoop: loop)
        heldBackWakeUp.schedule(at: next, now: clock(), on: loop) {
            bound.value.heldBackWakeUp.fired()
            // Applying (even nothing) ends in a dispatch with the clock read then.
            bound.value.scheduleFlush()
        }
    }
}
