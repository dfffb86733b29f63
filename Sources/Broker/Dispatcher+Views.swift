/// What the management API lists of the leader's consumers and channels.
extension Dispatcher {
    public struct ConsumerView: Equatable, Sendable {
        public var channel: ChannelID
        public var tag: String
        public var queue: QueueName
        public var noAck: Bool
        public var exclusive: Bool
        public var prefetch: UInt16
        public var priority: Int64
        /// With single active consumer, whether it is the one served (RabbitMQ's
        /// `single_active` or `waiting`); nil for a queue without.
        public var isSingleActive: Bool?
    }

    /// Every consumer, by channel and then tag.
    public var consumerViews: [ConsumerView] {
        channels.keys.sorted().flatMap { id in
            let consumers = channels[id]!.consumers
            return consumers.keys.sorted().map { tag in
                let consumer = consumers[tag]!
                let active = queues[consumer.queue]?.active
                return ConsumerView(channel: id, tag: tag, queue: consumer.queue, noAck: consumer.noAck, exclusive: consumer.exclusive,
                                    prefetch: consumer.prefetch, priority: consumer.priority,
                                    isSingleActive: active.map { $0 == QueueDispatch.ConsumerKey(channel: id, tag: tag) })
            }
        }
    }

    /// The channel's basic.qos: for each consumer it creates (global = false) and shared by
    /// all of them (global = true); 0 is unlimited.
    public func prefetch(of channel: ChannelID) -> (perConsumer: UInt16, perChannel: UInt16) {
        (channels[channel]?.prefetchPerConsumer ?? 0, channels[channel]?.prefetchPerChannel ?? 0)
    }
}
