public struct PublishOutcome: Equatable, Sendable {
    public var publisherToken: [UInt8]
    public var stored: [StoredCopy]
    /// Queues that refused it (`reject-publish`, `reject-publish-dlx`, or full to
    /// `queueMessagesMax`).
    public var rejected: [QueueName]

    public init(publisherToken: [UInt8], stored: [StoredCopy], rejected: [QueueName]) {
        self.publisherToken = publisherToken
        self.stored = stored
        self.rejected = rejected
    }

    /// RabbitMQ nacks a publish that at least one queue refused; otherwise it confirms.
    public var shouldConfirm: Bool { rejected.isEmpty }
}
