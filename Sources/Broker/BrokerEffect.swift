/// What applying a command produced. Metadata commands (vhosts, exchanges, queues,
/// bindings, purge, deleteQueuesOwned) produce exactly one `reply` or `failed`, first; the
/// message commands produce none. The rest follows in this order: per-message outcomes and
/// dead-letterings as they happened, then `ready` per queue, then `removed` per queue and
/// reason, then deleted exchanges and queues, then the records to write.
public enum BrokerEffect: Equatable, Sendable {
    case reply(BrokerReply)
    case failed(BrokerError)
    /// One per message of an `enqueue`, in order: confirm it, or nack it if any queue refused it.
    case published(PublishOutcome)
    /// Messages the dispatcher may now deliver: new, requeued, or dead-lettered into the queue.
    case ready(QueueName, [MessageID])
    /// Messages that left their queue (the dispatcher forgets them).
    case removed(QueueName, [MessageID], RemovalReason)
    case deadLettered(DeadLetter)
    /// Deleted by a command or by cascade (an auto-delete exchange that lost its last binding).
    case exchangeDeleted(ExchangeName)
    /// Its consumers are cancelled (basic.cancel to clients that asked for notifications).
    case queueDeleted(QueueName)
    /// Records of the messages the command stored, last, in the order made: the node MUST
    /// write them before it applies the next command, which may read them back.
    case write([RecordWrite])
}
