/// The dispatcher's view of one queue: its consumers and which of its messages are out.
/// Messages below a level's cursor have been handed out (or found expired) by this
/// dispatcher; those that came back wait in `returned`, served before anything past the
/// cursor, so a requeued message goes out again first.
struct QueueDispatch: Sendable {
    struct ConsumerKey: Hashable, Sendable {
        var channel: ChannelID
        var tag: String
    }

    /// In registration order; with single active consumer, the first is the active one.
    var consumers: [ConsumerKey] = []
    var hasExclusiveConsumer = false
    /// Some consumer has an `x-priority` other than 0: picking one weighs every consumer.
    var hasConsumerPriorities = false
    /// Round-robin position in `consumers`.
    var nextConsumer = 0
    /// Per priority level: every id below has been taken by this dispatcher.
    var cursor: [MessageID]
    /// Per priority level, ascending: ids below the cursor that are ready again.
    var returned: [[MessageID]]
    /// Taken and not back: out at a consumer, or settled, rejected or expiring but not yet
    /// applied. Never delivered while here.
    var out: Set<MessageID> = []
    /// The leader's clock when a consumer or a get last used the queue.
    var lastUsed: Int64

    init(levels: Int, lastUsed: Int64) {
        cursor = Array(repeating: 0, count: levels)
        returned = Array(repeating: [], count: levels)
        self.lastUsed = lastUsed
    }

    /// The next message to hand out, without taking it: returned ones first, then past the
    /// cursor; higher priority first.
    func peek(in queue: Queue) -> QueuedMessage? {
        for level in stride(from: cursor.count - 1, through: 0, by: -1) {
            if let message = peek(in: queue, level: level) { return message }
        }
        return nil
    }

    /// The next message of one priority level.
    func peek(in queue: Queue, level: Int) -> QueuedMessage? {
        guard level < cursor.count else { return nil }
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
        if let index = returned[level].firstIndex(of: message.id) {
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
        let index = returned[level].partitionIndex { $0 >= message.id }
        if index < returned[level].count, returned[level][index] == message.id { return }
        returned[level].insert(message.id, at: index)
    }

    /// A message left the queue.
    mutating func forget(_ id: MessageID) {
        out.remove(id)
        for level in returned.indices where !returned[level].isEmpty {
            let index = returned[level].partitionIndex { $0 >= id }
            if index < returned[level].count, returned[level][index] == id { returned[level].remove(at: index) }
        }
    }
}
