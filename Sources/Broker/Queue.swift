/// A queue and the messages it holds: every message routed to it and not yet settled,
/// whether or not the leader's dispatcher has it out at a consumer (that is leader-local).
public struct Queue: Sendable {
    public let name: QueueName
    public let durable: Bool
    /// The connection that owns an exclusive queue (an opaque id such as "node-1/conn-17").
    public let exclusiveOwner: String?
    public let autoDelete: Bool
    /// The arguments as declared, compared on redeclaration.
    public let arguments: ArgumentTable
    public let settings: QueueSettings
    /// The leader's timestamp of the latest declaration, the start of `x-expires` idleness.
    public internal(set) var lastDeclaredAt: Int64
    /// Messages held (ready and out), and their body bytes.
    public private(set) var messageCount = 0
    public private(set) var messageBytes = 0
    /// Messages that carry an expiry time; zero lets sweeps skip the queue.
    public private(set) var expiringCount = 0

    /// One run per priority level, index = priority.
    private var levels: [MessageRun]

    init(
        name: QueueName, durable: Bool, exclusiveOwner: String?, autoDelete: Bool, arguments: ArgumentTable,
        settings: QueueSettings, declaredAt: Int64
    ) {
        self.name = name
        self.durable = durable
        self.exclusiveOwner = exclusiveOwner
        self.autoDelete = autoDelete
        self.arguments = arguments
        self.settings = settings
        self.lastDeclaredAt = declaredAt
        levels = Array(repeating: MessageRun(), count: Int(settings.priorityMax ?? 0) + 1)
    }

    /// Number of priority levels: `x-max-priority` + 1, or 1.
    public var priorityLevels: Int { levels.count }

    /// The priority a message is served at in this queue.
    public func effectivePriority(of properties: BasicProperties) -> UInt8 {
        guard let max = settings.priorityMax else { return 0 }
        return Swift.min(properties.priority ?? 0, max)
    }

    public func message(_ id: MessageID) -> QueuedMessage? {
        for level in levels.indices.reversed() where !levels[level].isEmpty {
            if let message = levels[level].message(id) { return message }
        }
        return nil
    }

    /// The message served next: highest priority first, oldest first within a priority.
    public var head: QueuedMessage? {
        for level in levels.indices.reversed() {
            if let message = levels[level].first { return message }
        }
        return nil
    }

    /// The first message at `priority` whose id is at least `id`.
    public func firstMessage(priority: UInt8, atOrAfter id: MessageID) -> QueuedMessage? {
        guard Int(priority) < levels.count else { return nil }
        return levels[Int(priority)].first(atOrAfter: id)
    }

    /// The oldest message at `priority`.
    public func firstMessage(priority: UInt8) -> QueuedMessage? {
        guard Int(priority) < levels.count else { return nil }
        return levels[Int(priority)].first
    }

    /// Every message in delivery order. For tests, management and snapshots: O(n).
    public var messages: [QueuedMessage] {
        levels.indices.reversed().flatMap { levels[$0].all }
    }

    /// The ids of every message in delivery order.
    public var messageIDs: [MessageID] { messages.map(\.id) }

    mutating func append(_ message: QueuedMessage) {
        precondition(Int(message.priority) < levels.count, "priority \(message.priority) beyond the queue's \(levels.count) levels")
        levels[Int(message.priority)].append(message)
        messageCount += 1
        messageBytes += message.bodyBytes
        if message.expiresAt != nil { expiringCount += 1 }
    }

    mutating func remove(_ id: MessageID) -> QueuedMessage? {
        for level in levels.indices.reversed() where !levels[level].isEmpty {
            if let message = levels[level].remove(id) {
                messageCount -= 1
                messageBytes -= message.bodyBytes
                if message.expiresAt != nil { expiringCount -= 1 }
                return message
            }
        }
        return nil
    }

    /// Changes a message's delivery bookkeeping; body, priority and expiry stay.
    @discardableResult
    mutating func update(_ id: MessageID, _ change: (inout QueuedMessage) -> Void) -> Bool {
        for level in levels.indices.reversed() where !levels[level].isEmpty {
            if levels[level].update(id, change) { return true }
        }
        return false
    }

    /// Whether one more message of `bodyBytes` would pass `x-max-length` or `x-max-length-bytes`.
    func wouldOverflow(adding bodyBytes: Int) -> Bool {
        if let max = settings.lengthMax, Int64(messageCount) + 1 > max { return true }
        if let max = settings.lengthBytesMax, Int64(messageBytes) + Int64(bodyBytes) > max { return true }
        return false
    }

    var isOverLimit: Bool {
        if let max = settings.lengthMax, Int64(messageCount) > max { return true }
        if let max = settings.lengthBytesMax, Int64(messageBytes) > max { return true }
        return false
    }
}
