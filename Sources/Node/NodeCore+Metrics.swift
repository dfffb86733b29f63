import Broker
import PeerWire
import Prometheus
import Raft
import StatusAPI

/// The Prometheus text a scrape reads: the histograms `NodeMetrics` recorded, then what the
/// node counted (`ActivityCounts`) and what is read off its state now, in a registry made for
/// this scrape alone (so that a deleted queue's series goes with it). RabbitMQ's names where
/// it has them:
/// - the queues' messages are reported by the node that leads them, as RabbitMQ's node
///   hosting a quorum queue's leader does, so that a dashboard's sum over nodes counts each
///   message once; `/metrics` sums them over the queues, `/metrics/per-object` gives each
///   queue its series (labels `vhost`, `queue`), as RabbitMQ's two endpoints do;
/// - Raft's term and indexes, connections, channels, alarms and resources are each node's own.
extension NodeCore {
    func prometheusText(perObject: Bool) -> [UInt8] {
        let scrape = PrometheusCollectorRegistry()
        func gauge(_ name: String, _ value: some BinaryInteger, labels: [(String, String)] = [], _ help: String) {
            Self.gauge(name, labels: labels, help: help, in: scrape).set(Double(value))
        }
        let raft = group.core
        let node = ManagementRoutes.nodeName(raft.id)
        gauge("rabbitmq_identity_info", 1, labels: [("rabbitmq_node", node), ("rabbitmq_cluster", Self.clusterName)], "Who this node is")
        gauge("rabbitmq_build_info", 1, labels: [("rabbitmq_version", BerthVersion.rabbitmqCompatible), ("product", "Berth"),
                                                 ("product_version", BerthVersion.current)], "What this node runs")

        gauge("rabbitmq_connections", clientSockets, "Client connections open on this node")
        gauge("rabbitmq_channels", channelCount, "Channels this node serves: the leader serves every channel of the cluster")
        addQueueGauges(to: scrape, perObject: perObject)

        gauge("rabbitmq_raft_term_total", raft.term, "The current Raft term")
        gauge("rabbitmq_raft_log_commit_index", raft.commitIndex, "Raft's commit index")
        gauge("rabbitmq_raft_log_last_applied_index", raft.appliedIndex, "The last entry applied to the broker state")
        gauge("rabbitmq_raft_log_last_written_index", raft.lastIndex, "The last entry in this node's log")
        gauge("rabbitmq_raft_log_snapshot_index", max(raft.firstIndex, 1) - 1, "The last entry covered by the latest snapshot")
        let role = role(of: raft).rawValue
        for candidate in NodeRole.allCases.map(\.rawValue) {
            gauge("berth_raft_role", candidate == role ? 1 : 0, labels: [("role", candidate)], "1 for this node's Raft role, 0 for the others")
        }
        gauge("berth_raft_voters", raft.membership.voters.count, "Voting members of the Raft group")
        if raft.role == .leader {
            for member in raft.membership.all.subtracting([raft.id]).sorted() {
                guard let match = raft.matchIndex(of: member) else { continue }
                gauge("berth_raft_follower_lag_entries", raft.lastIndex - min(match, raft.lastIndex), labels: [("member", "\(member)")],
                      "Entries of the leader's log a member has not yet stored")
            }
        }
        var statuses: [String: Int] = [:]
        for member in gossipMembers.values { statuses["\(member.status)", default: 0] += 1 }
        for status in ["alive", "suspect", "dead", "left"] {
            gauge("berth_gossip_members", statuses[status] ?? 0, labels: [("state", status)], "Other members by their gossip state")
        }

        let own = resources.alarms
        gauge("rabbitmq_alarms_memory_used_watermark", own.memory ? 1 : 0, "1 while this node's memory alarm is set")
        gauge("rabbitmq_alarms_free_disk_space_watermark", own.disk ? 1 : 0, "1 while this node's disk alarm is set")
        gauge("berth_publishers_blocked", blockingAlarms.isSet ? 1 : 0, "1 while an alarm anywhere in the cluster blocks this node's publishers")
        gauge("rabbitmq_process_resident_memory_bytes", resources.residentBytes, "Resident memory of this node's process")
        gauge("rabbitmq_resident_memory_limit_bytes", resources.limits.memoryHighWatermarkBytes, "The memory high watermark")
        gauge("rabbitmq_disk_space_available_bytes", resources.diskFreeBytes, "Free space on the data directory's file system")
        gauge("rabbitmq_disk_space_available_limit_bytes", resources.limits.diskFreeLimitBytes, "The free disk limit")
        if let snapshot = snapshots.latestBytes {
            gauge("berth_snapshot_bytes", snapshot, "The size of this node's latest snapshot file")
        }

        for counter in ActivityCounts.exposed {
            let descriptor = NodeMetrics.named(counter.name, counter.help)
            let made = counter.global ? scrape.makeCounter(descriptor: descriptor, labels: [("protocol", "amqp091")]) : scrape.makeCounter(descriptor: descriptor)
            made.increment(by: Int64(clamping: activity[keyPath: counter.value]))
        }

        for (counter, help) in ActivityCounts.deadLetterCounters {
            let descriptor = NodeMetrics.named("rabbitmq_global_messages_dead_lettered_\(counter)_total", help)
            for (series, value) in activity.deadLettered where series.counter == counter {
                scrape.makeCounter(descriptor: descriptor, labels: [("queue_type", series.queueType), ("dead_letter_strategy", series.strategy)])
                    .increment(by: Int64(clamping: value))
            }
        }

        var text = metrics.registry.emitToBuffer()
        scrape.emit(into: &text)
        return text
    }

