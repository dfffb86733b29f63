public enum BrokerReply: Equatable, Sendable {
    case vhostDeclared
    case vhostDeleted
    case exchangeDeclared
    case exchangeDeleted
    /// `messageCount` counts every held message; the node subtracts those its dispatcher
    /// has out, and adds the consumer count, which only it knows.
    case queueDeclared(QueueName, messageCount: Int)
    case queueDeleted(messageCount: Int)
    case bound
    case unbound
    case purged(messageCount: Int)
    case ownedQueuesDeleted([QueueName])
    case userPut
    case userDeleted
    case permissionSet
    case permissionCleared
    case limitSet
    case limitCleared
    /// The users a seed added (none if the cluster was seeded before).
    case usersSeeded(added: [String])
    /// An `enqueue` proposed on its own (a publish through the HTTP API): its first
    /// message's outcome.
    case enqueued(PublishOutcome)
}
