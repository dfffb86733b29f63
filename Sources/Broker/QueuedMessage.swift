/// One message as a queue holds it in memory: where its record lies in the queue's store,
/// and what routing and delivery need. The message itself (exchange, routing key,
/// properties, body) is on disk, read back when it is delivered; 40 bytes stay here.
public struct QueuedMessage: Equatable, Sendable {
    public let id: MessageID
    /// Where its record starts in its queue's store.
    public let position: UInt64
    /// `expiresAt`, or `Int64.max` for none: an optional would cost another eight bytes.
    private var expiry: Int64
    /// The record's length; zero marks a removed message (a hole) inside a `MessageRun`.
    private(set) var recordLength: UInt32
    /// The body's length, counted against `x-max-length-bytes`.
    public let bodyLength: UInt32
    /// Times it came back unsettled (nack/reject with requeue, or its channel closed).
    public var deliveryCount: UInt32
    /// The priority it is served at (`QueueSettings.servedPriority`).
    public let priority: UInt8
    /// Whether it is known to have been handed out before: a requeue set it. After a leader
    /// change the dispatcher also treats every message older than its start as handed out.
    public var redelivered: Bool
    /// Dead-lettered at least once and not yet taken by every target (the queue's pending
    /// dead letters): it stays only to be forwarded, and is never delivered.
    public internal(set) var isDeadLettered = false

    public init(
        id: MessageID, position: UInt64, recordBytes: Int, bodyBytes: Int, expiresAt: Int64?, deliveryCount: UInt32 = 0,
        redelivered: Bool = false, priority: UInt8 = 0
    ) {
        precondition(recordBytes > 0 && recordBytes <= Int(UInt32.max), "a record of \(recordBytes) bytes")
        self.id = id
        self.position = position
        expiry = expiresAt ?? .max
        recordLength = UInt32(recordBytes)
        bodyLength = UInt32(clamping: bodyBytes)
        self.deliveryCount = deliveryCount
        self.priority = priority
        self.redelivered = redelivered
    }

    /// When its TTL (the queue's `x-message-ttl` or its own `expiration`, the lower) runs out.
    public var expiresAt: Int64? {
        get { expiry == .max ? nil : expiry }
        set { expiry = newValue ?? .max }
    }

    public var recordBytes: Int { Int(recordLength) }

    /// The body bytes counted against `x-max-length-bytes`.
    public var bodyBytes: Int { Int(bodyLength) }

    public func isExpired(at now: Int64) -> Bool {
        expiry <= now
    }

    /// Its record in the store `store` (its queue's).
    public func location(in store: UInt64) -> RecordLocation {
        RecordLocation(store: store, position: position, bytes: recordLength)
    }

    var isHole: Bool { recordLength == 0 }

    mutating func makeHole() { recordLength = 0 }
}
