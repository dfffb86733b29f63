/// A queue and the messages it holds: every message routed to it and not yet settled,
/// whether or not the leader's dispatcher has it out at a consumer (that is leader-local).
/// Their records are in the queue's store (`storeID`), appended at `storeCursor`.
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
    /// Names the queue's store of message records: the log index of the entry that declared
    /// the queue, so that a queue deleted and declared again gets a store of its own.
    public let storeID: UInt64
    /// Where the next record goes in the store.
    public private(set) var storeCursor: UInt64 = 0
    /// Messages held (ready, out, and dead-lettered but not yet forwarded), and their body
    /// bytes: what the length limits weigh.
    public private(set) var messageCount = 0
    public private(set) var messageBytes = 0
    /// The bytes of their records in the store.
    public private(set) var recordBytes = 0
    /// Messages that carry an expiry time; zero lets sweeps skip the queue.
    public private(set) var expiringCount = 0

    /// One run per priority level, index = priority.
    private var levels: [MessageRun]
    /// With `x-message-deduplication`: the `x-deduplication-header` of every message held
    /// that has one, both ways.
    private var deduplicationIDs: [ArgumentValue: MessageID] = [:]
    private(set) var deduplicationKeys: [MessageID: ArgumentValue] = [:]
    /// A stream's offsets and timestamps (see Queue+Stream); nil for other queue types.
    public internal(set) var stream: StreamLog?
    /// When each message held back is ready: after a delayed retry, the return's timestamp
    /// plus its delay; published to a quorum queue with a delivery time, that time. Only
    /// messages the queue holds have an entry, so it is bounded by the queue's messages; an
    /// entry whose time has passed is harmless and goes when its message is returned again or
    /// leaves.
    public private(set) var heldUntil: [MessageID: Int64] = [:]
    /// Messages dead-lettered at least once that a target has yet to take: still held (in
    /// their level, marked `isDeadLettered`, counted in `messageCount`), never delivered.
    private(set) var pendingDeadLetters = PendingDeadLetters()

    init(
        name: QueueName, durable: Bool, exclusiveOwner: String?, autoDelete: Bool, arguments: ArgumentTable,
        settings: QueueSettings, declaredAt: Int64, storeID: UInt64, storeCursor: UInt64 = 0
    ) {
        self.name = name
        self.storeID = storeID
        self.storeCursor = storeCursor
        self.durable = durable
        self.exclusiveOwner = exclusiveOwner
        self.autoDelete = autoDelete
        self.arguments = arguments
        self.settings = settings
        self.lastDeclaredAt = declaredAt
        levels = Array(repeating: MessageRun(), count: settings.priorityLevels)
        if settings.queueType == .stream { stream = StreamLog() }
    }

    /// Dead-lettered messages not yet forwarded to every target (`pendingDeadLetters`).
    public var pendingDeadLetterCount: Int { pendingDeadLetters.count }
    public private(set) var pendingDeadLetterBytes = 0

    /// Messages that are ready or out: those held less the pending dead letters.
    public var deliverableCount: Int { messageCount - pendingDeadLetters.count }

    /// A pending dead letter's state, nil for any other message.
    public func pendingDeadLetter(_ id: MessageID) -> PendingDeadLetter? { pendingDeadLetters[id] }

    /// The pending dead letters in the order retries take them.
    public var pendingDeadLetterEntries: [(id: MessageID, pending: PendingDeadLetter)] { pendingDeadLetters.all }

    /// Number of priority levels (`QueueSettings.priorityLevels`).
    public var priorityLevels: Int { levels.count }

    /// The messages of one priority level.
    func level(_ priority: Int) -> MessageRun { levels[priority] }

    /// The priority a message is served at in this queue.
    public func effectivePriority(of properties: BasicProperties) -> UInt8 {
        settings.servedPriority(properties.priority)
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

    /// Up to `limit` messages at `priority`, oldest first, from the first whose id is at least `id`.
    public func messages(priority: UInt8, atOrAfter id: MessageID, limit: Int) -> [QueuedMessage] {
        guard Int(priority) < levels.count else { return [] }
        return levels[Int(priority)].messages(atOrAfter: id, limit: limit)
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

    /// Visits every message, priority level by level (highest first), oldest first within one.
    public func forEachMessage(_ body: (QueuedMessage) throws -> Void) rethrows {
        for level in levels.indices.reversed() { try levels[level].forEach(body) }
    }

    /// A message's record in this queue's store.
    public func location(of message: QueuedMessage) -> RecordLocation {
        message.location(in: storeID)
    }

    /// Where a record of `bytes` goes in a store whose cursor is at `cursor`, and where the
    /// cursor is after it. Records never straddle the boundary of a segment (a file of
    /// `segmentBytes`): one that would starts at the next. One larger than a segment starts
    /// at a boundary and has its segments to itself, its file growing past the size.
    public static func place(bytes: Int, at cursor: UInt64, segmentBytes: Int) -> (position: UInt64, next: UInt64) {
        let size = UInt64(bytes)
        let segment = UInt64(segmentBytes)
        let offset = cursor % segment
        let position = offset != 0 && offset + size > segment ? cursor - offset + segment : cursor
        var next = position + size
        if size > segment, next % segment != 0 { next += segment - next % segment }
        return (position, next)
    }

    /// Appends a message whose record of `recordBytes` is to be written at the store's
    /// cursor; returns it as stored.
    mutating func append(
        id: MessageID, recordBytes: Int, bodyBytes: Int, expiresAt: Int64?, priority: UInt8, segmentBytes: Int
    ) -> QueuedMessage {
        let (position, next) = Self.place(bytes: recordBytes, at: storeCursor, segmentBytes: segmentBytes)
        let message = QueuedMessage(
            id: id, position: position, recordBytes: recordBytes, bodyBytes: bodyBytes, expiresAt: expiresAt, priority: priority)
        storeCursor = next
        append(message)
        return message
    }

    /// Whether a message the queue holds has this `x-deduplication-header`.
    public func holdsDuplicate(of key: ArgumentValue) -> Bool { deduplicationIDs[key] != nil }

    /// Names a message held by its `x-deduplication-header`, until it leaves. Returns false,
    /// changing nothing, when the message is not held or the key or message already named.
    @discardableResult
    mutating func name(_ id: MessageID, deduplicationKey key: ArgumentValue) -> Bool {
        guard message(id) != nil, deduplicationIDs[key] == nil, deduplicationKeys[id] == nil else { return false }
        deduplicationIDs[key] = id
        deduplicationKeys[id] = key
        return true
    }

    /// Holds a message back until `readyAt` (nil: ready now). Returns false, changing
    /// nothing, when the queue does not hold it.
    @discardableResult
    mutating func holdBack(_ id: MessageID, until readyAt: Int64?) -> Bool {
        guard message(id) != nil else { return false }
        heldUntil[id] = readyAt
        return true
    }

    /// Keeps a message that left for its dead-letter exchange and was not taken by every
    /// target: it stays, out of delivery, until a retry finds every target holds a copy and
    /// `remove`s it (or puts it back at the end with this). Returns false, changing nothing,
    /// when the queue does not hold it.
    @discardableResult
    mutating func keepDeadLettered(_ id: MessageID, _ pending: PendingDeadLetter) -> Bool {
        var found = false
        for level in levels.indices.reversed() where !levels[level].isEmpty {
            if levels[level].update(id, { message in
                found = true
                if !message.isDeadLettered { pendingDeadLetterBytes += message.bodyBytes }
                message.isDeadLettered = true
            }) { break }
        }
        guard found else { return false }
        if !heldUntil.isEmpty { heldUntil[id] = nil }
        pendingDeadLetters.append(id, pending)
        return true
    }

    /// How many pending dead letters, oldest first, a retry takes: at most `messagesMax`,
    /// their records within `recordBytesMax` (the first one regardless when `first`).
    func pendingDeadLettersFitting(messagesMax: Int, recordBytesMax: Int, first: Bool) -> Int {
        var bytes = 0
        var count = 0
        for id in pendingDeadLetters.front(messagesMax) {
            let recordBytes = message(id)?.recordBytes ?? 0
            guard bytes + recordBytes <= recordBytesMax || (first && count == 0) else { break }
            bytes += recordBytes
            count += 1
        }
        return count
    }

    /// Takes up to `limit` pending dead letters, oldest first, for a retry: each then goes back
    /// with `keepDeadLettered` or leaves with `remove`.
    mutating func takePendingDeadLetters(_ limit: Int) -> [(id: MessageID, pending: PendingDeadLetter)] {
        pendingDeadLetters.takeFront(limit)
    }

    /// Takes a message back as a snapshot holds it; its record lies before the cursor.
    mutating func restore(_ message: QueuedMessage) {
        precondition(message.position + UInt64(message.recordBytes) <= storeCursor, "a record past the store's cursor")
        append(message)
    }

    private mutating func append(_ message: QueuedMessage) {
        precondition(Int(message.priority) < levels.count, "priority \(message.priority) beyond the queue's \(levels.count) levels")
        precondition(!message.isDeadLettered, "a dead-lettered message appended")
        levels[Int(message.priority)].append(message)
        messageCount += 1
        messageBytes += message.bodyBytes
        recordBytes += message.recordBytes
        if message.expiresAt != nil { expiringCount += 1 }
    }

    mutating func remove(_ id: MessageID) -> QueuedMessage? {
        for level in levels.indices.reversed() where !levels[level].isEmpty {
            if stream != nil, levels[level].first?.id != id { preconditionFailure("\(name) is a stream: \(id) removed before its head") }
            if let message = levels[level].remove(id) {
                stream?.removedHead(recordBytes: message.recordBytes)
                if !deduplicationKeys.isEmpty, let key = deduplicationKeys.removeValue(forKey: id) { deduplicationIDs[key] = nil }
                if !heldUntil.isEmpty { heldUntil[id] = nil }
                if message.isDeadLettered {
                    pendingDeadLetterBytes -= message.bodyBytes
                    pendingDeadLetters.remove(id)
                }
                messageCount -= 1
                messageBytes -= message.bodyBytes
                recordBytes -= message.recordBytes
                if message.expiresAt != nil { expiringCount -= 1 }
                return message
            }
        }
        return nil
    }

    /// Removes a message that is ready or out; a pending dead letter stays (it leaves only
    /// once forwarded).
    mutating func removeDeliverable(_ id: MessageID) -> QueuedMessage? {
        if !pendingDeadLetters.isEmpty, pendingDeadLetters[id] != nil { return nil }
        return remove(id)
    }

    /// Changes a message's delivery bookkeeping; record, priority and expiry stay.
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
