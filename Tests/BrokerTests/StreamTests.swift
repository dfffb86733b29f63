import XCTest

@testable import Broker

final class StreamTests: XCTestCase {
    private let stream: ArgumentTable = ["x-queue-type": "stream"]

    private func streamArguments(_ extra: ArgumentTable) -> ArgumentTable {
        var arguments = stream
        for entry in extra.entries { arguments[entry.key] = entry.value }
        return arguments
    }

    /// A leader with stream "s" holding m0…m(count-1), one enqueue (one chunk) each, a
    /// second apart.
    private func leaderWithStream(_ count: Int, arguments: ArgumentTable = [:]) -> Leader {
        var leader = Leader()
        leader.h.declareQueue("s", arguments: streamArguments(arguments))
        for n in 0..<count {
            leader.publish("m\(n)", to: "s")
            leader.h.now += 1_000
        }
        return leader
    }

    private func consume(_ leader: inout Leader, prefetch: UInt16 = 100, offset: ArgumentValue? = nil, tag: String, on id: ChannelID = channel())
        throws -> String
    {
        try leader.dispatcher.qos(channel: id, prefetchCount: prefetch, global: false)
        var arguments = ArgumentTable()
        if let offset { arguments["x-stream-offset"] = offset }
        return try leader.dispatcher.consume(
            ConsumeRequest(channel: id, queue: q("s"), consumerTag: tag, arguments: arguments), state: leader.h.state, now: leader.h.now)
    }

    private func offsets(_ deliveries: [HeldDelivery]) -> [Int64?] {
        deliveries.map { $0.message.properties.headers?["x-stream-offset"]?.integerValue }
    }

    // MARK: Declaring

    func testDeclaresADurableStreamWithRetentionArguments() throws {
        var h = Harness()
        h.declareQueue("s", arguments: streamArguments(["x-max-age": "7D", "x-max-length-bytes": 1_000, "x-stream-max-segment-size-bytes": 100]))
        let settings = try XCTUnwrap(h.state.queue(q("s"))?.settings)
        XCTAssertEqual(settings.queueType, .stream)
        XCTAssertEqual(settings.stream?.ageMaxMs, 7 * 86_400_000)
        XCTAssertEqual(settings.stream?.lengthBytesMax, 1_000)
        XCTAssertEqual(settings.stream?.segmentBytes, 100)
        XCTAssertNil(settings.lengthBytesMax, "a stream's x-max-length-bytes is retention, not overflow")
        XCTAssertEqual(h.state.queue(q("s"))?.priorityLevels, 1)
    }

    func testMaxAgeTakesRabbitMQsUnits() {
        XCTAssertEqual(StreamSettings.ageMs("2Y"), 2 * 365 * 86_400_000)
        XCTAssertEqual(StreamSettings.ageMs("1M"), 30 * 86_400_000)
        XCTAssertEqual(StreamSettings.ageMs("7D"), 7 * 86_400_000)
        XCTAssertEqual(StreamSettings.ageMs("12h"), 12 * 3_600_000)
        XCTAssertEqual(StreamSettings.ageMs("30m"), 30 * 60_000)
        XCTAssertEqual(StreamSettings.ageMs("10s"), 10_000)
        for bad in ["", "h", "0s", "10", "10x", "1.5h", "-1h", "10ms", "99999999999999999Y"] {
            XCTAssertNil(StreamSettings.ageMs(bad), bad)
        }
    }

