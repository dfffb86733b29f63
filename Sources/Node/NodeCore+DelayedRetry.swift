import Broker
import NIOCore

// The leader's side of delayed retry: a message held back is replicated with its ready
// time, and the dispatcher hands it out once its clock passes that time. The leader wakes
// at the earliest such time rather than waiting for whatever runs the dispatcher next.
extension NodeCore {
    /// MUST be called on the event loop after dispatching. On the leader: wakes up when the
    /// earliest message held back is ready, unless a wake-up comes sooner already.
    func wakeForHeldBackRetries() {
        guard !stopped, let next = dispatcher?.nextRetryReadyAt else { return }
        if let scheduled = retryWakeUp, scheduled.at <= next { return }
        retryWakeUp?.task.cancel()
        let bound = NIOLoopBound(self, eventLoop: loop)
        let task = loop.scheduleTask(in: .milliseconds(Swift.max(0, next - clock()))) {
            bound.value.retryWakeUp = nil
            // Applying (even nothing) ends in a dispatch with the clock read then.
            bound.value.scheduleFlush()
        }
        retryWakeUp = (next, task)
    }
}
