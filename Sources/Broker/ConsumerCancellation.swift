/// A consumer the broker cancelled (its queue was deleted): the node sends basic.cancel to
/// clients that announced `consumer_cancel_notify`.
public struct ConsumerCancellation: Hashable, Sendable {
    public var channel: ChannelID
    public var consumerTag: String
    public var queue: QueueName

    public init(channel: ChannelID, consumerTag: String, queue: QueueName) {
        self.channel = channel
        self.consumerTag = consumerTag
        self.queue = queue
    }
}
