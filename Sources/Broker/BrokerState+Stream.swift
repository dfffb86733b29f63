// Streams: what their declaration must be, appending, and retention as messages arrive.
extension BrokerState {
    /// RabbitMQ's refusals of a stream that is not durable, or is exclusive or auto-delete.
    static func checkStreamProperties(_ settings: QueueSettings, of name: QueueName, durable: Bool, exclusive: Bool, autoDelete: Bool)
        throws(BrokerError)
    {
        guard settings.queueType == .stream else { return }
        if autoDelete { throw BrokerError(.preconditionFailed, "invalid property 'auto-delete' for \(name)") }
        if exclusive { throw BrokerError(.preconditionFailed, "invalid property 'exclusive-owner' for \(name)") }
        if !durable { throw BrokerError(.preconditionFailed, "invalid property 'non-durable' for \(name)") }
    }

    /// Appends a message to a stream, then applies its retention at the command's timestamp.
    /// A stream has no overflow rule, TTL or dead-lettering: only the queue's message bound
    /// refuses a publish.
    mutating func appendToStream(_ incoming: Incoming, in name: QueueName, at timestamp: Int64, _ log: inout EffectLog) -> StoreResult {
        // No copy of the queue is kept past here: one would make the append copy its chunk.
        let storeID: UInt64
        do {
            guard let queue = queue(name) else { return .missing }
            guard queue.messageCount < limits.queueMessagesMax else { return .rejected }
            storeID = queue.storeID
        }
        let id = nextMessageID
        nextMessageID += 1
        guard let appended = vhosts[name.vhost]?.queues[name.name]?.appendToStream(
            id: id, recordBytes: incoming.record.count, bodyBytes: incoming.message.body.count, at: timestamp,
            storeSegmentBytes: limits.storeSegmentBytes)
        else { preconditionFailure("\(name) vanished while appending to it") }
        log.write(incoming.record, at: appended.message.location(in: storeID))
        log.ready(name, id)
        applyStreamRetention(name, at: timestamp, &log)
        return .stored(id)
    }

    /// Removes the stream's oldest segments that its `x-max-length-bytes` or `x-max-age`
    /// no longer keeps, as of `now` (the leader's clock in the command applied).
    mutating func applyStreamRetention(_ name: QueueName, at now: Int64, _ log: inout EffectLog) {
        guard let settings = queue(name)?.settings.stream else { return }
        // Each pass removes one whole segment, and the newest always stays.
        while true {
            let end: Int64
            let overLength: Bool
            do {
                guard let stream = queue(name)?.stream, let segmentEnd = stream.retentionEnd(settings, at: now) else { return }
                end = segmentEnd
                overLength = settings.lengthBytesMax.map { Int64(stream.recordBytes) > $0 } ?? false
            }
            while let offset = queue(name)?.stream?.firstOffset, offset < end, let head = queue(name)?.head,
                vhosts[name.vhost]?.queues[name.name]?.remove(head.id) != nil
            {
                log.removed(name, head.id, overLength ? .maxLength : .expired)
            }
            guard let reached = queue(name)?.stream?.firstOffset, reached >= end else {
                preconditionFailure("\(name): retention stopped short of offset \(end)")
            }
        }
    }
}
