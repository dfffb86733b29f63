import AMQP

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
        let request = awaiting
        awaiting = nil
        switch (request, reply) {
        case (.channel(.open)?, .channel(.openOk)):
            openedUpstream = true
        case (.basic(.consume(var consume))?, .basic(.consumeOk(let ok))):
            consume.consumerTag = ok.consumerTag
            consumers[ok.consumerTag] = consume
        case (_, .tx(.selectOk)):
            transactional = true
        case (_, .tx(.commitOk)), (_, .tx(.rollbackOk)):
            transactionHasWork = false
        default:
            break
        }
    }
}
