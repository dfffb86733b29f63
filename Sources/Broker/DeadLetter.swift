/// A message left `source` for its dead-letter exchange and was stored as `copies` (none if
/// the exchange is gone, routes nowhere, or only back round an automatic cycle).
public struct DeadLetter: Equatable, Sendable {
    public var source: QueueName
    /// Nil for a publish refused by `reject-publish-dlx`, which was never stored.
    public var messageID: MessageID?
    public var reason: DeadLetterReason
    public var copies: [StoredCopy]
    /// With at-least-once dead-lettering: some target has yet to take it, so it stays in
    /// `source` for a retry (`copies` are those this attempt stored).
    public var pending: Bool

    public init(source: QueueName, messageID: MessageID?, reason: DeadLetterReason, copies: [StoredCopy], pending: Bool = false) {
        self.source = source
        self.messageID = messageID
        self.reason = reason
        self.copies = copies
        self.pending = pending
    }
}
