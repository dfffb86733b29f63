import NIOCore

/// What `AMQPChannel.publish` returns: the handle on the broker's confirm.
///
/// On a channel in confirm mode, `confirmed()` returns when the broker acks the publish
/// and throws `confirmNacked` on a nack, and `confirmIndeterminate` when the channel or
/// connection closes, or the confirm timeout passes, before either arrived.
public struct PublishConfirmation: Sendable {
    /// The publish's sequence number on its channel (the tag the broker acks), or nil
    /// when the channel was not in confirm mode.
    public let deliveryTag: UInt64?
    private let confirm: EventLoopFuture<Void>?

    init(deliveryTag: UInt64?, confirm: EventLoopFuture<Void>?) {
        self.deliveryTag = deliveryTag
        self.confirm = confirm
    }

    /// Waits for the broker's confirm.
    ///
    /// - Throws: `ClientError.confirmNacked`, `.confirmIndeterminate`, or
    ///   `.confirmsNotSelected` when the publish was made outside confirm mode.
    public func confirmed() async throws(ClientError) {
        guard let confirm = self.confirm else {
            throw ClientError.confirmsNotSelected
        }
        try await confirm.clientValue()
    }
}
