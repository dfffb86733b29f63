import NIOCore

/// One timer at the earliest deadline asked for: an ask for a later deadline while an
/// earlier wake-up is pending changes nothing; an earlier one replaces it. The leader's
/// wake-ups for delayed messages and held-back retries are each one of these. Used on its
/// event loop only.
struct EarliestWakeUp {
    private var scheduled: (at: Int64, task: Scheduled<Void>)?

    /// Runs `action` on `loop` at `deadline` (ms on the caller's clock, which reads `now`),
    /// unless a wake-up at or before it is pending. `action` MUST call `fired()` first.
    mutating func schedule(at deadline: Int64, now: Int64, on loop: any EventLoop, _ action: @escaping @Sendable () -> Void) {
        if let scheduled, scheduled.at <= deadline { return }
        scheduled?.task.cancel()
        scheduled = (deadline, loop.scheduleTask(in: .milliseconds(Swift.max(0, deadline - now)), action))
    }

    /// The pending wake-up ran.
    mutating func fired() { scheduled = nil }

    mutating func cancel() {
        scheduled?.task.cancel()
        scheduled = nil
    }
}
