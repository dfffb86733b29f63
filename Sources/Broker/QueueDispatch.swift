/// The dispatcher's view of one queue: its consumers and which of its messages are out.
/// Messages below a level's cursor have been handed out (or found expired) by this
/// dispatcher; those that came back wait to go out again first: in a classic queue each in
/// `returned` of its level, by age, served before anything past that level's cursor; in a
/// quorum queue all in `returns`, in the order they came back, before any level.
struct QueueDispatch: Sendable {
    struct ConsumerKey: Hashable, Sendable {
        var channel: ChannelID
        var tag: String
    }

    /// In registration order.
    var consumers: [ConsumerKey] = []
    /// With single active consumer: the one served.
    var active: ConsumerKey?
    var hasExclusiveConsumer = false
    /// Some consumer has an `x-priority` other than 0: picking one weighs every consumer.
    var hasConsumerPriorities = false
    /// Round-robin position in `consumers`.
    var nextConsumer = 0
    /// Per priority level: every id below has been taken by this dispatcher.
    var cursor: [MessageID]
    /// Per priority level, ascending: ids below the cursor that are ready again (classic).
    var returned: [[MessageID]]
    /// Ids below their level's cursor that are ready again, in the order they came back (quorum).
    var returns: [MessageID] = []
    /// What `returns` holds, to look up without a scan.
    private var inReturns: Set<MessageID> = []
    let servesReturnsFirst: Bool
    /// Taken and not back: out at a consumer, or settled, rejected or expiring but not yet
    /// applied. Never delivered while here.
    var out: Set<MessageID> = []
    /// The leader's clock when a consumer or a get last used the queue.
    var lastUsed: Int64
    /// Messages held back (the queue's `heldUntil`: returned ones under delayed retry, new
    /// ones with a delivery time), earliest first: none is handed out before its time; then a
    /// returned one is ready as a return, a new one in its place in line. At most one entry
    /// per message the queue holds.
    private(set) var held: [HeldBack] = []
    private var heldIDs: Set<MessageID> = []

    struct HeldBack: Comparable, Sendable {
        var readyAt: Int64
        var id: MessageID

        static func < (a: HeldBack, b: HeldBack) -> Bool { (a.readyAt, a.id) < (b.readyAt, b.id) }
    }

    /// `queue` as replicated now: what it holds back is held here too, so that a new leader
    /// keeps to the times the old one's returns set.
    init(for queue: Queue, lastUsed: Int64) {
        cursor = Array(repeating: 0, count: queue.priorityLevels)
        returned = Array(repeating: [], count: queue.priorityLevels)
        servesReturnsFirst = queue.settings.servesReturnsFirst
        self.lastUsed = lastUsed
        held = queue.heldUntil.map { HeldBack(readyAt: $0.value, id: $0.key) }.sorted()
        heldIDs = Set(queue.heldUntil.keys)
        skipHeld(in: queue)
    }

    /// Moves each level's cursor past the held-back messages at it, so that a peek does not
    /// walk them again and again (a queue of a million messages held for their delivery time
    /// would cost a million steps a dispatch). Below the cursor a held message is what a
    /// returned one is: once released it is ready as a return.
    mutating func skipHeld(in queue: Queue) {
        guard !heldIDs.isEmpty else { return }
        for level in cursor.indices where !queue.level(level).isEmpty {
            while let message = queue.firstMessage(priority: UInt8(level), atOrAfter: cursor[level]), heldIDs.contains(message.id) {
                cursor[level] = message.id + 1
            }
        }
    }

    /// When the earliest message held back is ready.
    var nextReadyAt: Int64? { held.first?.readyAt }

    var heldCount: Int { held.count }

    /// Messages held back and not yet ready at `now`.
    func heldCount(after now: Int64) -> Int { held.count - held.partitionIndex { $0.readyAt > now } }

    /// A returned message is held back until `readyAt` instead of ready now.
    mutating func holdBack(_ id: MessageID, until readyAt: Int64) {
        unhold(id)
        if inReturns.remove(id) != nil, let index = returns.firstIndex(of: id) { returns.remove(at: index) }
        let entry = HeldBack(readyAt: readyAt, id: id)
        held.insert(entry, at: held.partitionIndex { $0 >= entry })
        heldIDs.insert(id)
    }

