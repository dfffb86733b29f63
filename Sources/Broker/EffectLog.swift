/// Gathers the effects of one command in the documented order, merging `ready` and
/// `removed` per queue so a batch of a thousand messages yields one effect per queue. It
/// also reads messages back for the command: those it stored itself from its own writes,
/// the rest from the node's store.
struct EffectLog {
    let reader: any MessageReader
    let limits: BrokerLimits
    private var writes: [RecordWrite] = []
    private var written: [RecordLocation: Int] = [:]

    init(reader: any MessageReader, limits: BrokerLimits) {
        self.reader = reader
        self.limits = limits
    }

    private var first: [BrokerEffect] = []
    private var readyOrder: [QueueName] = []
    private var ready: [QueueName: [MessageID]] = [:]
    private struct RemovalKey: Hashable {
        var queue: QueueName
        var reason: RemovalReason
    }
    private var removedOrder: [RemovalKey] = []
    private var removed: [RemovalKey: [MessageID]] = [:]
    private var last: [BrokerEffect] = []

    mutating func reply(_ reply: BrokerReply) { first.append(.reply(reply)) }
    mutating func fail(_ error: BrokerError) { first.append(.failed(error)) }
    mutating func published(_ outcome: PublishOutcome) { first.append(.published(outcome)) }
    mutating func deadLettered(_ record: DeadLetter) { first.append(.deadLettered(record)) }

    mutating func ready(_ queue: QueueName, _ id: MessageID) {
        if ready[queue] == nil { readyOrder.append(queue) }
        ready[queue, default: []].append(id)
    }

    mutating func removed(_ queue: QueueName, _ id: MessageID, _ reason: RemovalReason) {
        let key = RemovalKey(queue: queue, reason: reason)
        if removed[key] == nil { removedOrder.append(key) }
        removed[key, default: []].append(id)
    }

    mutating func write(_ record: [UInt8], at location: RecordLocation) {
        written[location] = writes.count
        writes.append(RecordWrite(location: location, record: record))
    }

    /// The message of a stored record. One that does not decode means the store is damaged
    /// (or lost a write): the state cannot go on deterministically, so this stops.
    func message(at location: RecordLocation) -> Message {
        let record = written[location].map { writes[$0].record } ?? reader.record(at: location)
        do {
            return try MessageRecord.decode(record, limits: limits)
        } catch {
            preconditionFailure("the message store is damaged: the record at \(location) does not decode: \(error)")
        }
    }

    mutating func exchangeDeleted(_ name: ExchangeName) { last.append(.exchangeDeleted(name)) }
    mutating func queueDeleted(_ name: QueueName) { last.append(.queueDeleted(name)) }

    func effects() -> [BrokerEffect] {
        var result = first
        result.reserveCapacity(first.count + readyOrder.count + removedOrder.count + last.count)
        for queue in readyOrder { result.append(.ready(queue, ready[queue] ?? [])) }
        for key in removedOrder { result.append(.removed(key.queue, removed[key] ?? [], key.reason)) }
        result.append(contentsOf: last)
        if !writes.isEmpty { result.append(.write(writes)) }
        return result
    }
}
