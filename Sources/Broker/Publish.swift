/// One published message and where the leader's routing sent it.
public struct Publish: Equatable, Sendable {
    public var message: Message
    /// The queues `BrokerState.route` chose, in its order.
    public var queues: [QueueName]
    /// Opaque to the broker; echoed in the message's `PublishOutcome` so the node can confirm.
    /// At most `BrokerLimits.publisherTokenBytesMax` bytes.
    public var publisherToken: [UInt8]

    public init(message: Message, queues: [QueueName], publisherToken: [UInt8] = []) {
        self.message = message
        self.queues = queues
        self.publisherToken = publisherToken
    }
}
