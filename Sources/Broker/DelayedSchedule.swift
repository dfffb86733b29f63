/// Every held delayed message of the state, in the order they fire (`DelayedMessage.Key`),
/// in chunks of at most `chunkCapacity`: an insert is a binary search and a move within
/// one chunk, taking the next due message is constant time, and the order is the same on
/// every replica however it was built (a snapshot's record transfer walks it).
///
/// Chunks are values of their own, so a copy (a snapshot being written) shares them and a
/// change copies only the chunk it touches.
struct DelayedSchedule: Sendable {
    static let chunkCapacity = 256

    private struct Chunk: Sendable {
        /// In key order; slots before `head` have fired.
        var messages: [DelayedMessage]
        var head = 0

        var liveCount: Int { messages.count - head }
        var first: DelayedMessage { messages[head] }
        var last: DelayedMessage { messages[messages.count - 1] }

        /// The first live slot whose key is not below `key`.
        func lowerBound(_ key: DelayedMessage.Key) -> Int {
            var low = head
            var high = messages.count
            while low < high {
                let mid = (low + high) / 2
                if messages[mid].key < key { low = mid + 1 } else { high = mid }
            }
            return low
        }
    }

    private var chunks: [Chunk] = []
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    /// The message that fires next.
    var first: DelayedMessage? { chunks.first?.first }

    mutating func insert(_ message: DelayedMessage) {
        count += 1
        let key = message.key
        guard !chunks.isEmpty else {
            chunks = [Chunk(messages: [message])]
            return
        }
        // The last chunk whose first key is below the new one (or the first chunk).
        var low = 0
        var high = chunks.count
        while low < high {
            let mid = (low + high) / 2
            if chunks[mid].first.key < key { low = mid + 1 } else { high = mid }
        }
        let index = Swift.max(low - 1, 0)
        let slot = chunks[index].lowerBound(key)
        precondition(slot == chunks[index].messages.count || chunks[index].messages[slot].key != key, "a delayed message held twice")
        chunks[index].messages.insert(message, at: slot)
        if chunks[index].liveCount > Self.chunkCapacity {
            let live = chunks[index].messages[chunks[index].head...]
            let middle = live.startIndex + live.count / 2
            chunks[index] = Chunk(messages: Array(live[..<middle]))
            chunks.insert(Chunk(messages: Array(live[middle...])), at: index + 1)
        }
    }

    /// Takes the message that fires next.
    mutating func removeFirst() -> DelayedMessage? {
        guard !chunks.isEmpty else { return nil }
        let message = chunks[0].first
        chunks[0].head += 1
        if chunks[0].liveCount == 0 { chunks.removeFirst() }
        count -= 1
        return message
    }

    /// Removes every message `shouldRemove` picks; returns how many.
    mutating func removeAll(where shouldRemove: (DelayedMessage) -> Bool) -> Int {
        let before = count
        chunks = chunks.compactMap { chunk in
            let kept = chunk.messages[chunk.head...].filter { !shouldRemove($0) }
            return kept.isEmpty ? nil : Chunk(messages: kept)
        }
        count = chunks.reduce(0) { $0 + $1.liveCount }
        return before - count
    }

    /// Up to `limit` messages in firing order, from the first whose key is above `key` (from
    /// the start without one).
    func messages(after key: DelayedMessage.Key?, limit: Int) -> [DelayedMessage] {
        var result: [DelayedMessage] = []
        guard limit > 0 else { return result }
        var index = 0
        var slot = chunks.first?.head ?? 0
        if let key {
            // The first chunk whose last key is above `key`.
            var low = 0
            var high = chunks.count
            while low < high {
                let mid = (low + high) / 2
                if chunks[mid].last.key <= key { low = mid + 1 } else { high = mid }
            }
            index = low
            if index < chunks.count {
                slot = chunks[index].lowerBound(key)
                if slot < chunks[index].messages.count, chunks[index].messages[slot].key == key { slot += 1 }
            }
        }
        while index < chunks.count {
            for message in chunks[index].messages[Swift.max(slot, chunks[index].head)...] {
                result.append(message)
                if result.count == limit { return result }
            }
            index += 1
            slot = 0
        }
        return result
    }

    /// Visits every message in firing order.
    func forEach(_ body: (DelayedMessage) throws -> Void) rethrows {
        for chunk in chunks {
            for message in chunk.messages[chunk.head...] { try body(message) }
        }
    }
}
