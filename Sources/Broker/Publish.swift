/// One published message and where the leader's routing sent it.
public struct Publish: Equatable, Sendable {
    public var message: Message
    /// The queues `BrokerState.route` chose, in its order; none for a delayed publish.
    public var queues: [QueueName]
    /// Opaque to the broker; echoed in the message's `PublishOutcome` so the node can confirm.
    /// At most `BrokerLimits.publisherTokenBytesMax` bytes.
    public var publisherToken: [UInt8]
    /// Set for a publish that its `x-delayed-message` exchange holds (`BrokerState.delay`):
    /// it is routed when the delay is over, not now.
    public var delay: Delay?

    /// Held by the exchange `message.exchange` of `vhost` for `milliseconds` after the
    /// enqueue's timestamp.
    public struct Delay: Equatable, Sendable {
        public var vhost: String
        public var milliseconds: Int64

        public init(vhost: String, milliseconds: Int64) {
            self.vhost = vhost
            self.milliseconds = milliseconds
        }
    }

    public init(message: Message, queues: [QueueName], publisherToken: [UInt8] = [], delay: Delay? = nil) {
        self.message = message
        self.queues = queues
        self.publisherToken = publisherToken
        self.delay = delay
    }
}