    /// The name the management API and the metrics give the cluster.
    static let clusterName = "berth"

    private func addQueueGauges(to scrape: PrometheusCollectorRegistry, perObject: Bool) {
        guard isLeading else { return }
        struct Totals { var ready = 0, unacked = 0, consumers = 0 }
        var totals = Totals()
        let names = state.allQueueNames
        for name in names {
            let counts = counts(of: name)
            let queue = Totals(ready: counts.messages, unacked: messagesOut(of: name).count, consumers: counts.consumers)
            totals.ready += queue.ready
            totals.unacked += queue.unacked
            totals.consumers += queue.consumers
            if perObject { addQueueSeries(queue.ready, queue.unacked, queue.consumers, labels: [("vhost", name.vhost), ("queue", name.name)], to: scrape) }
        }
        Self.gauge("rabbitmq_queues", labels: [], help: "Queues led by this node", in: scrape).set(Double(names.count))
        Self.gauge("rabbitmq_consumers", labels: [], help: "Consumers of the queues led by this node", in: scrape).set(Double(totals.consumers))
        if !perObject { addQueueSeries(totals.ready, totals.unacked, totals.consumers, labels: [], to: scrape) }
    }

    private func addQueueSeries(_ ready: Int, _ unacked: Int, _ consumers: Int, labels: [(String, String)], to scrape: PrometheusCollectorRegistry) {
        Self.gauge("rabbitmq_queue_messages_ready", labels: labels, help: "Messages ready to be delivered", in: scrape).set(Double(ready))
        Self.gauge("rabbitmq_queue_messages_unacked", labels: labels, help: "Messages delivered and not yet acknowledged", in: scrape).set(Double(unacked))
        Self.gauge("rabbitmq_queue_messages", labels: labels, help: "Messages ready and unacknowledged", in: scrape).set(Double(ready + unacked))
        Self.gauge("rabbitmq_queue_consumers", labels: labels, help: "Consumers of the queue", in: scrape).set(Double(consumers))
    }

    /// A family has either one series without labels or labelled ones (the registry's rule).
    private static func gauge(_ name: String, labels: [(String, String)], help: String, in registry: PrometheusCollectorRegistry) -> Gauge {
        let descriptor = NodeMetrics.named(name, help)
        return labels.isEmpty ? registry.makeGauge(descriptor: descriptor) : registry.makeGauge(descriptor: descriptor, labels: labels)
    }
}

extension NodeCore {
    /// This node's message totals and rates, as the management API's `message_stats` gives
    /// them (the leader's are the cluster's).
    var messageStats: MessageStats {
        func count(_ value: KeyPath<ActivityCounts, UInt64>) -> MessageStats.Count {
            MessageStats.Count(total: activity[keyPath: value], ratePerSecond: activityRates.rate { $0[keyPath: value] })
        }
        var stats = MessageStats()
        stats.publish = count(\.received)
        stats.confirm = count(\.confirmed)
        stats.deliverGet = count(\.delivered)
        stats.ack = count(\.acknowledged)
        stats.redeliver = count(\.redelivered)
        return stats
    }
}

/// Counting what the leader does with messages: the node's totals (`activity`) and each
/// queue's (`queueActivity`), sampled for their rates every `RateSampler.intervalMs`.
extension NodeCore {
    func countRouted(to queues: [QueueName]) {
        activity.routed += 1
        for queue in queues { queueActivity[queue, default: QueueActivity()].published += 1 }
    }

