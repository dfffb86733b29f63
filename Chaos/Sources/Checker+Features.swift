/// Which queues of a history are the feature queues (`Workload+Features.swift`).
struct FeatureQueues: Sendable {
    var stream: Int
    var deduplicated: Int
    var singleActive: Int
    var timeout: Int
}

/// What the harness learnt after the faults that the history alone does not say.
struct FeatureRun: Sendable {
    var queues: FeatureQueues
    /// The reader that read the stream from its first offset to its end; nil when none did.
    var streamReader: String?
    /// The stream's length as the leader counted it when that reader started.
    var streamLength = 0
    /// Whether the consumer-timeout probe ran after the drain, and what went wrong in it
    /// beyond what the history shows.
    var probed = false
    var probeProblem: String?
    /// The most at-least-once dead letters the leader counted waiting in their source queues
    /// at once (the dead-letter queue was full): how much that path was used.
    var pendingDeadLettersMax = 0
}

/// The stream read back from its first offset after the faults.
struct StreamFindings: Sendable {
    var publishAttempts = 0
    var confirmedAttempts = 0
    var length = 0
    var replayed = 0
    /// Confirmed attempts the read from the first offset did not replay.
    var lost: [String] = []
    /// Offsets out of 0, 1, 2, … in the read, or a read that did not reach the end.
    var offsets: [String] = []
    /// An attempt replayed twice: one publish stored twice.
    var twice: [String] = []
    /// Confirmed attempts of one publisher channel replayed out of the order it sent them.
    var order: [String] = []

    var violations: [String] {
        [("stream lost", lost), ("stream offsets", offsets), ("stream twice", twice), ("stream order", order)]
            .filter { !$0.1.isEmpty }.map { "\($0.0) \($0.1.count): " + $0.1.prefix(5).joined(separator: "; ") }
    }
}

/// The queue behind the x-message-deduplication exchange.
struct DeduplicationFindings: Sendable {
    var keys = 0
    /// Keys published more than once (after a nack, or a confirm that never came).
    var retriedKeys = 0
    /// Confirmed attempts that were never delivered, of keys another attempt of which was:
    /// retries the exchange dropped as duplicates.
    var duplicatesDropped = 0
    /// Keys two attempts of which were delivered: stored twice.
    var storedTwice: [String] = []

    var violations: [String] {
        storedTwice.isEmpty ? [] : ["deduplication stored twice \(storedTwice.count): " + storedTwice.prefix(5).joined(separator: "; ")]
    }
}

/// The single-active-consumer queue.
struct SingleActiveFindings: Sendable {
    var deliveries = 0
    var deliveriesByConsumer: [String: Int] = [:]
    /// Deliveries to another consumer than the one before.
    var handovers = 0
    /// Deliveries made while the cluster was settled, each checked against the others' holds.
    var checked = 0
    /// A consumer getting a delivery while another held one, in settled time.
    var overlaps: [String] = []

    var violations: [String] {
        overlaps.isEmpty ? [] : ["single active consumer overlaps \(overlaps.count): " + overlaps.prefix(5).joined(separator: "; ")]
    }
}

/// The consumer-timeout queue and the probe after the drain.
struct TimeoutFindings: Sendable {
    var stalls = 0
    var cancelsAfterStall = 0
    /// Cancels of consumers that were not stalling (a paused node held their deliveries).
    var cancelsWithoutStall = 0
    /// Stalls whose bound passed without a cancel while the cluster was unsettled (allowed).
    var uncancelledUnsettled = 0
    var probeCancels = 0
    /// Stalls in settled time whose bound passed without a cancel.
    var uncancelled: [String] = []
    /// Stalled deliveries never delivered again.
    var notDeliveredAgain: [String] = []
    /// Consumer channels the broker closed (it must cancel the consumer and keep the channel).
    var channelsClosed: [String] = []
    var probe: [String] = []

    var violations: [String] {
        [("uncancelled stall", uncancelled), ("stalled and not delivered again", notDeliveredAgain),
         ("consumer channel closed by the broker", channelsClosed), ("timeout probe", probe)]
            .filter { !$0.1.isEmpty }.map { "\($0.0) \($0.1.count): " + $0.1.prefix(5).joined(separator: "; ") }
    }
}

