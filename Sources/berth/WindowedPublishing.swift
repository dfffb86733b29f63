import AMQP
import Client

extension AMQPChannel {
    /// Publishes `count` messages, the `n`th made by `message(n)`, half a window at a time
    /// with at most `window` unconfirmed, and returns once all are confirmed; a cancelled
    /// task stops publishing and waits for nothing more. The channel is in confirm mode.
    func publishConfirmed(count: Int, window: Int, _ message: (Int) -> OutgoingMessage) async throws {
        var pending: [PublishConfirmation] = []
        var sent = 0
        while sent < count, !Task.isCancelled {
            let batch = min(window / 2, count - sent)
            for outcome in await publish(batch: (sent..<(sent + batch)).map(message)) { pending.append(try outcome.get()) }
            sent += batch
            if pending.count >= window {
                for confirmation in pending.prefix(window / 2) { try await confirmation.confirmed() }
                pending.removeFirst(window / 2)
            }
        }
        guard !Task.isCancelled else { return }
        for confirmation in pending { try await confirmation.confirmed() }
    }
}
