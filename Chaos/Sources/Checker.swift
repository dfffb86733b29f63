/// A fault window as it happened: which node it hit and when (milliseconds from the start).
struct WindowRecord: Sendable {
    var window: FaultWindow
    var target: String
    var startMillis: Int64
    var healMillis: Int64
    var endMillis: Int64
}

/// What the checker found in a history, and whether it is a pass.
struct Verdict: Sendable {
    var messages = 0
    var publishAttempts = 0
    var confirmed = 0
    var nacks = 0
    var indeterminate = 0
    var unconfirmedNotDelivered = 0
    var deliveries = 0
    var lost: [MessageID] = []
    /// The lost messages with a delivered message of the same publisher and queue on either
    /// side: a hole in the stream rather than its unconfirmed-looking tail.
    var lostInTheMiddle: [MessageID] = []
    var unexpected: [String] = []
    var orderViolations: [String] = []
    /// Deliveries of a delayed publish before its delay was over.
    var early: [String] = []
    var delayedPublishes = 0
    /// Of those, held by their quorum queue (`x-opt-delivery-delay`) rather than the exchange.
    var heldByQueuePublishes = 0
    var duplicated = 0
    var redelivered = 0
    var recovered = 0
    var requeues = 0
    var rejects = 0
    var deadLettered = 0
    var consumerCrashes = 0
    // Found outside the history, by the harness.
    var queuesNotEmpty: [String] = []
    var disagreement: [String] = []
    var nodeExits: [String] = []
    var harnessErrors: [String] = []
    /// The feature queues' rules, when the run had them.
    var features: FeatureFindings?

    var violations: [String] {
        var found: [String] = []
        if !lost.isEmpty { found.append("lost \(lost.count): " + lost.prefix(10).map { "\($0.publisher)/\($0.sequence)" }.joined(separator: " ")) }
        if !unexpected.isEmpty { found.append("unexpected \(unexpected.count): " + unexpected.prefix(5).joined(separator: "; ")) }
        if !orderViolations.isEmpty { found.append("order \(orderViolations.count): " + orderViolations.prefix(5).joined(separator: "; ")) }
        if !early.isEmpty { found.append("early \(early.count): " + early.prefix(5).joined(separator: "; ")) }
        if !queuesNotEmpty.isEmpty { found.append("not empty after the drain: " + queuesNotEmpty.joined(separator: ", ")) }
        if !disagreement.isEmpty { found.append("nodes disagree: " + disagreement.joined(separator: "; ")) }
        found += features?.violations ?? []
        found += nodeExits.map { "node exit: \($0)" }
        found += harnessErrors.map { "harness: \($0)" }
        return found
    }

    var passed: Bool { violations.isEmpty }
}

