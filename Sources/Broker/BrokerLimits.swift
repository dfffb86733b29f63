/// Every bound of the broker, named with its unit last. The limits decide what `apply`
/// accepts, so every replica of a group MUST run with the same limits.
public struct BrokerLimits: Equatable, Sendable {
    /// Names of vhosts, exchanges, queues, routing keys and consumer tags (AMQP short strings).
    public var nameBytesMax = 255
    /// How deep tables and arrays may nest inside arguments and headers, the outermost
    /// table counted: a node sets it to what its AMQP codec decodes
    /// (`FieldTable.nestingDepthMax`), so that whatever a client can send is decided on,
    /// never committed and then found undecodable.
    public var argumentDepthMax = 32
    /// Entries of one argument table or array.
    public var argumentEntriesMax = 4_096
    /// A message body a command may carry: RabbitMQ's ceiling for `max_message_size`,
    /// 512 MiB. A node takes less from its clients (`NodeConfiguration.messageSizeMax`),
    /// but every replica decodes what any leader may have taken.
    public var messageBodyBytesMax = 512 << 20
    public var vhostsMax = 1_024
    public var usersMax = 65_536
    /// Tags of one user.
    public var userTagsMax = 32
    /// Each of a permission's three regular expressions.
    public var permissionPatternBytesMax = 4_096
    /// Exchanges, over all vhosts.
    public var exchangesMax = 65_536
    /// Queues, over all vhosts.
    public var queuesMax = 65_536
    /// Bindings, over all vhosts.
    public var bindingsMax = 1_048_576
    /// Messages stored in one queue; beyond it the queue refuses publishes as `reject-publish` would.
    public var queueMessagesMax = 16_777_216
    /// Messages held by all `x-delayed-message` exchanges together; beyond it a delayed
    /// publish is refused (nacked).
    public var delayedMessagesMax = 16_777_216
    /// Keys one `x-message-deduplication` exchange remembers (its `x-cache-size` at most).
    public var deduplicationCacheEntriesMax = 1_048_576
    /// A publish's opaque publisher token, echoed in its outcome.
    public var publisherTokenBytesMax = 255
    /// Messages in one `enqueue` command.
    public var commandMessagesMax = 16_384
    /// Message ids in one `settle`, `requeue`, `reject`, `purge` or `expire` command.
    public var commandMessageIDsMax = 1_048_576
    /// Queues one `expire` command may name as unused.
    public var commandQueuesMax = 4_096
    /// Dead-lettering hops that one removal may set off (a dead-lettered message overflowing
    /// the next queue, whose dropped head is dead-lettered in turn, ...).
    public var deadLetterHopsMax = 32
    /// Pending at-least-once dead letters one retry takes from a queue (each is read back from
    /// the store in the apply, within `BrokerState.commandRecordBytesMax` in all).
    public var deadLetterRetryMessagesMax = 1_024
    /// Deliveries one `Dispatcher.dispatch` call hands out; the node calls again while `more` is set.
    public var deliveriesPerDispatchMax = 4_096
    /// Consumers on one channel (RabbitMQ's `consumer_max_per_channel` is unlimited by default).
    public var consumersPerChannelMax = 65_536
    /// Deliveries out and unacknowledged on one channel, whatever its prefetch (0 means no
    /// limit to a client): the most a prefetch can ask for, 65,535.
    public var unackedPerChannelMax = 65_535
    /// A queue's store is a run of segment files of this size (a larger record has a file of
    /// its own); record positions follow from it, so it is part of what replicas agree on.
    public var storeSegmentBytes = 16 << 20

    public init() {}

    /// Invalid limits are a configuration bug; the node checks them at start.
    public func validate() -> [String] {
        var problems: [String] = []
        let positive: [(String, Int)] = [
            ("nameBytesMax", nameBytesMax), ("argumentDepthMax", argumentDepthMax),
            ("argumentEntriesMax", argumentEntriesMax), ("publisherTokenBytesMax", publisherTokenBytesMax), ("messageBodyBytesMax", messageBodyBytesMax),
            ("vhostsMax", vhostsMax), ("usersMax", usersMax), ("userTagsMax", userTagsMax),
            ("permissionPatternBytesMax", permissionPatternBytesMax), ("exchangesMax", exchangesMax), ("queuesMax", queuesMax),
            ("bindingsMax", bindingsMax), ("queueMessagesMax", queueMessagesMax), ("delayedMessagesMax", delayedMessagesMax),
            ("deduplicationCacheEntriesMax", deduplicationCacheEntriesMax),
            ("commandMessagesMax", commandMessagesMax), ("commandMessageIDsMax", commandMessageIDsMax),
            ("commandQueuesMax", commandQueuesMax), ("deadLetterHopsMax", deadLetterHopsMax),
            ("deadLetterRetryMessagesMax", deadLetterRetryMessagesMax),
            ("deliveriesPerDispatchMax", deliveriesPerDispatchMax), ("consumersPerChannelMax", consumersPerChannelMax),
            ("storeSegmentBytes", storeSegmentBytes), ("unackedPerChannelMax", unackedPerChannelMax),
        ]
        if deadLetterRetryMessagesMax > commandMessagesMax {
            problems.append("deadLetterRetryMessagesMax must be at most commandMessagesMax, is \(deadLetterRetryMessagesMax)")
        }
        for (name, value) in positive where value <= 0 { problems.append("\(name) must be positive, is \(value)") }
        if nameBytesMax > 255 { problems.append("nameBytesMax must be at most 255 (AMQP short strings), is \(nameBytesMax)") }
        return problems
    }
}
