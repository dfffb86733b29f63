/// What goes in the log: one command per entry, applied by every replica in log order.
/// Everything a command's outcome depends on is inside it (the leader's timestamp, the
/// routing outcome, the leader's view of which queues are in use), so applying it is
/// deterministic. `encoded()` and `init(decoding:)` are its log format.
public enum BrokerCommand: Equatable, Sendable {
    case declareVHost(name: String)
    /// Deletes the vhost with everything in it.
    case deleteVHost(name: String)
    case declareExchange(ExchangeDeclaration)
    case deleteExchange(ExchangeDeletion)
    case declareQueue(QueueDeclaration)
    case deleteQueue(QueueDeletion)
    case bind(BindingChange)
    case unbind(BindingChange)
    /// Removes the queue's messages except those the leader has out at consumers.
    case purge(QueuePurge)
    /// Published messages with the queues the leader routed each to.
    case enqueue(Enqueue)
    /// Acknowledged messages leave their queue.
    case settle(MessageBatch)
    /// Messages come back: nack or reject with requeue, recover, or their channel closed.
    /// Raises their delivery count; past `x-delivery-limit` they are dead-lettered.
    /// `deliveryFailed`: a reject, a closed channel or a consumer timeout, not a nack or a
    /// recover (RabbitMQ 4.3's distinction, which decides a delayed retry's kind).
    case requeue(MessageBatch, timestamp: Int64, deliveryFailed: Bool)
    /// Messages refused without requeue: dead-lettered (reason `rejected`) or dropped.
    case reject(MessageBatch, timestamp: Int64)
    /// The leader's expiry sweep: messages whose TTL ran out, and `x-expires` queues unused.
    case expire(Expiry)
    /// The leader's sweep of `x-delayed-message` exchanges: held messages now due are routed.
    case fireDelayed(DelayedFiring)
    /// The leader's retry of at-least-once dead letters that a target has not taken yet.
    case retryDeadLetters(DeadLetterRetry)
    /// Deletes the exclusive queues of a connection that closed.
    case deleteQueuesOwned(by: String)
    /// Adds a user or replaces its password hash and tags.
    case putUser(User)
    /// Deletes a user and its permissions.
    case deleteUser(name: String)
    case setPermission(vhost: String, user: String, Permission)
    case clearPermission(vhost: String, user: String)
    /// A node's initial users; only the first seed a cluster applies counts.
    case seedUsers([User])
    /// Sets one of a vhost's or a user's limits (negative: no limit).
    case setLimit(LimitSubject, ResourceLimit, value: Int64)
    case clearLimit(LimitSubject, ResourceLimit)
}
