import Broker

/// What the core tells a client connection. Every call happens on the core's event loop,
/// which the connections share.
protocol CoreClient: AnyObject {
    /// The publish with this delivery tag is confirmed (`ack`) or refused.
    func confirm(channel: UInt16, deliveryTag: UInt64, ack: Bool)
    /// A mandatory publish that no queue took.
    func returnUnroutable(channel: UInt16, message: Broker.Message)
    /// A delivery, with its message as read back from the store.
    func deliver(_ delivery: Delivery, message: Broker.Message)
    /// A direct reply, to the channel's reply consumer (never stored, so never redelivered).
    func deliverReply(_ reply: Dispatcher.ReplyDelivery, message: Broker.Message)
    /// The node's resource alarms changed: the reason while one is set, nil once clear.
    func resourceAlarm(_ reason: String?)
    /// The broker cancelled the consumer: its queue went away, or it kept a delivery past
    /// its timeout (a consumer cancel notification).
    func consumerCancelled(channel: UInt16, consumerTag: String)
    /// Whether the client said it takes consumer cancel notifications (its capabilities).
    var takesConsumerCancelNotices: Bool { get }
    /// The node can no longer serve the connection (it stopped leading, or it is shutting
    /// down): the connection closes with 320 CONNECTION_FORCED and this reason.
    func closeForced(_ reason: String)
    /// A channel must close, e.g. a delivery was not acknowledged in time.
    func closeChannel(_ channel: UInt16, error: BrokerError)
    /// Who the connection is, where, and how many channels it has open: what the vhosts'
    /// and users' limits count.
    var vhost: String { get }
    var user: String { get }
    var openChannels: Int { get }
    /// What the management API lists of it.
    var managementView: ClientConnectionView? { get }
    /// The management API's name of the client socket this is; nil for a session another
    /// node forwards (its client's socket is there) and before it opened.
    var socketName: String? { get }
}