/// Everything the feature rules found.
struct FeatureFindings: Sendable {
    var stream = StreamFindings()
    var deduplication = DeduplicationFindings()
    var singleActive = SingleActiveFindings()
    var timeouts = TimeoutFindings()
    var pendingDeadLettersMax = 0

    var violations: [String] { stream.violations + deduplication.violations + singleActive.violations + timeouts.violations }

    /// For the verdict line.
    var summary: String {
        "stream \(stream.replayed)/\(stream.length) replayed, \(stream.confirmedAttempts) confirmed; "
            + "dedup \(deduplication.keys) keys, \(deduplication.duplicatesDropped) duplicates dropped; "
            + "single-active \(singleActive.deliveries) deliveries, \(singleActive.handovers) handovers; "
            + "timeouts \(timeouts.stalls) stalls, \(timeouts.cancelsAfterStall + timeouts.cancelsWithoutStall) cancels; "
            + "dead letters waiting at most \(pendingDeadLettersMax)"
    }
}

extension Checker {
    /// How long after a heal or a leader change the cluster may still be settling: sessions
    /// through followers reopened, consumers restored, a paused node's stale frames relayed.
    static let settleGraceMillis: Int64 = 8_000

    /// The spans (ms) in which the cluster may be unsettled: each fault window from its start
    /// to `settleGraceMillis` after its heal (to the end when it never healed), and around each
    /// leader change the harness saw (from 2 s before it was seen, as it is polled).
    static func unsettledSpans(_ events: [Event]) -> [ClosedRange<Int64>] {
        var starts: [Int: Int64] = [:]
        var spans: [ClosedRange<Int64>] = []
        for event in events {
            switch event.kind {
            case .fault where !event.detail.hasPrefix("\(FaultKind.none.rawValue) "):
                if starts[event.window] == nil { starts[event.window] = event.millis }
            case .heal:
                if let start = starts.removeValue(forKey: event.window) { spans.append(start...max(start, event.millis + settleGraceMillis)) }
            case .leader:
                spans.append((event.millis - 2_000)...(event.millis + settleGraceMillis))
            default:
                break
            }
        }
        spans += starts.values.map { $0...Int64.max }
        return spans
    }

    /// Whether nothing unsettled the cluster from `from` to `to` (ms).
    static func settled(_ spans: [ClosedRange<Int64>], from: Int64, to: Int64) -> Bool {
        !spans.contains { $0.overlaps(from...max(from, to)) }
    }

    /// The rules of the feature queues; see Chaos/README.md for why each is sound.
    static func checkFeatures(_ events: [Event], run: FeatureRun) -> FeatureFindings {
        let spans = unsettledSpans(events)
        var findings = FeatureFindings()
        findings.stream = checkStream(events, queue: run.queues.stream, reader: run.streamReader, length: run.streamLength)
        findings.deduplication = checkDeduplication(events, queue: run.queues.deduplicated)
        findings.singleActive = checkSingleActive(events, queue: run.queues.singleActive, spans: spans)
        findings.timeouts = checkTimeouts(events, queue: run.queues.timeout, spans: spans, probed: run.probed)
        if let problem = run.probeProblem { findings.timeouts.probe.append(problem) }
        findings.pendingDeadLettersMax = run.pendingDeadLettersMax
        return findings
    }

    /// A publisher's channel: one per connection.
    private struct PublisherChannel: Hashable {
        var actor: String
        var channel: Int
    }

