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

    init(for queue: Queue, lastUsed: Int64) {
        cursor = Array(repeating: 0, count: queue.priorityLevels)
        returned = Array(repeating: [], count: queue.priorityLevels)
        servesReturnsFirst = queue.settings.servesReturnsFirst
        self.lastUsed = lastUsed
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
            if !out.contains(message.id) { return message }
            from = message.id + 1
        }
        return nil
    }

    /// Takes the message `peek` returned: it is out from now on.
    mutating func take(_ message: QueuedMessage) {
        let level = Int(message.priority)
        guard level < cursor.count else { return }
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
        guard level < cursor.count, message.id < cursor[level], !out.contains(message.id) else { return }
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
        if inReturns.remove(id) != nil, let index = returns.firstIndex(of: id) { returns.remove(at: index) }
        for level in returned.indices where !returned[level].isEmpty {
            let index = returned[level].partitionIndex { $0 >= id }
            if index < returned[level].count, returned[level][index] == id { returned[level].remove(at: index) }
        }
    }
}