    /// A dispatch's deliveries to consumers: a no-ack consumer's are settled as they go,
    /// so the dispatch's settlements are the no-ack ones.
    func countConsumed(_ deliveries: [Delivery], settledBy proposals: [BrokerCommand]) {
        let autoAcked = ActivityCounts.messagesSettled(by: proposals)
        activity.consumedAutoAck += UInt64(autoAcked)
        activity.consumedManualAck += UInt64(deliveries.count - autoAcked)
        countDelivered(deliveries)
    }

    /// One basic.get's delivery.
    func countGot(_ delivery: Delivery, noAck: Bool) {
        if noAck { activity.gotAutoAck += 1 } else { activity.gotManualAck += 1 }
        countDelivered([delivery])
    }

    /// One update of a queue's counts per run of its deliveries (a dispatch serves a queue's
    /// consumers together), not one per message.
    private func countDelivered(_ deliveries: [Delivery]) {
        var start = deliveries.startIndex
        while start < deliveries.endIndex {
            let queue = deliveries[start].queue
            let end = deliveries[start...].firstIndex { $0.queue != queue } ?? deliveries.endIndex
            let redelivered = UInt64(deliveries[start..<end].count(where: \.redelivered))
            activity.redelivered += redelivered
            queueActivity[queue, default: QueueActivity()].delivered += UInt64(end - start)
            queueActivity[queue, default: QueueActivity()].redelivered += redelivered
            start = end
        }
    }

    /// Messages that died, as the leader applies it: a removal for a reason that dead-letters
    /// (whether or not the queue has a dead-letter exchange: RabbitMQ counts those as
    /// `disabled`), and an at-least-once dead letter every target took.
    func countDeadLettered(_ effect: BrokerEffect) {
        let counter: String
        let source: QueueName
        switch effect {
        case .removed(let queue, let ids, let reason):
            switch reason {
            case .rejected: counter = "rejected"
            case .expired: counter = "expired"
            case .maxLength: counter = "maxlen"
            case .deliveryLimit: counter = "delivery_limit"
            case .settled, .purged: return
            }
            guard let settings = state.queue(queue)?.settings else { return }
            activity.deadLettered[Self.deadLetterSeries(counter, settings), default: 0] += UInt64(ids.count)
            return
        case .deadLettered(let record) where !record.pending && record.messageID != nil:
            counter = "confirmed"
            source = record.source
        default:
            return
        }
        guard let settings = state.queue(source)?.settings, settings.deadLettersAtLeastOnce else { return }
        activity.deadLettered[Self.deadLetterSeries(counter, settings), default: 0] += 1
    }

    private static func deadLetterSeries(_ counter: String, _ settings: QueueSettings) -> ActivityCounts.DeadLetterSeries {
        let strategy = settings.deadLetterExchange == nil ? "disabled" : settings.deadLettersAtLeastOnce ? "at_least_once" : "at_most_once"
        return ActivityCounts.DeadLetterSeries(counter: counter, queueType: "rabbit_\(settings.queueType.name)_queue", strategy: strategy)
    }

    /// A client's acknowledgements, as the settlements they became.
    func countAcknowledged(_ commands: [BrokerCommand]) {
        for command in commands {
            guard case .settle(let batch) = command else { continue }
            activity.acknowledged += UInt64(batch.ids.count)
            queueActivity[batch.queue, default: QueueActivity()].acknowledged += UInt64(batch.ids.count)
        }
    }

    /// Takes the samples the rates are made of; a deleted queue's counts go.
    func sampleActivity() {
        queueActivity = queueActivity.filter { state.queue($0.key) != nil }
        activityRates.sample(activity, at: now)
        queueActivityRates.sample(queueActivity, at: now)
    }

    /// One queue's totals and rates, as its `message_stats` gives them.
    func messageStats(of queue: QueueName) -> MessageStats {
        func count(_ value: KeyPath<QueueActivity, UInt64>) -> MessageStats.Count {
            MessageStats.Count(total: queueActivity[queue]?[keyPath: value] ?? 0,
                               ratePerSecond: queueActivityRates.rate { $0[queue]?[keyPath: value] })
        }
        var stats = MessageStats()
        stats.publish = count(\.published)
        stats.deliverGet = count(\.delivered)
        stats.ack = count(\.acknowledged)
        stats.redeliver = count(\.redelivered)
        return stats
    }
}
