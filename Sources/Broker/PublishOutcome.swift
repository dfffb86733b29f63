public struct PublishOutcome: Equatable, Sendable {
    public var publisherToken: [UInt8]
    public var stored: [StoredCopy]
    /// Queues that refused it (`reject-publish`, `reject-publish-dlx`, or full to
    /// `queueMessagesMax`).
    public var rejected: [QueueName]
    /// A delayed publish that could not be held: the exchange holds `delayedMessagesMax`.
    public var holdRefused: Bool

    public init(publisherToken: [UInt8], stored: [StoredCopy], rejected: [QueueName], holdRefused: Bool = false) {
        self.publisherToken = publisherToken
        self.stored = stored
        self.rejected = rejected
        self.holdRefused = holdRefused
    }

    /// RabbitMQ nacks a publish that at least one queue refused; otherwise it confirms.
    public var shouldConfirm: Bool { rejected.isEmpty && !holdRefused }
}
