// Acknowledgements: ack, nack, reject, recover. Each becomes a command to propose.
extension Dispatcher {
    /// basic.ack: the messages are settled (removed once the settle is applied).
    public mutating func ack(channel: ChannelID, deliveryTag: UInt64, multiple: Bool) throws(BrokerError) -> [BrokerCommand] {
        let records = try takeUnacked(channel, deliveryTag: deliveryTag, multiple: multiple)
        return Self.batches(withoutStreams(records)).map { .settle($0) }
    }

    /// basic.nack: with requeue the messages come back (delivery count raised) as plain
    /// returns; without, they are rejected (dead-lettered or dropped).
    public mutating func nack(
        channel: ChannelID, deliveryTag: UInt64, multiple: Bool, requeue: Bool, now: Int64
    ) throws(BrokerError) -> [BrokerCommand] {
        try giveBack(channel: channel, deliveryTag: deliveryTag, multiple: multiple, requeue: requeue, deliveryFailed: false, now: now)
    }

    /// basic.reject: a nack of one delivery, whose requeue counts as a failed delivery, as
    /// in RabbitMQ 4.3.
    public mutating func reject(channel: ChannelID, deliveryTag: UInt64, requeue: Bool, now: Int64) throws(BrokerError) -> [BrokerCommand] {
        try giveBack(channel: channel, deliveryTag: deliveryTag, multiple: false, requeue: requeue, deliveryFailed: true, now: now)
    }

    private mutating func giveBack(
        channel: ChannelID, deliveryTag: UInt64, multiple: Bool, requeue: Bool, deliveryFailed: Bool, now: Int64
    ) throws(BrokerError) -> [BrokerCommand] {
        let records = try takeUnacked(channel, deliveryTag: deliveryTag, multiple: multiple)
        if requeue { return requeueCommands(records, deliveryFailed: deliveryFailed, now: now) }
        return Self.batches(withoutStreams(records)).map { .reject($0, timestamp: now) }
    }

    /// basic.recover: every unacknowledged delivery of the channel comes back. RabbitMQ does
    /// not implement requeue = false, nor do we.
    public mutating func recover(channel: ChannelID, requeue: Bool, now: Int64) throws(BrokerError) -> [BrokerCommand] {
        guard requeue else { throw BrokerError(.notImplemented, "requeue=false") }
        let records = channels[channel]?.unacked.removeThrough(0) ?? []
        release(records, channel: channel)
        return requeueCommands(records, deliveryFailed: false, now: now)
    }

    /// RabbitMQ's rule: the tag must be unacknowledged on the channel (0 with `multiple`: all),
    /// or one taken back when it timed out, which settles nothing.
    private mutating func takeUnacked(_ id: ChannelID, deliveryTag: UInt64, multiple: Bool) throws(BrokerError) -> [UnackedLedger.Record] {
        let wasReclaimed = channels[id]?.reclaimed.contains(deliveryTag) == true
        guard (multiple && deliveryTag == 0) || wasReclaimed || channels[id]?.unacked.contains(deliveryTag) == true else {
            throw BrokerError(.preconditionFailed, "unknown delivery tag \(deliveryTag)")
        }
        if channels[id]?.reclaimed.isEmpty == false {
            if multiple {
                let reclaimed = channels[id]?.reclaimed ?? []
                channels[id]?.reclaimed = deliveryTag == 0 ? [] : reclaimed.filter { $0 > deliveryTag }
            } else {
                channels[id]?.reclaimed.remove(deliveryTag)
            }
        }
        let records: [UnackedLedger.Record]
        if multiple {
            records = channels[id]?.unacked.removeThrough(deliveryTag) ?? []
        } else if wasReclaimed {
            return []
        } else {
            records = channels[id]?.unacked.remove(deliveryTag).map { [$0] } ?? []
        }
        release(records, channel: id)
        return records
    }

    /// Frees the consumers' prefetch room; their queues may deliver again.
    private mutating func release(_ records: [UnackedLedger.Record], channel id: ChannelID) {
        // In place, and one lookup per run of one consumer's records: an ack of many
        // deliveries is the drain's commonest call.
        channels[id]?.release(records)
        guard let consumers = channels[id]?.consumers else { return }
        for consumer in consumers.values { dirty.insert(consumer.queue) }
    }

    /// Requeue commands for deliveries taken back; they leave `out` now and are ready again
    /// once the requeue is applied.
    mutating func requeueCommands(_ records: [UnackedLedger.Record], deliveryFailed: Bool, now: Int64) -> [BrokerCommand] {
        for record in records { queues[record.queue]?.out.remove(record.messageID) }
        return Self.batches(withoutStreams(records)).map { .requeue($0, timestamp: now, deliveryFailed: deliveryFailed) }
    }

    /// Message ids per queue, queues in name order, ids in delivery order.
    static func batches(_ records: [UnackedLedger.Record]) -> [MessageBatch] {
        var ids: [QueueName: [MessageID]] = [:]
        for record in records { ids[record.queue, default: []].append(record.messageID) }
        return ids.keys.sorted().map { MessageBatch(queue: $0, ids: ids[$0] ?? []) }
    }
}

extension Dispatcher.Channel {
    /// Gives each consumer back the prefetch room its records held.
    mutating func release(_ records: [UnackedLedger.Record]) {
        var run: (tag: String, count: Int)?
        func endRun() {
            guard let (tag, count) = run, let unacked = consumers[tag]?.unacked else { return }
            consumers[tag]?.unacked = Swift.max(0, unacked - count)
        }
        for record in records {
            guard let tag = record.consumerTag else { continue }
            if run?.tag == tag {
                run?.count += 1
            } else {
                endRun()
                run = (tag, 1)
            }
        }
        endRun()
    }
}
