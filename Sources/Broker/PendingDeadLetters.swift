/// A message a queue with at-least-once dead-lettering (`QueueSettings.deadLettersAtLeastOnce`)
/// dead-lettered and some target has not taken yet: the dead-letter exchange is missing or
/// routes nowhere, or a queue it routes to refused the copy (full, say). The message stays
/// in its source queue, out of delivery and counted against its limits, until a retry
/// stores it in every queue it routes to.
public struct PendingDeadLetter: Equatable, Sendable {
    public var reason: DeadLetterReason
    /// The leader's timestamp when it was dead-lettered: its `x-death` time on every retry.
    public var deadAt: Int64
    /// Queues that hold a copy already: a retry routes again and skips these, so a message
    /// reaches each target once however often it is retried.
    public var forwardedTo: [QueueName]

    public init(reason: DeadLetterReason, deadAt: Int64, forwardedTo: [QueueName] = []) {
        self.reason = reason
        self.deadAt = deadAt
        self.forwardedTo = forwardedTo
    }
}

/// A queue's pending dead letters, oldest first: a retry takes them from the front and puts
/// those still pending at the back, so one that can never be forwarded does not keep the
/// rest from being tried. Entries leave only when forwarded (or with their queue).
struct PendingDeadLetters: Sendable {
    private var entries: [MessageID: PendingDeadLetter] = [:]
    /// Ids in the order they are tried; `order[..<head]` are taken already.
    private var order: [MessageID] = []
    private var head = 0

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }

    subscript(id: MessageID) -> PendingDeadLetter? { entries[id] }

    /// Every entry in the order they are tried.
    var all: [(id: MessageID, pending: PendingDeadLetter)] {
        order[head...].compactMap { id in entries[id].map { (id, $0) } }
    }

    /// Adds at the back. Returns false, changing nothing, for an id already pending.
    @discardableResult
    mutating func append(_ id: MessageID, _ pending: PendingDeadLetter) -> Bool {
        guard entries[id] == nil else { return false }
        entries[id] = pending
        order.append(id)
        return true
    }

    /// Up to `limit` ids from the front, in the order `takeFront` takes them.
    func front(_ limit: Int) -> [MessageID] {
        var ids: [MessageID] = []
        var index = head
        while ids.count < limit, index < order.count {
            if entries[order[index]] != nil { ids.append(order[index]) }
            index += 1
        }
        return ids
    }

    /// Forgets an entry (its message left the queue); its place in the order is skipped.
    mutating func remove(_ id: MessageID) { entries[id] = nil }

    /// Takes up to `limit` from the front, for a retry: each must go back with `append` or
    /// be forwarded.
    mutating func takeFront(_ limit: Int) -> [(id: MessageID, pending: PendingDeadLetter)] {
        var taken: [(id: MessageID, pending: PendingDeadLetter)] = []
        while taken.count < limit, head < order.count {
            let id = order[head]
            head += 1
            if let pending = entries.removeValue(forKey: id) { taken.append((id, pending)) }
        }
        if head > 1_024, head * 2 > order.count {
            order.removeSubrange(..<head)
            head = 0
        }
        return taken
    }
}