    /// Makes ready, in the order of their times, the messages held back until `now` or before.
    mutating func releaseHeld(readyBy now: Int64, in queue: Queue) {
        let due = held.partitionIndex { $0.readyAt > now }
        guard due > 0 else { return }
        let released = held[..<due]
        held.removeSubrange(..<due)
        for entry in released {
            heldIDs.remove(entry.id)
            if let message = queue.message(entry.id) { makeReady(message) }
        }
    }

    /// Up to `limit` messages held back whose TTL ran out by `now` (for the expiry sweep).
    func expiredHeld(in queue: Queue, at now: Int64, limit: Int) -> [QueuedMessage] {
        var found: [QueuedMessage] = []
        for entry in held.prefix(limit) {
            if let message = queue.message(entry.id), message.isExpired(at: now) { found.append(message) }
        }
        return found
    }

    private mutating func unhold(_ id: MessageID) {
        guard heldIDs.remove(id) != nil, let index = held.firstIndex(where: { $0.id == id }) else { return }
        held.remove(at: index)
    }

    /// The next message to hand out, without taking it: returned ones first, then past the
    /// cursor; higher priority first.
    func peek(in queue: Queue) -> QueuedMessage? {
        if let message = peekReturn(in: queue) { return message }
        for level in stride(from: cursor.count - 1, through: 0, by: -1) {
            if let message = peek(in: queue, level: level) { return message }
        }
        return nil
    }

    /// The quorum queue's next returned message.
    func peekReturn(in queue: Queue) -> QueuedMessage? {
        for id in returns {
            if let message = queue.message(id) { return message }
        }
        return nil
    }

    /// The next message of one priority level (not counting a quorum queue's returns).
    func peek(in queue: Queue, level: Int) -> QueuedMessage? {
        guard level < cursor.count, !queue.level(level).isEmpty else { return nil }
        for id in returned[level] {
            if let message = queue.message(id) { return message }
        }
        var from = cursor[level]
        while let message = queue.firstMessage(priority: UInt8(level), atOrAfter: from) {
            if !out.contains(message.id) && !heldIDs.contains(message.id) && !message.isDeadLettered { return message }
            from = message.id + 1
        }
        return nil
    }

    /// Takes the message `peek` returned: it is out from now on.
    mutating func take(_ message: QueuedMessage) {
        let level = Int(message.priority)
        guard level < cursor.count else { return }
        // Held back, it is in no line and the cursor may not have reached it: it only goes out.
        if heldIDs.contains(message.id) {
            unhold(message.id)
            out.insert(message.id)
            return
        }
        if inReturns.remove(message.id) != nil, let index = returns.firstIndex(of: message.id) {
            returns.remove(at: index)
        } else if let index = returned[level].firstIndex(of: message.id) {
            returned[level].remove(at: index)
        } else if message.id >= cursor[level] {
            cursor[level] = message.id + 1
        }
        out.insert(message.id)
    }

    /// A message is ready again (requeued): back in line unless it is out.
    mutating func makeReady(_ message: QueuedMessage) {
        let level = Int(message.priority)
        guard level < cursor.count, message.id < cursor[level], !out.contains(message.id), !message.isDeadLettered else { return }
        if servesReturnsFirst {
            if inReturns.insert(message.id).inserted { returns.append(message.id) }
            return
        }
        let index = returned[level].partitionIndex { $0 >= message.id }
        if index < returned[level].count, returned[level][index] == message.id { return }
        returned[level].insert(message.id, at: index)
    }

    /// A message left the queue.
    mutating func forget(_ id: MessageID) {
        out.remove(id)
        unhold(id)
        if inReturns.remove(id) != nil, let index = returns.firstIndex(of: id) { returns.remove(at: index) }
        for level in returned.indices where !returned[level].isEmpty {
            let index = returned[level].partitionIndex { $0 >= id }
            if index < returned[level].count, returned[level][index] == id { returned[level].remove(at: index) }
        }
    }
}
