import AMQP
import NIOCore

extension AMQPChannel {
    /// The default number of publishes in flight awaiting their confirm.
    public static let confirmWindowDefault = 1024

    /// confirm.select: the broker confirms every publish from now on.
    ///
    /// - Parameters:
    ///   - window: the most publishes awaiting their confirm; `publish` waits while this
    ///     many are outstanding (back-pressure).
    ///   - timeout: how long a confirm may take before the publish is reported
    ///     `confirmIndeterminate` (cause `timedOut`); nil waits as long as the channel
    ///     lives.
    public func confirmSelect(
        window: Int = AMQPChannel.confirmWindowDefault,
        timeout: TimeAmount? = .seconds(60)
    ) async throws(ClientError) {
        precondition(window > 0, "confirm window \(window) must be at least 1")
        precondition(timeout.map { $0 > .zero } ?? true, "confirm timeout must be positive")
        _ = try await self.onLoop { core in core.confirmSelect(windowSize: window, timeout: timeout) }
    }

    /// basic.publish. Returns once the message is written to the connection, which is
    /// after the confirm window (in confirm mode), the socket's write buffer and the
    /// server's channel.flow have room. Messages published on one channel go out in the
    /// order the calls reach the event loop.
    ///
    /// In confirm mode, await `confirmed()` on the result for the broker's answer; many
    /// publishes may be in flight at once. With `mandatory`, a message the broker cannot
    /// route comes back on `returns`.
    ///
    /// - Throws: the channel's close reason if it closed before the message was written
    ///   (the message was not sent), `invalidArgument` for names over 255 bytes.
    @discardableResult
    public func publish(
        exchange: String = "",
        routingKey: String,
        body: ByteBuffer,
        properties: BasicProperties = BasicProperties(),
        mandatory: Bool = false
    ) async throws(ClientError) -> PublishConfirmation {
        let message = OutgoingMessage(
            exchange: exchange,
            routingKey: routingKey,
            body: body,
            properties: properties,
            mandatory: mandatory
        )
        return try await self.onLoop { core in core.publish(message) }
    }

    /// Publishes `messages` in order, with one hop to the event loop and one flush for as
    /// many as there is room for; returns when every message was sent or failed to be.
    ///
    /// Each result is the message's `PublishConfirmation`, or why it was not sent (it was
    /// then not published: the channel closed, or an argument was invalid). A failure does
    /// not stop the messages after it from being tried.
    public func publish(batch messages: [OutgoingMessage]) async -> [Result<PublishConfirmation, ClientError>] {
        let core = self.core
        let outcomes = try? await core.eventLoop.flatSubmit {
            let sent = core.value.publish(messages).map { future in
                future.map { Result<PublishConfirmation, ClientError>.success($0) }
                    .recover { .failure(ClientError.wrapping($0)) }
            }
            return EventLoopFuture.whenAllSucceed(sent, on: core.eventLoop)
        }.get()
        return outcomes ?? messages.map { _ in .failure(.connectionLost) }
    }

    /// Publishes sent and awaiting their confirm, and publishes waiting to be sent.
    public func publishCounts() async throws(ClientError) -> (unconfirmed: Int, waiting: Int) {
        let counts = try await self.onLoop { core in
            core.eventLoop.makeSucceededFuture(PublishCounts(core.publishCounts))
        }
        return (counts.unconfirmed, counts.waiting)
    }
}

private struct PublishCounts: Sendable {
    var unconfirmed: Int
    var waiting: Int

    init(_ counts: (unconfirmed: Int, waiting: Int)) {
        self.unconfirmed = counts.unconfirmed
        self.waiting = counts.waiting
    }
}