    func testRefusesWhatRabbitMQRefusesOfAStream() {
        var h = Harness()
        let refusals: [(durable: Bool, exclusive: Bool, autoDelete: Bool, arguments: ArgumentTable, text: String)] = [
            (false, false, false, stream, "PRECONDITION_FAILED - invalid property 'non-durable' for queue 's' in vhost '/'"),
            (true, true, false, stream, "PRECONDITION_FAILED - invalid property 'exclusive-owner' for queue 's' in vhost '/'"),
            (true, false, true, stream, "PRECONDITION_FAILED - invalid property 'auto-delete' for queue 's' in vhost '/'"),
            (true, false, false, streamArguments(["x-message-ttl": 1_000]),
             "PRECONDITION_FAILED - invalid arg 'x-message-ttl' for queue 's' in vhost '/' of queue type stream"),
            (true, false, false, streamArguments(["x-dead-letter-exchange": "dlx"]),
             "PRECONDITION_FAILED - invalid arg 'x-dead-letter-exchange' for queue 's' in vhost '/' of queue type stream"),
            (true, false, false, streamArguments(["x-max-priority": 5]),
             "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue 's' in vhost '/' of queue type stream"),
            (true, false, false, streamArguments(["x-single-active-consumer": true]),
             "PRECONDITION_FAILED - invalid arg 'x-single-active-consumer' for queue 's' in vhost '/' of queue type stream"),
            (true, false, false, streamArguments(["x-max-length": 10]),
             "PRECONDITION_FAILED - invalid arg 'x-max-length' for queue 's' in vhost '/' of queue type stream"),
            (true, false, false, streamArguments(["x-max-age": "7X"]),
             "PRECONDITION_FAILED - invalid arg 'x-max-age' for queue 's' in vhost '/': invalid_max_age"),
            (true, false, false, streamArguments(["x-max-age": 7]),
             "PRECONDITION_FAILED - invalid arg 'x-max-age' for queue 's' in vhost '/': {unacceptable_type,long}"),
            (true, false, false, streamArguments(["x-stream-max-segment-size-bytes": .int64(3_000_000_001)]),
             "PRECONDITION_FAILED - Exceeded max value for x-stream-max-segment-size-bytes"),
        ]
        for refusal in refusals {
            let effects = h.apply(
                .declareQueue(
                    QueueDeclaration(
                        vhost: "/", name: "s", durable: refusal.durable, exclusive: refusal.exclusive, autoDelete: refusal.autoDelete,
                        arguments: refusal.arguments, owner: h.owner, timestamp: h.now)))
            XCTAssertEqual(failure(effects)?.replyText, refusal.text)
            XCTAssertNil(h.state.queue(q("s")))
        }
    }

    // MARK: Appending

    func testOffsetsAreContiguousAndChunksShareTheLeadersTimestamp() throws {
        var h = Harness()
        h.declareQueue("s", arguments: stream)
        h.declareQueue("other")
        let start = h.now
        for n in 0..<3 {
            h.publish("a\(n)", routingKey: "s")
            h.publish("x\(n)", routingKey: "other")
        }
        h.now += 5_000
        let batch = (0..<2).map { n in
            Publish(message: Message(exchange: "", routingKey: "s", body: Array("b\(n)".utf8)), queues: [q("s")], publisherToken: [])
        }
        h.apply(.enqueue(Enqueue(timestamp: h.now, messages: batch)))
        let queue = try XCTUnwrap(h.state.queue(q("s")))
        let log = try XCTUnwrap(queue.stream)
        XCTAssertEqual(log.firstOffset, 0)
        XCTAssertEqual(log.nextOffset, 5)
        XCTAssertEqual((0..<5).map { queue.streamMessage(at: $0)?.id }, queue.messageIDs.map { Optional($0) })
        XCTAssertEqual((0..<5).map { log.timestamp(of: $0) }, [start, start, start, start + 5_000, start + 5_000])
        XCTAssertEqual(log.lastChunkOffset, 3, "the last enqueue's two messages are the newest chunk")
        XCTAssertEqual(log.firstOffset(atOrAfter: start + 1), 3)
        XCTAssertEqual(log.firstOffset(atOrAfter: start + 5_001), 5)
        XCTAssertNil(queue.streamMessage(at: 5))
    }

    func testAClockThatGoesBackDoesNotReorderChunks() throws {
        var h = Harness()
        h.declareQueue("s", arguments: stream)
        h.publish("a", routingKey: "s")
        h.now -= 10_000
        h.publish("b", routingKey: "s")
        let log = try XCTUnwrap(h.state.queue(q("s"))?.stream)
        XCTAssertEqual(log.timestamp(of: 1), log.timestamp(of: 0))
        XCTAssertEqual(log.lastChunkOffset, 0, "a timestamp no later than the chunk's joins it")
    }

    // MARK: Consuming

