/// The messages of one priority level of a queue, in increasing id order, in chunks of at
/// most `chunkCapacity`. Appends go to the last chunk; a removed message stays in its chunk
/// as a hole, which lookups skip, until its chunk empties (and goes) or turns mostly holes
/// (and is compacted). Lookups by id are two binary searches.
///
/// Chunks are values of their own, so that a copy of the run (a snapshot being written)
/// shares every chunk and a change copies only the chunk it touches.
struct MessageRun: Sendable {
    static let chunkCapacity = 1_024

    private struct Chunk: Sendable {
        /// Increasing ids, holes included; never empty.
        var messages: [QueuedMessage]
        var liveCount: Int
        /// Every slot before it is a hole.
        var head = 0

        var firstID: MessageID { messages[0].id }

        /// The slot of `id`, live or a hole.
        func slot(of id: MessageID) -> Int? {
            let index = lowerBound(id)
            return index < messages.count && messages[index].id == id ? index : nil
        }

        func lowerBound(_ id: MessageID) -> Int {
            var low = head
            var high = messages.count
            while low < high {
                let mid = (low + high) / 2
                if messages[mid].id < id { low = mid + 1 } else { high = mid }
            }
            return low
        }

        func firstLive(from start: Int) -> QueuedMessage? {
            var index = max(start, head)
            while index < messages.count {
                if !messages[index].isHole { return messages[index] }
                index += 1
            }
            return nil
        }

        mutating func removeHole(at slot: Int) {
            messages[slot].makeHole()
            liveCount -= 1
            while head < messages.count, messages[head].isHole { head += 1 }
            // Mostly holes: keep only the live messages (ids stay in order).
            if liveCount > 0, messages.count >= 64, liveCount * 4 < messages.count {
                messages = messages[head...].filter { !$0.isHole }
                head = 0
            }
        }
    }

    private var chunks: [Chunk] = []
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func append(_ message: QueuedMessage) {
        precondition(!message.isHole, "a hole appended")
        if let last = chunks.last?.messages.last {
            precondition(last.id < message.id, "message ids must increase within a run: \(message.id) after \(last.id)")
        }
        if chunks.isEmpty || chunks[chunks.count - 1].messages.count >= Self.chunkCapacity {
            chunks.append(Chunk(messages: [message], liveCount: 1))
        } else {
            chunks[chunks.count - 1].messages.append(message)
            chunks[chunks.count - 1].liveCount += 1
        }
        count += 1
    }

    /// The next message in FIFO order.
    var first: QueuedMessage? {
        for chunk in chunks {
            if let message = chunk.firstLive(from: chunk.head) { return message }
        }
        return nil
    }

    /// The first message whose id is `id` or greater.
    func first(atOrAfter id: MessageID) -> QueuedMessage? {
        var index = chunkIndex(for: id) ?? 0
        while index < chunks.count {
            if let message = chunks[index].firstLive(from: chunks[index].lowerBound(id)) { return message }
            index += 1
        }
        return nil
    }

    /// Up to `limit` live messages in id order, from the first whose id is `id` or greater.
    func messages(atOrAfter id: MessageID, limit: Int) -> [QueuedMessage] {
        var result: [QueuedMessage] = []
        guard limit > 0 else { return result }
        result.reserveCapacity(Swift.min(limit, count))
        var index = chunkIndex(for: id) ?? 0
        var slot = index < chunks.count ? chunks[index].lowerBound(id) : 0
        while index < chunks.count {
            let chunk = chunks[index]
            for message in chunk.messages[Swift.max(slot, chunk.head)...] where !message.isHole {
                result.append(message)
                if result.count == limit { return result }
            }
            index += 1
            slot = 0
        }
        return result
    }

    func message(_ id: MessageID) -> QueuedMessage? {
        guard let (chunk, slot) = locate(id) else { return nil }
        return chunks[chunk].messages[slot]
    }

    func contains(_ id: MessageID) -> Bool { locate(id) != nil }

    /// Changes a stored message in place; its id and record must stay. Returns false if it
    /// is absent.
    @discardableResult
    mutating func update(_ id: MessageID, _ change: (inout QueuedMessage) -> Void) -> Bool {
        guard let (chunk, slot) = locate(id) else { return false }
        var message = chunks[chunk].messages[slot]
        change(&message)
        precondition(message.id == id && message.position == chunks[chunk].messages[slot].position && !message.isHole,
                     "a stored message's id and record never change")
        chunks[chunk].messages[slot] = message
        return true
    }

    mutating func remove(_ id: MessageID) -> QueuedMessage? {
        guard let (chunk, slot) = locate(id) else { return nil }
        let message = chunks[chunk].messages[slot]
        chunks[chunk].removeHole(at: slot)
        if chunks[chunk].liveCount == 0 { chunks.remove(at: chunk) }
        count -= 1
        return message
    }

    /// Every live message in id order. O(n): for tests, management and snapshots.
    var all: [QueuedMessage] {
        var result: [QueuedMessage] = []
        result.reserveCapacity(count)
        forEach { result.append($0) }
        return result
    }

    /// Visits every live message in id order.
    func forEach(_ body: (QueuedMessage) throws -> Void) rethrows {
        for chunk in chunks {
            for message in chunk.messages[chunk.head...] where !message.isHole { try body(message) }
        }
    }

    /// The chunk holding `id`, live or a hole.
    private func locate(_ id: MessageID) -> (chunk: Int, slot: Int)? {
        guard let chunk = chunkIndex(for: id), let slot = chunks[chunk].slot(of: id), !chunks[chunk].messages[slot].isHole else {
            return nil
        }
        return (chunk, slot)
    }

    /// The last chunk whose first id is at most `id`, if any.
    private func chunkIndex(for id: MessageID) -> Int? {
        var low = 0
        var high = chunks.count
        while low < high {
            let mid = (low + high) / 2
            if chunks[mid].firstID <= id { low = mid + 1 } else { high = mid }
        }
        return low == 0 ? nil : low - 1
    }
}
