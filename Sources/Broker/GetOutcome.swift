/// The answer to a basic.get.
public struct GetOutcome: Equatable, Sendable {
    /// Nil: get-empty.
    public var delivery: Delivery?
    /// Messages left ready in the queue (get-ok's message-count).
    public var messageCount: Int
    /// To propose: the settle of a no-ack get, expiry of messages found expired.
    public var proposals: [BrokerCommand]
}
