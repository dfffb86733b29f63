/// Direct reply-to, as RabbitMQ's `amq.rabbitmq.reply-to`: a channel consumes from that
/// pseudo-queue (no-ack only, one such consumer per channel) and so gets a reply address of
/// its own; a request it publishes with `reply-to = amq.rabbitmq.reply-to` carries that
/// address instead, and a reply published to the default exchange with the address as its
/// routing key goes straight to the channel. Replies are never stored nor replicated: at
/// most once, as on RabbitMQ, and gone with the channel or the leader that held it.
///
/// An address ends in bytes the shell draws at random, so that nobody can guess another
/// channel's address; the dispatcher stays pure.
extension Dispatcher {
    /// The pseudo-queue a reply consumer consumes from, and the reply-to property that asks
    /// for the channel's address.
    public static let replyQueue = "amq.rabbitmq.reply-to"
    /// Every reply address begins so.
    public static let replyAddressPrefix = replyQueue + "."

    struct ReplyConsumer: Sendable {
        var tag: String
        var address: String
    }

    /// Whether a publish to the default exchange with this routing key is a direct reply
    /// (it goes to no queue, whether its channel is still there or not).
    public static func isReplyAddress(_ routingKey: String) -> Bool {
        routingKey.hasPrefix(replyAddressPrefix)
    }

    public struct ReplyDelivery: Equatable, Sendable {
        public var channel: ChannelID
        public var consumerTag: String
        /// From the channel's own sequence, shared with its other deliveries.
        public var deliveryTag: UInt64
    }

    /// basic.consume on `amq.rabbitmq.reply-to`: returns the consumer tag (made up if the
    /// request's is empty). `randomBytes`: drawn for this consumer, they make its address.
    public mutating func consumeReplies(channel: ChannelID, consumerTag: String, noAck: Bool, randomBytes: [UInt8]) throws(BrokerError) -> String {
        // Checked before the tag, so that a second reply consumer is refused as such.
        guard noAck else { throw BrokerError(.preconditionFailed, "reply consumer cannot acknowledge") }
        guard channels[channel]?.replyConsumer == nil else { throw BrokerError(.preconditionFailed, "reply consumer already set") }
        let tag = try self.consumerTag(consumerTag, on: channel)
        let address = Self.replyAddressPrefix + Base64URL.encode(randomBytes)
        channels[channel, default: Channel()].replyConsumer = ReplyConsumer(tag: tag, address: address)
        replyChannels[address] = channel
        return tag
    }

    /// The channel's reply address, which its requests carry as their reply-to; nil without
    /// a reply consumer.
    public func replyAddress(of channel: ChannelID) -> String? {
        channels[channel]?.replyConsumer?.address
    }

    /// Whether `queue` names the pseudo-queue or a live reply address: queue.declare answers
    /// for those as for a queue with one consumer.
    public func replyQueueExists(_ queue: String) -> Bool {
        queue == Self.replyQueue || replyChannels[queue] != nil
    }

    /// A reply to `address`: to its channel, settled as it leaves (no acknowledgement); nil
    /// when the channel is gone (or never was), and the reply goes nowhere.
    public mutating func routeReply(to address: String) -> ReplyDelivery? {
        guard let channel = replyChannels[address], let consumer = channels[channel]?.replyConsumer else { return nil }
        return ReplyDelivery(channel: channel, consumerTag: consumer.tag, deliveryTag: takeDeliveryTag(on: channel))
    }

    /// basic.cancel of the reply consumer, or the channel's close: its address is gone.
    mutating func removeReplyConsumer(of channel: ChannelID) {
        guard let consumer = channels[channel]?.replyConsumer else { return }
        channels[channel]?.replyConsumer = nil
        replyChannels[consumer.address] = nil
    }
}
