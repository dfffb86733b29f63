// Stream consumers: each reads from its own offset and takes nothing away; an ack, nack or
// reject only gives back prefetch credit. Readers are leader-local like the rest of the
// dispatcher: after a leader change a consumer starts again where its client says
// (its `x-stream-offset`), as RabbitMQ's readers do when their stream member changes.
struct StreamDispatch: Sendable {
    struct Reader: Sendable {
        /// The offset of the next message it gets.
        var nextOffset: Int64
        /// That message's id or less: the first message held at or after it is the next.
        var nextID: MessageID
    }

    var readers: [QueueDispatch.ConsumerKey: Reader] = [:]
}

extension Dispatcher {
    /// RabbitMQ's rules for basic.consume on a stream, and where the consumer starts.
    func streamReader(for request: ConsumeRequest, of queue: Queue, state: BrokerState, now: Int64) throws(BrokerError)
        -> StreamDispatch.Reader
    {
        guard let log = queue.stream else { preconditionFailure("\(queue.name) is not a stream") }
        let channel = channels[request.channel]
        if request.noAck || (channel?.prefetchPerConsumer ?? 0) == 0 {
            throw BrokerError(.preconditionFailed, "consumer prefetch count is not set for stream \(queue.name)")
        }
        if (channel?.prefetchPerChannel ?? 0) > 0 { throw BrokerError(.notImplemented, "\(queue.name) does not support global qos") }
        let start: StreamOffset
        switch StreamOffset.parse(request.arguments["x-stream-offset"], now: now) {
        case .success(let offset): start = offset
        case .failure(let error): throw BrokerError(.preconditionFailed, "failed consuming from stream \(queue.name): \(error.reason)")
        }
        let offset = start.resolve(in: log)
        let id = queue.streamMessage(at: offset)?.id ?? state.nextMessageID
        return StreamDispatch.Reader(nextOffset: offset, nextID: id)
    }

    /// The offset a stream consumer reads next (for tests and views).
    public func streamOffset(channel: ChannelID, consumerTag: String, queue: QueueName) -> Int64? {
        streams[queue]?.readers[QueueDispatch.ConsumerKey(channel: channel, tag: consumerTag)]?.nextOffset
    }

    /// Hands each consumer of the stream the messages past its offset while it has credit.
    /// Returns whether it is done (no credit or nothing new) rather than out of budget.
    mutating func dispatchStream(
        _ name: QueueName, in stored: Queue, consumers: [QueueDispatch.ConsumerKey], now: Int64, budget: inout Int,
        into output: inout DispatchOutput
    ) -> Bool {
        guard let log = stored.stream, var readers = streams.removeValue(forKey: name)?.readers else { return true }
        defer { streams[name] = StreamDispatch(readers: readers) }
        for key in consumers {
            guard var reader = readers[key] else { continue }
            defer { readers[key] = reader }
            // Retention may have removed what it had not read: it goes on from the head.
            reader.nextOffset = Swift.max(reader.nextOffset, log.firstOffset)
            while hasRoom(key), let message = stored.firstMessage(priority: 0, atOrAfter: reader.nextID) {
                guard budget > 0 else { return false }
                budget -= 1
                var delivery = deliver(
                    message, from: name, store: stored.storeID, to: key.channel, consumerTag: key.tag, noAck: false,
                    countsDeliveries: false, now: now)
                delivery.redelivered = false
                delivery.streamOffset = reader.nextOffset
                output.deliveries.append(delivery)
                reader.nextOffset += 1
                reader.nextID = message.id + 1
            }
        }
        return true
    }

    /// For the expiry sweep: a stream whose `x-max-age` would now remove its oldest segment,
    /// so that an idle stream ages too (appends weigh retention as they come).
    func streamRetentionDue(_ stored: Queue, now: Int64) -> MessageBatch? {
        guard let settings = stored.settings.stream, settings.ageMaxMs != nil, stored.stream?.retentionEnd(settings, at: now) != nil
        else { return nil }
        return MessageBatch(queue: stored.name, ids: [])
    }

    /// Acknowledged, nacked or given-back deliveries of streams change nothing replicated.
    func withoutStreams(_ records: [UnackedLedger.Record]) -> [UnackedLedger.Record] {
        streams.isEmpty ? records : records.filter { streams[$0.queue] == nil }
    }
}
