/// A channel's deliveries awaiting acknowledgement, by delivery tag. Tags only grow, so
/// `multiple` acknowledgements walk a prefix.
struct UnackedLedger: Sendable {
    struct Record: Sendable {
        var tag: UInt64
        var queue: QueueName
        var messageID: MessageID
        var consumerTag: String?
        var deliveredAt: Int64
    }

    private var records: [UInt64: Record] = [:]
    /// Tags in order, including some already removed (skipped, and compacted away).
    private var order: [UInt64] = []
    private var head = 0

    var count: Int { records.count }
    var isEmpty: Bool { records.isEmpty }

    mutating func insert(_ record: Record) {
        if let last = order.last { precondition(last < record.tag, "delivery tags must grow: \(record.tag) after \(last)") }
        records[record.tag] = record
        order.append(record.tag)
    }

    func contains(_ tag: UInt64) -> Bool { records[tag] != nil }

    mutating func remove(_ tag: UInt64) -> Record? {
        guard let record = records.removeValue(forKey: tag) else { return nil }
        tidy()
        return record
    }

    /// Removes every record with a tag up to `tag` (all of them for 0), in tag order.
    mutating func removeThrough(_ tag: UInt64) -> [Record] {
        var removed: [Record] = []
        var index = head
        while index < order.count, tag == 0 || order[index] <= tag {
            if let record = records.removeValue(forKey: order[index]) { removed.append(record) }
            index += 1
        }
        tidy()
        return removed
    }

    /// The oldest record still unacknowledged.
    var oldest: Record? {
        var index = head
        while index < order.count {
            if let record = records[order[index]] { return record }
            index += 1
        }
        return nil
    }

    /// Every record, in tag order.
    var all: [Record] { order[head...].compactMap { records[$0] } }

    private mutating func tidy() {
        while head < order.count, records[order[head]] == nil { head += 1 }
        if records.isEmpty {
            order.removeAll(keepingCapacity: true)
            head = 0
        } else if order.count - head > 2 * records.count + 64 || head > 1_024 {
            order = order[head...].filter { records[$0] != nil }
            head = 0
        }
    }
}
