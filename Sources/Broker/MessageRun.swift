/// The messages of one priority level of a queue, in increasing id order. Appends go to the
/// end; removal anywhere leaves a hole that the head skips and that compaction reclaims once
/// holes outnumber live messages, so lookups by id stay a binary search.
struct MessageRun: Sendable {
    private var ids: [MessageID] = []
    private var slots: [QueuedMessage?] = []
    /// Every slot before `head` is a hole; `slots[head]` is live unless the run is empty.
    private var head = 0
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func append(_ message: QueuedMessage) {
        if let last = ids.last {
            precondition(last < message.id, "message ids must increase within a run: \(message.id) after \(last)")
        }
        ids.append(message.id)
        slots.append(message)
        count += 1
    }

    /// The next message in FIFO order.
    var first: QueuedMessage? { head < slots.count ? slots[head] : nil }

    /// The first message whose id is `id` or greater.
    func first(atOrAfter id: MessageID) -> QueuedMessage? {
        var index = lowerBound(id)
        while index < slots.count {
            if let message = slots[index] { return message }
            index += 1
        }
        return nil
    }

    func message(_ id: MessageID) -> QueuedMessage? {
        slotIndex(of: id).flatMap { slots[$0] }
    }

    func contains(_ id: MessageID) -> Bool { slotIndex(of: id) != nil }

    /// Changes a stored message in place; its id must stay. Returns false if it is absent.
    @discardableResult
    mutating func update(_ id: MessageID, _ change: (inout QueuedMessage) -> Void) -> Bool {
        guard let index = slotIndex(of: id), var message = slots[index] else { return false }
        slots[index] = nil
        change(&message)
        precondition(message.id == id, "a stored message's id never changes")
        slots[index] = message
        return true
    }

    mutating func remove(_ id: MessageID) -> QueuedMessage? {
        guard let index = slotIndex(of: id), let message = slots[index] else { return nil }
        slots[index] = nil
        count -= 1
        skipHoles()
        compactIfSparse()
        return message
    }

    /// Every live message in id order.
    var all: [QueuedMessage] {
        var result: [QueuedMessage] = []
        result.reserveCapacity(count)
        for case let message? in slots[head...] { result.append(message) }
        return result
    }

    private func lowerBound(_ id: MessageID) -> Int {
        var low = head
        var high = ids.count
        while low < high {
            let mid = (low + high) / 2
            if ids[mid] < id { low = mid + 1 } else { high = mid }
        }
        return low
    }

    private func slotIndex(of id: MessageID) -> Int? {
        let index = lowerBound(id)
        guard index < ids.count, ids[index] == id, slots[index] != nil else { return nil }
        return index
    }

    private mutating func skipHoles() {
        while head < slots.count, slots[head] == nil { head += 1 }
        if head == slots.count {
            ids.removeAll(keepingCapacity: ids.count <= 4_096)
            slots.removeAll(keepingCapacity: slots.count <= 4_096)
            head = 0
        }
    }

    private mutating func compactIfSparse() {
        let holes = slots.count - head - count
        let prefixIsLarge = head >= 1_024 && head * 2 >= slots.count
        guard prefixIsLarge || (holes >= 64 && holes > count) else { return }
        var newIDs: [MessageID] = []
        var newSlots: [QueuedMessage?] = []
        newIDs.reserveCapacity(count)
        newSlots.reserveCapacity(count)
        for case let message? in slots[head...] {
            newIDs.append(message.id)
            newSlots.append(message)
        }
        ids = newIDs
        slots = newSlots
        head = 0
    }
}