enum Checker {
    /// Reads the history: every confirmed message delivered, nothing delivered that was not
    /// published (to that queue), and no consumer getting a confirmed publish for the first
    /// time after a later message from the same publisher and queue that was published only
    /// once the first was confirmed (the broker had it first, so FIFO must hand it out first),
    /// among messages of one priority.
    /// The order holds per attempt: an earlier attempt whose confirm never came may reach the
    /// queue late (held by a paused node) and is then a duplicate, not a reorder. A delayed
    /// publish (through the x-delayed-message exchange) is outside the order, but must not
    /// reach its queue before its delay is over, counted from when it was sent (the leader
    /// stamps it later still).
    /// With `features`, the feature queues' rules too (`checkFeatures`).
    static func check(_ events: [Event], deadLetterQueue: Int, features: FeatureRun? = nil) -> Verdict {
        var verdict = Verdict()
        var publishedQueue: [MessageID: Int] = [:]
        var confirmWatermark: [AttemptID: Int] = [:]
        var confirmedMessages: Set<MessageID> = []
        var deliveryCount: [MessageID: Int] = [:]
        var attemptDelivered: Set<AttemptID> = []
        var freshDeliveryCount: [MessageID: Int] = [:]
        var publishedPriority: [MessageID: Int] = [:]
        /// Per consumer, publisher, queue and priority: the highest sequence number first
        /// delivered so far.
        struct StreamKey: Hashable {
            var actor: String
            var publisher: Int
            var queue: Int
            var priority: Int
        }
        var highestFresh: [StreamKey: Int] = [:]
        var rejected: Set<MessageID> = []
        /// Rejected and not delivered since: the reject either dead-lettered it or was lost
        /// with its connection (then the queue delivers it again); either way it comes again.
        var awaitingAfterReject: Set<MessageID> = []
        /// Delayed attempts: when each was sent and its delay.
        var delayed: [AttemptID: (sentMillis: Int64, delayMillis: Int)] = [:]
        for event in events {
            let id = MessageID(publisher: event.publisher, sequence: event.sequence)
            let attempt = AttemptID(id: id, attempt: event.attempt)
            switch event.kind {
            case .publish:
                verdict.publishAttempts += 1
                publishedQueue[id] = event.queue
                publishedPriority[id] = event.priority
                if event.delayMillis > 0 {
                    verdict.delayedPublishes += 1
                    if event.detail == Workload.heldByQueue { verdict.heldByQueuePublishes += 1 }
                    delayed[attempt] = (event.millis, event.delayMillis)
                }
            case .confirm:
                confirmedMessages.insert(id)
                if confirmWatermark[attempt] == nil { confirmWatermark[attempt] = event.watermark }
            case .nack:
                verdict.nacks += 1
            case .indeterminate:
                verdict.indeterminate += 1
            case .requeue:
                verdict.requeues += 1
            case .reject:
                verdict.rejects += 1
                rejected.insert(id)
                awaitingAfterReject.insert(id)
            case .crash:
                verdict.consumerCrashes += 1
            case .deliver:
                verdict.deliveries += 1
                if event.redelivered { verdict.redelivered += 1 }
                awaitingAfterReject.remove(id)
                // The dead-letter queue holds only what a consumer rejected, with its x-death
                // header right (the workload notes a wrong one in `detail`).
                if event.queue == deadLetterQueue {
                    guard event.sequence >= 0, publishedQueue[id] != nil, rejected.contains(id), event.detail.isEmpty else {
                        verdict.unexpected.append("\(event.actor) at \(event.millis) ms: \(id.publisher)/\(id.sequence) dead-lettered: \(event.detail.isEmpty ? "never rejected" : event.detail)")
                        continue
                    }
                    verdict.deadLettered += 1
                    deliveryCount[id, default: 0] += 1
                    continue
                }
                guard event.sequence >= 0, let queue = publishedQueue[id], queue == event.queue else {
                    verdict.unexpected.append("\(event.actor) at \(event.millis) ms: \(event.sequence >= 0 ? "\(id.publisher)/\(id.sequence)" : "") \(event.detail.isEmpty ? "never published" : event.detail)")
                    continue
                }
                let isFirst = attemptDelivered.insert(attempt).inserted
                deliveryCount[id, default: 0] += 1
                if !event.redelivered { freshDeliveryCount[id, default: 0] += 1 }
                if let held = delayed[attempt] {
                    let due = held.sentMillis + Int64(held.delayMillis)
                    if event.millis < due - delayToleranceMillis {
                        verdict.early.append(
                            "\(event.actor) got \(id.publisher)/\(id.sequence) (attempt \(event.attempt)) at \(event.millis) ms, \(due - event.millis) ms before its \(held.delayMillis) ms delay was over")
                    }
                    continue
                }
                guard isFirst, !event.redelivered else { continue }
                let key = StreamKey(actor: event.actor, publisher: id.publisher, queue: queue, priority: publishedPriority[id] ?? 0)
                if let watermark = confirmWatermark[attempt], let highest = highestFresh[key], highest >= watermark {
                    verdict.orderViolations.append(
                        "\(event.actor) got \(id.publisher)/\(id.sequence) (attempt \(event.attempt)) at \(event.millis) ms after \(id.publisher)/\(highest), which was published after it was confirmed")
                }
                highestFresh[key] = max(highestFresh[key] ?? -1, id.sequence)
            case .unsent, .ack, .fault, .heal, .connect, .disconnect, .stall, .cancel, .uncancelled, .channelClosed, .leader:
                break
            }
        }
        if let features { verdict.features = checkFeatures(events, run: features) }
        verdict.messages = publishedQueue.count
        verdict.confirmed = confirmedMessages.count
        verdict.lost = confirmedMessages.filter { deliveryCount[$0] == nil }.union(awaitingAfterReject).sorted()
        verdict.lostInTheMiddle = inTheMiddle(verdict.lost, delivered: Array(deliveryCount.keys), publishedQueue: publishedQueue)
        verdict.recovered = deliveryCount.keys.filter { !confirmedMessages.contains($0) }.count
        verdict.unconfirmedNotDelivered = publishedQueue.keys.filter { !confirmedMessages.contains($0) && deliveryCount[$0] == nil }.count
        verdict.duplicated = freshDeliveryCount.values.filter { $0 > 1 }.count
        return verdict
    }

