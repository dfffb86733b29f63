import AMQP
import DequeModule

/// What the relay knows of one client channel: enough to restore it on a new leader and to
/// translate the numbers that differ between the client's view and each session's.
struct RelayedChannel {
    enum Closing {
        /// The client sent channel.close; the leader's close-ok ends the channel.
        case byClient
        /// The leader sent channel.close; the client's close-ok goes to the leader.
        case byServer
        /// Closed toward the client with no channel at the leader; its close-ok ends it here.
        case locally
    }

    var closing: Closing?
    /// The leader of the current session answered channel.open.
    var openedUpstream = false
    var qos: [Bool: Method.Basic.Qos] = [:]
    var confirmSelected = false
    var transactional = false
    var transactionHasWork = false
    var consumers: [String: Method.Basic.Consume] = [:]
    /// The client's synchronous request that has no reply yet.
    var awaiting: Method?
    /// Replies to the methods that restored the channel: not the client's.
    var repliesToSwallow = 0
    /// A message over the size limit went to the leader without its body: body frames are
    /// dropped until the next method (the leader closes the channel meanwhile).
    var droppingOversizedBody = false

    /// Client delivery tag = offset + the session's; the offset is the last tag the client
    /// saw before the session began.
    var deliveryTagOffset: UInt64 = 0
    var lastDeliveryTag: UInt64 = 0
    /// Client publish sequence number = offset + the session's.
    var publishOffset: UInt64 = 0
    /// Publishes sent in confirm mode, numbered as the client numbers them.
    var publishesSent: UInt64 = 0
    /// The client's own count, including publishes still waiting for a leader.
    var confirmModeForClient = false
    var publishesFromClient: UInt64 = 0

    /// A content from the client being gathered.
    var incoming: GatheredContent?
    /// A content from the leader being gathered.
    var outgoing: GatheredContent?

    // The client's prefetch, kept here (see `RelayedChannel+Credit.swift`).

    /// The client's prefetch of each consumer that acknowledges and has one, from its creation:
    /// the relay holds it to that, while the leader lets it run `RelayCore.prefetchAhead` beyond.
    var clientPrefetch: [String: UInt16] = [:]
    /// The client prefetch of the basic.consume awaiting its consume-ok.
    var clientPrefetchOfConsumeAwaitingReply: UInt16 = 0
    /// Off once the channel is transactional or recovered: deliveries pass as they come.
    var holdsDeliveries = true
    /// Deliveries of this session that came ahead of the client's prefetch, in the leader's
    /// order: they go once the client settles what it has. At most the leader's prefetch
    /// beyond the client's, per consumer.
    var deliveriesHeld: Deque<HeldDelivery> = []
    /// How many of `deliveriesHeld` each consumer has.
    var heldByConsumer: [String: Int] = [:]
    /// The client's tags of deliveries to consumers in `clientPrefetch` that the client has
    /// and has not settled, ascending (deliveries reach the client in order).
    var deliveriesOut: Deque<DeliveryOut> = []
    /// How many of `deliveriesOut` each consumer has.
    var outByConsumer: [String: Int] = [:]
    /// The last delivery tag the client was given (a deliver or a get-ok): an ack of "all"
    /// (tag 0, multiple) means up to this one while deliveries are held.
    var lastTagToClient: UInt64 = 0

    mutating func clientTag(_ sessionTag: UInt64) -> UInt64 {
        let tag = deliveryTagOffset + sessionTag
        lastDeliveryTag = max(lastDeliveryTag, tag)
        return tag
    }

    /// The session's tag for a client tag; nil when the tag belongs to an earlier session,
    /// whose deliveries the new leader redelivers anyway. Tag 0 with `multiple` means all.
    func leaderTag(_ clientTag: UInt64, multiple: Bool) -> UInt64? {
        if clientTag == 0 && multiple { return 0 }
        return clientTag > deliveryTagOffset ? clientTag - deliveryTagOffset : nil
    }

    mutating func replied(_ reply: Method) {
        let prefetchOfConsume = clientPrefetchOfConsumeAwaitingReply
        clientPrefetchOfConsumeAwaitingReply = 0
        let request = awaiting
        awaiting = nil
        switch (request, reply) {
        case (.channel(.open)?, .channel(.openOk)):
            openedUpstream = true
        case (.basic(.consume(var consume))?, .basic(.consumeOk(let ok))):
            consume.consumerTag = ok.consumerTag
            consumers[ok.consumerTag] = consume
            if prefetchOfConsume > 0 { clientPrefetch[ok.consumerTag] = prefetchOfConsume }
        case (_, .tx(.selectOk)):
            transactional = true
        case (_, .tx(.commitOk)), (_, .tx(.rollbackOk)):
            transactionHasWork = false
        default:
            break
        }
    }
}