    /// The read from the first offset replays every confirmed attempt, once each, at the
    /// offsets 0, 1, 2, … (nothing is ever removed: the stream has no retention), and each
    /// publisher channel's confirmed attempts in the order it sent them. A retry is a new
    /// attempt, maybe on another channel, so two attempts of one message may both be there;
    /// an attempt never confirmed is outside the order (one a follower nacked when its session
    /// to the leader failed may still reach the leader late, on that old session).
    static func checkStream(_ events: [Event], queue: Int, reader: String?, length: Int) -> StreamFindings {
        var findings = StreamFindings()
        var sent: [AttemptID: (channel: PublisherChannel, index: Int)] = [:]
        var sentOnChannel: [PublisherChannel: Int] = [:]
        var confirmed: Set<AttemptID> = []
        var replay: [Event] = []
        for event in events where event.queue == queue {
            let attempt = AttemptID(id: MessageID(publisher: event.publisher, sequence: event.sequence), attempt: event.attempt)
            switch event.kind {
            case .publish:
                findings.publishAttempts += 1
                let channel = PublisherChannel(actor: event.actor, channel: event.channel)
                sent[attempt] = (channel, sentOnChannel[channel, default: 0])
                sentOnChannel[channel, default: 0] += 1
            case .confirm:
                confirmed.insert(attempt)
            case .deliver where event.actor == reader:
                replay.append(event)
            default:
                break
            }
        }
        findings.confirmedAttempts = confirmed.count
        findings.length = length
        findings.replayed = replay.count
        guard let reader else {
            findings.offsets.append("no reader read the stream from its first offset to its end")
            return findings
        }
        if replay.count != length { findings.offsets.append("\(reader) read \(replay.count) of the \(length) the leader counts") }
        var replayed: Set<AttemptID> = []
        var furthest: [PublisherChannel: (index: Int, attempt: AttemptID)] = [:]
        for (position, event) in replay.enumerated() {
            let attempt = AttemptID(id: MessageID(publisher: event.publisher, sequence: event.sequence), attempt: event.attempt)
            let name = "\(attempt.id.publisher)/\(attempt.id.sequence) (attempt \(attempt.attempt))"
            if event.offset != position { findings.offsets.append("\(reader)'s delivery \(position), \(name), has offset \(event.offset)") }
            if !replayed.insert(attempt).inserted { findings.twice.append("\(name) again at offset \(event.offset)") }
            guard confirmed.contains(attempt), let place = sent[attempt] else { continue }
            if let before = furthest[place.channel], before.index > place.index {
                findings.order.append(
                    "\(name) at offset \(event.offset) after \(before.attempt.id.publisher)/\(before.attempt.id.sequence) (attempt \(before.attempt.attempt)), which \(place.channel.actor) sent after it on channel \(place.channel.channel)")
            } else {
                furthest[place.channel] = (place.index, attempt)
            }
        }
        findings.lost = confirmed.subtracting(replayed).sorted { ($0.id, $0.attempt) < ($1.id, $1.attempt) }
            .map { "\($0.id.publisher)/\($0.id.sequence) (attempt \($0.attempt))" }
        return findings
    }

    /// The exchange remembers every key (its window is larger than a run's keys and has no
    /// TTL), so at most one attempt of a key is ever stored: deliveries of one key, however
    /// many (redeliveries are allowed), all carry the same attempt.
    static func checkDeduplication(_ events: [Event], queue: Int) -> DeduplicationFindings {
        var findings = DeduplicationFindings()
        var published: [MessageID: Set<Int>] = [:]
        var confirmed: [MessageID: Set<Int>] = [:]
        var delivered: [MessageID: Set<Int>] = [:]
        for event in events where event.queue == queue && event.sequence >= 0 {
            let id = MessageID(publisher: event.publisher, sequence: event.sequence)
            switch event.kind {
            case .publish: published[id, default: []].insert(event.attempt)
            case .confirm: confirmed[id, default: []].insert(event.attempt)
            case .deliver: delivered[id, default: []].insert(event.attempt)
            default: break
            }
        }
        findings.keys = published.count
        findings.retriedKeys = published.values.filter { $0.count > 1 }.count
        for (id, attempts) in delivered.sorted(by: { $0.key < $1.key }) {
            if attempts.count > 1 {
                findings.storedTwice.append("\(id.publisher)/\(id.sequence): attempts \(attempts.sorted().map(String.init).joined(separator: ", ")) delivered")
            }
            findings.duplicatesDropped += confirmed[id, default: []].subtracting(attempts).count
        }
        return findings
    }