    func testConsumersStartAtFirstNextLastAnOffsetOrATime() throws {
        var leader = leaderWithStream(10)
        let base = leader.h.now - 10_000
        _ = try consume(&leader, offset: "first", tag: "first", on: channel("c1"))
        _ = try consume(&leader, tag: "next", on: channel("c2"))
        _ = try consume(&leader, offset: "last", tag: "last", on: channel("c3"))
        _ = try consume(&leader, offset: 7, tag: "seven", on: channel("c4"))
        _ = try consume(&leader, offset: .timestamp(UInt64((base + 4_000) / 1_000)), tag: "time", on: channel("c5"))
        _ = try consume(&leader, offset: "3s", tag: "interval", on: channel("c6"))
        _ = try consume(&leader, offset: 1_000, tag: "beyond", on: channel("c7"))
        let deliveries = leader.dispatch()
        func read(_ tag: String) -> [Int64?] { offsets(deliveries.filter { $0.consumerTag == tag }) }
        XCTAssertEqual(read("first"), (0..<10).map { Optional($0) })
        XCTAssertEqual(read("next"), [])
        XCTAssertEqual(read("last"), [9])
        XCTAssertEqual(read("seven"), [7, 8, 9])
        XCTAssertEqual(read("time"), [4, 5, 6, 7, 8, 9])
        XCTAssertEqual(read("interval"), [7, 8, 9], "from now minus 3 s: m7 was appended 3 s ago")
        XCTAssertEqual(read("beyond"), [])
        XCTAssertEqual(deliveries.filter { $0.consumerTag == "seven" }.map(bodyText), ["m7", "m8", "m9"])
        XCTAssertFalse(deliveries.contains { $0.redelivered })

        leader.publish("m10", to: "s")
        let caughtUp = leader.dispatch()
        XCTAssertEqual(Set(caughtUp.compactMap(\.consumerTag)), ["first", "next", "last", "seven", "time", "interval", "beyond"])
        XCTAssertEqual(Set(offsets(caughtUp)), [10])
    }

    func testTwoConsumersReadTheSameMessagesAndAcksOnlyGiveCredit() throws {
        var leader = leaderWithStream(5)
        _ = try consume(&leader, prefetch: 2, offset: "first", tag: "a", on: channel("c1"))
        _ = try consume(&leader, prefetch: 2, offset: "first", tag: "b", on: channel("c2"))
        let first = leader.dispatch()
        XCTAssertEqual(first.filter { $0.consumerTag == "a" }.map(bodyText), ["m0", "m1"])
        XCTAssertEqual(first.filter { $0.consumerTag == "b" }.map(bodyText), ["m0", "m1"])
        XCTAssertEqual(leader.dispatch(), [], "two unacknowledged: no credit left")

        XCTAssertEqual(try leader.dispatcher.ack(channel: channel("c1"), deliveryTag: 2, multiple: true), [], "an ack removes nothing")
        XCTAssertEqual(offsets(leader.dispatch()), [2, 3])
        XCTAssertEqual(try leader.dispatcher.nack(channel: channel("c1"), deliveryTag: 3, multiple: false, requeue: true, now: leader.h.now), [])
        XCTAssertEqual(try leader.dispatcher.reject(channel: channel("c1"), deliveryTag: 4, requeue: false, now: leader.h.now), [])
        let afterNacks = leader.dispatch()
        XCTAssertEqual(offsets(afterNacks), [4], "a nack or reject gives credit and nothing comes back")
        XCTAssertEqual(leader.dispatcher.closeChannel(channel("c1"), state: leader.h.state, now: leader.h.now), [])
        XCTAssertEqual(leader.h.bodies("s"), ["m0", "m1", "m2", "m3", "m4"])

        // Settles of a stream's messages, were any proposed, change nothing.
        let ids = leader.h.ids("s")
        leader.commit([.settle(MessageBatch(queue: q("s"), ids: ids)), .reject(MessageBatch(queue: q("s"), ids: ids), timestamp: leader.h.now)])
        XCTAssertEqual(leader.h.bodies("s").count, 5)
    }