    /// How much earlier than due a delayed message may arrive: the harness's clock and the
    /// leader's (which stamps the publish) are read separately, to the millisecond.
    static let delayToleranceMillis: Int64 = 20

    /// The messages of `lost` whose sequence number lies between two delivered ones of the
    /// same publisher and queue.
    static func inTheMiddle(_ lost: [MessageID], delivered: [MessageID], publishedQueue: [MessageID: Int]) -> [MessageID] {
        struct Stream: Hashable {
            var publisher: Int
            var queue: Int
        }
        var deliveredSpan: [Stream: ClosedRange<Int>] = [:]
        for id in delivered {
            guard let queue = publishedQueue[id] else { continue }
            let stream = Stream(publisher: id.publisher, queue: queue)
            let span = deliveredSpan[stream] ?? id.sequence...id.sequence
            deliveredSpan[stream] = min(span.lowerBound, id.sequence)...max(span.upperBound, id.sequence)
        }
        return lost.filter { id in
            guard let queue = publishedQueue[id], let span = deliveredSpan[Stream(publisher: id.publisher, queue: queue)] else { return false }
            return span.lowerBound < id.sequence && id.sequence < span.upperBound
        }
    }

    /// The share of whole seconds in `from..<to` (ms) in which at least one publish was confirmed.
    static func availability(_ confirmMillis: [Int64], from: Int64, to: Int64) -> (available: Int, seconds: Int) {
        let seconds = Int(max(0, (to - from) / 1000))
        guard seconds > 0 else { return (0, 0) }
        var covered = Set<Int>()
        for millis in confirmMillis where millis >= from && millis < from + Int64(seconds) * 1000 {
            covered.insert(Int((millis - from) / 1000))
        }
        return (covered.count, seconds)
    }

    /// The longest stretch (ms) in `from..<to` without a confirm, counting both ends as edges.
    static func longestGap(_ confirmMillis: [Int64], from: Int64, to: Int64) -> Int64 {
        var edges = confirmMillis.filter { $0 >= from && $0 < to }.sorted()
        edges.insert(from, at: 0)
        edges.append(max(from, to))
        return zip(edges, edges.dropFirst()).map { $1 - $0 }.max() ?? 0
    }

    /// How long (ms) after `heal` the first confirm came, if one came before `end`.
    static func recovery(_ confirmMillis: [Int64], heal: Int64, end: Int64) -> Int64? {
        confirmMillis.filter { $0 >= heal && $0 < end }.min().map { $0 - heal }
    }

    /// The summary table, one row per fault window, then availability per fault kind.
    static func table(_ events: [Event], windows: [WindowRecord]) -> String {
        let confirms = events.filter { $0.kind == .confirm }.map(\.millis)
        var rows = [[
            "#", "fault", "target", "start s", "hold s", "published", "confirmed", "nacked", "indeterminate", "delivered",
            "avail fault", "avail after", "gap s", "recover s",
        ]]
        var byKind: [FaultKind: (available: Int, seconds: Int)] = [:]
        for record in windows {
            let inWindow = events.filter { $0.millis >= record.startMillis && $0.millis < record.endMillis }
            func count(_ kind: Event.Kind) -> Int { inWindow.filter { $0.kind == kind }.count }
            let during = availability(confirms, from: record.startMillis, to: record.healMillis)
            let after = availability(confirms, from: record.healMillis, to: record.endMillis)
            let total = byKind[record.window.kind] ?? (0, 0)
            byKind[record.window.kind] = (total.available + during.available, total.seconds + during.seconds)
            rows.append([
                "\(record.window.number)", record.window.kind.rawValue, record.target,
                seconds(record.startMillis), seconds(record.healMillis - record.startMillis),
                "\(count(.publish))", "\(count(.confirm))", "\(count(.nack))", "\(count(.indeterminate))", "\(count(.deliver))",
                percent(during), percent(after),
                seconds(longestGap(confirms, from: record.startMillis, to: record.endMillis)),
                recovery(confirms, heal: record.healMillis, end: record.endMillis).map(seconds) ?? "-",
            ])
        }
        var text = format(rows)
        text += "\navailability per fault kind (seconds with a confirm / seconds of fault):\n"
        var kindRows = [["fault", "windows", "available", "seconds", "share"]]
        for kind in FaultKind.allCases {
            guard let total = byKind[kind] else { continue }
            kindRows.append([kind.rawValue, "\(windows.filter { $0.window.kind == kind }.count)", "\(total.available)", "\(total.seconds)", percent(total)])
        }
        return text + format(kindRows)
    }

