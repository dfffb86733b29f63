/// The leader's sweep of delayed messages: every held message due at `timestamp` fires, in
/// fire-time order (ties in publish order), up to the batch's bounds; the rest wait for the
/// next. Applying it twice fires nothing twice: a message fires once and is gone.
public struct DelayedFiring: Equatable, Sendable {
    /// The leader's clock (ms since the epoch): what is due, and the fired messages' enqueue
    /// time (their TTL starts then).
    public var timestamp: Int64
    /// At most this many messages fire, at most `commandMessagesMax`.
    public var messagesMax: Int
    /// Their records add up to at most this many bytes, unless the first alone is larger:
    /// bounds what one entry's apply reads from the store and writes to queues.
    public var recordBytesMax: Int

    public init(timestamp: Int64, messagesMax: Int, recordBytesMax: Int) {
        self.timestamp = timestamp
        self.messagesMax = messagesMax
        self.recordBytesMax = recordBytesMax
    }
}