    func testConsumingAStreamNeedsAPerConsumerPrefetchAndAcks() throws {
        var leader = leaderWithStream(1)
        func refusal(_ request: ConsumeRequest) -> String? {
            do {
                _ = try leader.dispatcher.consume(request, state: leader.h.state, now: leader.h.now)
                return nil
            } catch {
                return error.replyText
            }
        }
        XCTAssertEqual(
            refusal(ConsumeRequest(channel: channel("c1"), queue: q("s"))),
            "PRECONDITION_FAILED - consumer prefetch count is not set for stream queue 's' in vhost '/'")
        try leader.dispatcher.qos(channel: channel("c2"), prefetchCount: 10, global: false)
        XCTAssertEqual(
            refusal(ConsumeRequest(channel: channel("c2"), queue: q("s"), noAck: true)),
            "PRECONDITION_FAILED - consumer prefetch count is not set for stream queue 's' in vhost '/'")
        try leader.dispatcher.qos(channel: channel("c2"), prefetchCount: 10, global: true)
        XCTAssertEqual(
            refusal(ConsumeRequest(channel: channel("c2"), queue: q("s"))), "NOT_IMPLEMENTED - queue 's' in vhost '/' does not support global qos")
        try leader.dispatcher.qos(channel: channel("c3"), prefetchCount: 10, global: false)
        XCTAssertEqual(
            refusal(ConsumeRequest(channel: channel("c3"), queue: q("s"), arguments: ["x-stream-offset": "soon"])),
            "PRECONDITION_FAILED - failed consuming from stream queue 's' in vhost '/': invalid_max_age")
        XCTAssertEqual(
            refusal(ConsumeRequest(channel: channel("c3"), queue: q("s"), arguments: ["x-stream-offset": -1])),
            "PRECONDITION_FAILED - failed consuming from stream queue 's' in vhost '/': {invalid_offset_arg,-1}")
        XCTAssertEqual(leader.dispatcher.consumerCount(q("s")), 0)
        XCTAssertThrowsError(try leader.dispatcher.get(channel: channel("c3"), queue: q("s"), noAck: false, state: leader.h.state, now: leader.h.now)) {
            XCTAssertEqual(($0 as? BrokerError)?.replyText, "NOT_IMPLEMENTED - basic.get not supported by stream queues queue 's' in vhost '/'")
        }
    }

    func testACancelledConsumerLeavesTheOthersWhereTheyAre() throws {
        var leader = leaderWithStream(3)
        _ = try consume(&leader, prefetch: 1, offset: "first", tag: "a", on: channel("c1"))
        _ = try consume(&leader, prefetch: 10, offset: "first", tag: "b", on: channel("c2"))
        XCTAssertEqual(leader.dispatch().count, 4)
        XCTAssertEqual(leader.dispatcher.cancel(channel: channel("c1"), consumerTag: "a", state: leader.h.state, now: leader.h.now), [])
        XCTAssertNil(leader.dispatcher.streamOffset(channel: channel("c1"), consumerTag: "a", queue: q("s")))
        XCTAssertEqual(leader.dispatcher.streamOffset(channel: channel("c2"), consumerTag: "b", queue: q("s")), 3)
        XCTAssertEqual(try leader.dispatcher.ack(channel: channel("c1"), deliveryTag: 1, multiple: false), [])
    }

    // MARK: Retention

    func testRetentionByBytesRemovesWholeSegmentsFromTheHead() throws {
        // Segments of one byte: each message is a segment of its own.
        var leader = leaderWithStream(1, arguments: ["x-stream-max-segment-size-bytes": 1, "x-max-length-bytes": 0])
        let recordBytes = try XCTUnwrap(leader.h.state.queue(q("s"))?.recordBytes)
        leader = leaderWithStream(10, arguments: ["x-stream-max-segment-size-bytes": 1, "x-max-length-bytes": .int64(Int64(3 * recordBytes))])
        XCTAssertEqual(leader.h.bodies("s"), ["m7", "m8", "m9"])
        let log = try XCTUnwrap(leader.h.state.queue(q("s"))?.stream)
        XCTAssertEqual(log.firstOffset, 7)
        XCTAssertEqual(log.nextOffset, 10)
        XCTAssertEqual(log.recordBytes, 3 * recordBytes)

        _ = try consume(&leader, prefetch: 1, offset: "first", tag: "behind")
        XCTAssertEqual(offsets(leader.dispatch()), [7])
        for n in 10..<15 { leader.publish("m\(n)", to: "s") }
        _ = try leader.dispatcher.ack(channel: channel(), deliveryTag: 1, multiple: false)
        let head = try XCTUnwrap(leader.h.state.queue(q("s"))?.stream?.firstOffset)
        XCTAssertGreaterThan(head, 8)
        let resumed = leader.dispatch()
        XCTAssertEqual(offsets(resumed), [head], "a reader behind the head goes on from the new head")
        XCTAssertEqual(resumed.map(bodyText), ["m\(head)"])
    }