    /// While the cluster is settled, no consumer of the queue gets a delivery while another
    /// holds one: from the record of its delivery to the record of its ack or requeue (made
    /// before either is sent), or its crash, cancel or lost connection. Both the hold and the
    /// delivery must lie in settled time: a consumer cut off from the leader keeps what it
    /// holds while the leader gives its session up and hands over, as RabbitMQ's do.
    static func checkSingleActive(_ events: [Event], queue: Int, spans: [ClosedRange<Int64>]) -> SingleActiveFindings {
        var findings = SingleActiveFindings()
        var consumers: Set<String> = []
        var holds: [String: [(id: MessageID, since: Int64)]] = [:]
        var previous: String?
        for event in events {
            if event.kind == .connect, event.queue == queue { consumers.insert(event.actor) }
            guard consumers.contains(event.actor) else { continue }
            let id = MessageID(publisher: event.publisher, sequence: event.sequence)
            switch event.kind {
            case .deliver where event.queue == queue:
                findings.deliveries += 1
                findings.deliveriesByConsumer[event.actor, default: 0] += 1
                if let previous, previous != event.actor { findings.handovers += 1 }
                previous = event.actor
                if settled(spans, from: event.millis, to: event.millis) {
                    findings.checked += 1
                    for (other, held) in holds where other != event.actor {
                        guard let hold = held.first(where: { settled(spans, from: $0.since, to: event.millis) }) else { continue }
                        findings.overlaps.append(
                            "\(event.actor) got \(id.publisher)/\(id.sequence) at \(event.millis) ms while \(other) held \(hold.id.publisher)/\(hold.id.sequence) since \(hold.since) ms")
                    }
                }
                holds[event.actor, default: []].append((id, event.millis))
            case .ack, .requeue, .reject:
                if let index = holds[event.actor]?.firstIndex(where: { $0.id == id }) { holds[event.actor]?.remove(at: index) }
            case .crash, .cancel, .disconnect, .channelClosed, .connect:
                holds[event.actor] = []
            default:
                break
            }
        }
        return findings
    }

    /// Every stalled delivery is delivered again (to any consumer, or the drain); a stall
    /// whose bound passed without a cancel while its connection stayed up is a violation when
    /// the cluster was settled throughout (a new leader may hand the delivery to another
    /// consumer, leaving nothing to cancel); no consumer channel is closed by the broker; and
    /// the probe after the drain had its stall cancelled.
    static func checkTimeouts(_ events: [Event], queue: Int, spans: [ClosedRange<Int64>], probed: Bool) -> TimeoutFindings {
        var findings = TimeoutFindings()
        var lastDelivery: [MessageID: Int] = [:]
        var stalls: [(index: Int, event: Event)] = []
        var stallStart: [String: Int64] = [:]
        for (index, event) in events.enumerated() {
            let id = MessageID(publisher: event.publisher, sequence: event.sequence)
            switch event.kind {
            case .deliver where event.queue == queue:
                lastDelivery[id] = index
            case .stall:
                findings.stalls += 1
                stalls.append((index, event))
                stallStart[event.actor] = event.millis
            case .cancel:
                if event.detail.hasPrefix("after a stall") {
                    findings.cancelsAfterStall += 1
                    if event.actor == "probe" { findings.probeCancels += 1 }
                } else {
                    findings.cancelsWithoutStall += 1
                }
            case .uncancelled:
                let since = stallStart[event.actor] ?? event.millis
                if settled(spans, from: since, to: event.millis) {
                    findings.uncancelled.append("\(event.actor)'s stall from \(since) ms had no cancel by \(event.millis) ms")
                } else {
                    findings.uncancelledUnsettled += 1
                }
            case .channelClosed:
                findings.channelsClosed.append("\(event.actor) at \(event.millis) ms: \(event.detail)")
            default:
                break
            }
        }
        for (index, stall) in stalls where (lastDelivery[MessageID(publisher: stall.publisher, sequence: stall.sequence)] ?? -1) < index {
            findings.notDeliveredAgain.append("\(stall.actor)'s \(stall.publisher)/\(stall.sequence), kept at \(stall.millis) ms")
        }
        if probed, findings.probeCancels == 0 { findings.probe.append("the probe's stall was never cancelled") }
        return findings
    }
}
