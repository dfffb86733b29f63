import Broker
import Prometheus

/// What a node counts as it serves, on its event loop: the totals behind RabbitMQ's
/// `rabbitmq_global_*` metrics and the management API's `message_stats`.
///
/// Counted where the work is done: publishes, confirms, deliveries and acknowledgements on
/// the leader (a follower relays its clients' channels there), so the leader's totals are
/// the cluster's; connections on the node the client is connected to.
struct ActivityCounts: Equatable, Sendable {
    var received: UInt64 = 0
    var confirmed: UInt64 = 0
    var routed: UInt64 = 0
    var unroutableDropped: UInt64 = 0
    var unroutableReturned: UInt64 = 0
    var consumedManualAck: UInt64 = 0
    var consumedAutoAck: UInt64 = 0
    var gotManualAck: UInt64 = 0
    var gotAutoAck: UInt64 = 0
    var getEmpty: UInt64 = 0
    var redelivered: UInt64 = 0
    var acknowledged: UInt64 = 0
    var connectionsOpened: UInt64 = 0
    var connectionsClosed: UInt64 = 0
    /// Messages that died (RabbitMQ's `rabbitmq_global_messages_dead_lettered_*_total`), by
    /// why, the source's queue type and its dead-letter strategy; and, as `confirmed`, those
    /// an at-least-once queue forwarded to every target.
    var deadLettered: [DeadLetterSeries: UInt64] = [:]

    struct DeadLetterSeries: Hashable, Sendable {
        /// `rejected`, `expired`, `maxlen`, `delivery_limit`, or `confirmed`.
        var counter: String
        var queueType: String
        var strategy: String
    }

    /// Every delivery: to consumers and by basic.get, acknowledged or not.
    var delivered: UInt64 { consumedManualAck + consumedAutoAck + gotManualAck + gotAutoAck }

    /// Messages the commands settle (acknowledged, or taken by a no-ack consumer).
    static func messagesSettled(by commands: [BrokerCommand]) -> Int {
        commands.reduce(0) { total, command in
            if case .settle(let batch) = command { return total + batch.ids.count }
            return total
        }
    }

    /// The dead-letter counters' names (RabbitMQ's) and help lines, by `DeadLetterSeries.counter`.
    static let deadLetterCounters: [(counter: String, help: String)] = [
        ("confirmed", "Messages an at-least-once queue dead-lettered and every target took"),
        ("delivery_limit", "Messages dead-lettered past their delivery limit"),
        ("expired", "Messages dead-lettered when their TTL ran out"),
        ("maxlen", "Messages dead-lettered by a queue's length limit"),
        ("rejected", "Messages dead-lettered when a consumer rejected them"),
    ]

    /// The Prometheus counters, by RabbitMQ's names: the global ones are labelled with the
    /// protocol, as RabbitMQ labels them.
    static let exposed: [(name: String, help: String, global: Bool, value: any KeyPath<ActivityCounts, UInt64> & Sendable)] = [
        ("rabbitmq_global_messages_received_total", "Messages published by clients", true, \.received),
        ("rabbitmq_global_messages_confirmed_total", "Messages confirmed to publishers", true, \.confirmed),
        ("rabbitmq_global_messages_routed_total", "Messages routed to at least one queue", true, \.routed),
        ("rabbitmq_global_messages_unroutable_dropped_total", "Messages routed to no queue and dropped", true, \.unroutableDropped),
        ("rabbitmq_global_messages_unroutable_returned_total", "Messages routed to no queue and returned to the publisher", true, \.unroutableReturned),
        ("rabbitmq_global_messages_delivered_total", "Messages delivered to consumers and basic.get", true, \.delivered),
        ("rabbitmq_global_messages_delivered_consume_manual_ack_total", "Messages delivered to consumers that acknowledge", true, \.consumedManualAck),
        ("rabbitmq_global_messages_delivered_consume_auto_ack_total", "Messages delivered to consumers in no-ack mode", true, \.consumedAutoAck),
        ("rabbitmq_global_messages_delivered_get_manual_ack_total", "Messages fetched by basic.get to be acknowledged", true, \.gotManualAck),
        ("rabbitmq_global_messages_delivered_get_auto_ack_total", "Messages fetched by basic.get in no-ack mode", true, \.gotAutoAck),
        ("rabbitmq_global_messages_get_empty_total", "basic.get answered with get-empty", true, \.getEmpty),
        ("rabbitmq_global_messages_redelivered_total", "Messages delivered again after a requeue or a lost consumer", true, \.redelivered),
        ("rabbitmq_global_messages_acknowledged_total", "Messages acknowledged by consumers", true, \.acknowledged),
        ("rabbitmq_connections_opened_total", "Client connections opened on this node", false, \.connectionsOpened),
        ("rabbitmq_connections_closed_total", "Client connections closed on this node", false, \.connectionsClosed),
    ]
}

/// One queue's messages on the leader: the totals behind its `message_stats`.
struct QueueActivity: Equatable, Sendable {
    var published: UInt64 = 0
    var delivered: UInt64 = 0
    var acknowledged: UInt64 = 0
    var redelivered: UInt64 = 0
}

/// Rates of counts, per second, over the last sampling interval, as RabbitMQ's management
/// API reports them (`publish_details.rate`...).
struct RateSampler<Counts> {
    /// RabbitMQ's sample interval.
    static var intervalMs: Int64 { 5_000 }

    private var previous: (at: Int64, counts: Counts)?
    private var latest: (at: Int64, counts: Counts)?

    mutating func sample(_ counts: Counts, at now: Int64) {
        previous = latest
        latest = (now, counts)
    }

    /// The rate of one count (nil in a sample: 0 then); 0 before two samples.
    func rate(_ value: (Counts) -> UInt64?) -> Double {
        guard let previous, let latest, latest.at > previous.at, let now = value(latest.counts) else { return 0 }
        return Double(now &- (value(previous.counts) ?? 0)) * 1_000 / Double(latest.at - previous.at)
    }
}

/// The node's histograms, recorded from the persist lane's thread as it syncs; each node
/// has a registry of its own, so nodes in one process (the tests) record apart.
final class NodeMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    /// How long a synced write of the log took (entries, hard state, one fdatasync), and how
    /// many entries it carried.
    let syncSeconds: DurationHistogram
    let syncBatchEntries: ValueHistogram

    /// Buckets of a sync's duration: an SSD's 100 µs to a loaded disk's seconds.
    static let syncBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2.5),
    ]
    static let batchBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384]

    init() {
        syncSeconds = registry.makeDurationHistogram(
            descriptor: Self.named("berth_log_sync_seconds", "Synced writes of the Raft log: entries, hard state and one fdatasync"), buckets: Self.syncBuckets)
        syncBatchEntries = registry.makeValueHistogram(
            descriptor: Self.named("berth_log_sync_batch_entries", "Entries carried by one synced write of the Raft log"), buckets: Self.batchBuckets)
    }

    /// A metric's whole name, as RabbitMQ spells it, with its help line.
    static func named(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// One synced write of the log.
    func synced(entries: Int, took duration: Duration) {
        syncSeconds.record(duration)
        syncBatchEntries.record(Double(entries))
    }
}