    func testRetentionKeepsTheNewestSegment() throws {
        // The default segment is 500 MB: a few bytes over x-max-length-bytes remove nothing.
        let leader = leaderWithStream(5, arguments: ["x-max-length-bytes": 1])
        XCTAssertEqual(leader.h.bodies("s").count, 5)
    }

    func testRetentionByAge() throws {
        var leader = leaderWithStream(3, arguments: ["x-stream-max-segment-size-bytes": 1, "x-max-age": "10s"])
        XCTAssertEqual(leader.h.bodies("s"), ["m0", "m1", "m2"])
        leader.h.now += 7_500
        leader.publish("m3", to: "s")
        XCTAssertEqual(leader.h.bodies("s"), ["m1", "m2", "m3"], "m0 is 10.5 s old, m1 9.5 s")
        let removed = leader.h.state.queue(q("s"))?.stream?.firstOffset
        XCTAssertEqual(removed, 1)
        leader.h.now += 60_000
        leader.publish("m4", to: "s")
        XCTAssertEqual(leader.h.bodies("s"), ["m4"], "the newest segment always stays")
        XCTAssertEqual(leader.h.state.queue(q("s"))?.stream?.firstOffset, 4)
    }

    func testAnIdleStreamAgesOnTheLeadersSweep() throws {
        var leader = leaderWithStream(3, arguments: ["x-stream-max-segment-size-bytes": 1, "x-max-age": "10s"])
        XCTAssertEqual(leader.dispatcher.sweep(state: leader.h.state, now: leader.h.now), [])
        leader.h.now += 20_000
        let sweep = leader.dispatcher.sweep(state: leader.h.state, now: leader.h.now)
        XCTAssertEqual(sweep, [.expire(Expiry(timestamp: leader.h.now, messages: [MessageBatch(queue: q("s"), ids: [])]))])
        leader.commit(sweep)
        XCTAssertEqual(leader.h.bodies("s"), ["m2"], "the newest segment always stays")
        XCTAssertEqual(leader.dispatcher.sweep(state: leader.h.state, now: leader.h.now), [])
    }

    // MARK: Snapshots

    func testAPurgeIsRefusedAndLeavesTheStreamAsItWas() throws {
        var leader = leaderWithStream(3)
        let effects = leader.h.apply(.purge(QueuePurge(queue: q("s"))))
        guard case .failed(let error)? = effects.first else { return XCTFail("purged: \(effects)") }
        XCTAssertEqual(error.code, .notImplemented)
        XCTAssertEqual(leader.h.bodies("s"), ["m0", "m1", "m2"])
    }

    func testAStreamConsumerHoldingItsCreditPastAnyTimeoutIsNotOverdue() throws {
        var leader = leaderWithStream(3)
        _ = try consume(&leader, offset: "first", tag: "reader")
        XCTAssertEqual(leader.dispatch().count, 3)
        let later = leader.h.now + 3_600_000
        XCTAssertEqual(leader.dispatcher.overdueChannels(state: leader.h.state, now: later, defaultTimeoutMs: 1_000), [])
    }

