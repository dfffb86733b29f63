import NIOCore

/// The publisher-confirm bookkeeping of one channel in confirm mode (a pure state
/// machine: no I/O, no clock; deadlines are passed in).
///
/// Each publish gets the next sequence number, starting at 1, which is the delivery tag
/// the broker's `basic.ack`/`basic.nack` refer to. Outstanding publishes are kept in tag
/// order, at most `windowSize` of them: the shell MUST NOT `register` while `isFull`.
/// An ack or nack with `multiple` settles every outstanding tag up to and including its
/// own (tag 0 with `multiple`: all of them); one without settles only its tag. Tags that are not outstanding (already settled,
/// expired, or never sent) are ignored.
struct ConfirmTracker<Token> {
    struct Entry {
        var deliveryTag: UInt64
        /// When the confirm is given up on (becomes indeterminate); nil for never.
        var deadline: NIODeadline?
        var token: Token
    }

    /// The most publishes awaiting their confirm.
    let windowSize: Int
    /// The delivery tag the next publish gets.
    private(set) var nextDeliveryTag: UInt64 = 1
    /// Outstanding publishes, tags ascending.
    private var outstanding: CircularBuffer<Entry>

    init(windowSize: Int) {
        precondition(windowSize > 0, "confirm window \(windowSize) must be at least 1")
        self.windowSize = windowSize
        self.outstanding = CircularBuffer(initialCapacity: min(windowSize, 1024))
    }

    var count: Int {
        self.outstanding.count
    }

    var isFull: Bool {
        self.outstanding.count >= self.windowSize
    }

    /// The earliest deadline of an outstanding publish. Deadlines are registered in
    /// non-decreasing order (one timeout per channel), so it is the oldest one's.
    var earliestDeadline: NIODeadline? {
        self.outstanding.first?.deadline
    }

    /// Records a publish and returns its delivery tag.
    mutating func register(_ token: Token, deadline: NIODeadline?) -> UInt64 {
        precondition(!self.isFull, "register with \(self.count) of \(self.windowSize) outstanding")
        if let deadline, let last = self.outstanding.last?.deadline {
            precondition(deadline >= last, "confirm deadlines must not decrease")
        }
        let tag = self.nextDeliveryTag
        self.nextDeliveryTag += 1
        self.outstanding.append(Entry(deliveryTag: tag, deadline: deadline, token: token))
        return tag
    }

    /// Removes and returns the publishes an ack or nack settles, tags ascending.
    mutating func settle(deliveryTag: UInt64, multiple: Bool) -> [Entry] {
        if multiple {
            let last = deliveryTag == 0 ? UInt64.max : deliveryTag
            var settled: [Entry] = []
            while let first = self.outstanding.first, first.deliveryTag <= last {
                settled.append(self.outstanding.removeFirst())
            }
            return settled
        }
        guard let index = self.index(of: deliveryTag) else {
            return []
        }
        return [self.outstanding.remove(at: index)]
    }

    /// Removes and returns the publishes whose deadline is at or before `now`.
    mutating func expire(now: NIODeadline) -> [Entry] {
        var expired: [Entry] = []
        while let first = self.outstanding.first, let deadline = first.deadline, deadline <= now {
            expired.append(self.outstanding.removeFirst())
        }
        return expired
    }

    /// Removes and returns every outstanding publish, tags ascending.
    mutating func removeAll() -> [Entry] {
        let all = Array(self.outstanding)
        self.outstanding.removeAll()
        return all
    }

    /// Binary search: tags are ascending.
    private func index(of deliveryTag: UInt64) -> CircularBuffer<Entry>.Index? {
        var low = self.outstanding.startIndex
        var count = self.outstanding.count
        while count > 0 {
            let half = count / 2
            let middle = self.outstanding.index(low, offsetBy: half)
            if self.outstanding[middle].deliveryTag < deliveryTag {
                low = self.outstanding.index(after: middle)
                count -= half + 1
            } else {
                count = half
            }
        }
        guard low != self.outstanding.endIndex, self.outstanding[low].deliveryTag == deliveryTag else {
            return nil
        }
        return low
    }
}