    static func seconds(_ millis: Int64) -> String {
        "\(millis / 1000).\(millis % 1000 / 100)"
    }

    static func percent(_ share: (available: Int, seconds: Int)) -> String {
        share.seconds == 0 ? "-" : "\(share.available * 100 / share.seconds)%"
    }

    static func format(_ rows: [[String]]) -> String {
        let widths = (0..<(rows.first?.count ?? 0)).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            zip(row, widths).map { cell, width in String(repeating: " ", count: width - cell.count) + cell }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    static func counts(_ verdict: Verdict) -> String {
        """
        messages \(verdict.messages) (publishes \(verdict.publishAttempts)), confirmed \(verdict.confirmed), nacks \(verdict.nacks), indeterminate confirms \(verdict.indeterminate)
        deliveries \(verdict.deliveries), requeued by consumers \(verdict.requeues), rejected \(verdict.rejects) (dead-lettered deliveries \(verdict.deadLettered)), consumer crashes \(verdict.consumerCrashes)
        lost \(lostSummary(verdict)), unexpected \(verdict.unexpected.count), order \(verdict.orderViolations.count), delayed publishes \(verdict.delayedPublishes) (\(verdict.heldByQueuePublishes) held by their queue), early \(verdict.early.count)
        duplicated \(verdict.duplicated), redelivered \(verdict.redelivered), recovered \(verdict.recovered), unconfirmed and never delivered \(verdict.unconfirmedNotDelivered)
        queues not empty after the drain \(verdict.queuesNotEmpty.count), node disagreements \(verdict.disagreement.count), unexpected node exits \(verdict.nodeExits.count)

        """ + (verdict.features.map(featureCounts) ?? "")
    }

    static func featureCounts(_ features: FeatureFindings) -> String {
        let stream = features.stream
        let dedup = features.deduplication
        let single = features.singleActive
        let timeouts = features.timeouts
        let byConsumer = single.deliveriesByConsumer.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return """
        stream: publishes \(stream.publishAttempts), confirmed \(stream.confirmedAttempts), length \(stream.length), replayed from the first offset \(stream.replayed); lost \(stream.lost.count), offsets \(stream.offsets.count), twice \(stream.twice.count), order \(stream.order.count)
        deduplication: keys \(dedup.keys), retried \(dedup.retriedKeys), confirmed duplicates dropped \(dedup.duplicatesDropped), stored twice \(dedup.storedTwice.count)
        single active consumer: deliveries \(single.deliveries) (\(byConsumer)), handovers \(single.handovers), checked in settled time \(single.checked), overlaps \(single.overlaps.count)
        consumer timeout: stalls \(timeouts.stalls), cancels after a stall \(timeouts.cancelsAfterStall) (the probe's \(timeouts.probeCancels)), cancels without a stall \(timeouts.cancelsWithoutStall), uncancelled while unsettled \(timeouts.uncancelledUnsettled), uncancelled \(timeouts.uncancelled.count), not delivered again \(timeouts.notDeliveredAgain.count), channels closed \(timeouts.channelsClosed.count)

        """
    }

    /// "3 (in the middle 2: 1/17 1/18)": how many were lost and how many of them were holes.
    static func lostSummary(_ verdict: Verdict) -> String {
        guard !verdict.lost.isEmpty else { return "0" }
        let examples = verdict.lostInTheMiddle.prefix(5).map { "\($0.publisher)/\($0.sequence)" }
        return "\(verdict.lost.count) (in the middle \(verdict.lostInTheMiddle.count)" + (examples.isEmpty ? "" : ": " + examples.joined(separator: " ")) + ")"
    }
}
