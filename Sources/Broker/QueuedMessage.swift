/// One message as a queue holds it, with what the replicated state knows of its life there.
public struct QueuedMessage: Equatable, Sendable {
    public let id: MessageID
    public var message: Message
    /// The leader's timestamp of the command that put it in this queue (ms since the epoch).
    public var enqueuedAt: Int64
    /// When its TTL (the queue's `x-message-ttl` or its own `expiration`, the lower) runs out.
    public var expiresAt: Int64?
    /// Times it came back unsettled (nack/reject with requeue, or its channel closed).
    public var deliveryCount: UInt32
    /// Whether it is known to have been handed out before: a requeue set it. After a leader
    /// change the dispatcher also treats every message older than its start as handed out.
    public var redelivered: Bool
    /// The priority it is served at: its own, capped at the queue's `x-max-priority`; 0 in
    /// queues without priorities.
    public var priority: UInt8

    public init(
        id: MessageID, message: Message, enqueuedAt: Int64, expiresAt: Int64?, deliveryCount: UInt32 = 0,
        redelivered: Bool = false, priority: UInt8 = 0
    ) {
        self.id = id
        self.message = message
        self.enqueuedAt = enqueuedAt
        self.expiresAt = expiresAt
        self.deliveryCount = deliveryCount
        self.redelivered = redelivered
        self.priority = priority
    }

    /// The body bytes counted against `x-max-length-bytes`.
    public var bodyBytes: Int { message.body.count }

    public func isExpired(at now: Int64) -> Bool {
        guard let expiresAt else { return false }
        return expiresAt <= now
    }
}