    func testSnapshotKeepsOffsetsAndTimestamps() throws {
        var leader = leaderWithStream(6, arguments: ["x-stream-max-segment-size-bytes": 1, "x-max-age": "4s"])
        let original = try XCTUnwrap(leader.h.state.queue(q("s")))
        XCTAssertEqual(original.stream?.firstOffset, 1, "m0 was older than 4 s when m5 came")
        let data = leader.h.state.snapshotData()
        var restored = BrokerState()
        try restored.restore(from: data)
        XCTAssertEqual(restored.snapshotData(), data)
        let queue = try XCTUnwrap(restored.queue(q("s")))
        XCTAssertEqual(queue.stream, original.stream)
        XCTAssertEqual((1..<6).map { queue.stream?.timestamp(of: $0) }, (1..<6).map { original.stream?.timestamp(of: $0) })
        XCTAssertEqual(queue.stream?.firstOffset(atOrAfter: leader.h.now - 2_500), 4)

        // A new leader on the restored state serves offsets as the old one did.
        var next = Leader(Harness())
        next.h.state = restored
        next.h.records = leader.h.records
        next.h.index = leader.h.index
        next.h.now = leader.h.now
        next.dispatcher = Dispatcher(state: restored, now: next.h.now)
        _ = try consume(&next, offset: 3, tag: "again")
        let deliveries = next.dispatch()
        XCTAssertEqual(offsets(deliveries), [3, 4, 5])
        XCTAssertEqual(deliveries.map(bodyText), ["m3", "m4", "m5"])
        next.publish("m6", to: "s")
        XCTAssertEqual(offsets(next.dispatch()), [6])
        leader.publish("m6", to: "s")
        XCTAssertEqual(next.h.state.queue(q("s"))?.stream, leader.h.state.queue(q("s"))?.stream)
    }

    /// A segment's record bytes and a chunk's message count are quantities, not counts of
    /// what follows them in the snapshot: a segment larger than the rest of the snapshot
    /// (any stream of a few hundred messages in its one default segment) restores.
    func testSnapshotRestoresASegmentOfMoreBytesThanTheSnapshotHasLeft() throws {
        let leader = leaderWithStream(300)
        let data = leader.h.state.snapshotData()
        let queue = try XCTUnwrap(leader.h.state.queue(q("s")))
        let segment = try XCTUnwrap(queue.stream?.parts.segments.last)
        XCTAssertGreaterThan(segment.recordBytes, data.count, "larger than the whole snapshot")
        var restored = BrokerState()
        try restored.restore(from: data)
        XCTAssertEqual(restored.queue(q("s"))?.stream, queue.stream)
        XCTAssertEqual(restored.snapshotData(), data)
    }

    func testSnapshotRefusesAStreamLogThatDoesNotFitItsMessages() throws {
        let leader = leaderWithStream(2)
        var data = leader.h.state.snapshotData()
        // The log comes after the stream's messages; its next offset (2) is the second signed varint.
        let log = try XCTUnwrap(leader.h.state.queue(q("s"))?.stream)
        var w = ByteWriter(capacity: 64)
        w.streamLog(log)
        let encoded = w.bytes
        let at = try XCTUnwrap(Self.lastRange(of: encoded, in: data))
        var tampered = log.parts
        tampered.nextOffset += 1
        tampered.chunks[tampered.chunks.count - 1].count += 1
        var bad = ByteWriter(capacity: 64)
        bad.signed(tampered.firstOffset)
        bad.signed(tampered.nextOffset)
        bad.array(tampered.chunks) { w, chunk in
            w.signed(chunk.firstOffset)
            w.varint(chunk.firstID)
            w.signed(chunk.timestamp)
            w.count(chunk.count)
        }
        bad.array(tampered.segments) { w, segment in
            w.signed(segment.firstOffset)
            w.count(segment.recordBytes)
        }
        data.replaceSubrange(at, with: bad.bytes)
        var restored = BrokerState()
        XCTAssertThrowsError(try restored.restore(from: data)) { error in
            XCTAssertTrue("\(error)".contains("does not fit its messages"), "\(error)")
        }
    }

    private static func lastRange(of needle: [UInt8], in haystack: [UInt8]) -> Range<Int>? {
        guard needle.count <= haystack.count else { return nil }
        for start in stride(from: haystack.count - needle.count, through: 0, by: -1) where Array(haystack[start..<(start + needle.count)]) == needle {
            return start..<(start + needle.count)
        }
        return nil
    }
}
