import Broker
import Prometheus

/// What a node counts as it serves, for its Prometheus endpoint: RabbitMQ's names where
/// RabbitMQ has a metric for the same thing (`rabbitmq_global_*`), so that its Grafana
/// dashboards read Berth's, and Berth's own (`berth_*`) beside them. Each node has a registry
/// of its own, so nodes in one process (the tests) count apart. Thread-safe: the persist
/// lane records its syncs from its own thread.
///
/// Counted where the work is done: publishes, confirms, deliveries and acknowledgements on
/// the leader (a follower relays its clients' channels there); connections on the node the
/// client is connected to.
final class NodeMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    let messagesReceived: Counter
    let messagesConfirmed: Counter
    let messagesRouted: Counter
    let messagesUnroutableDropped: Counter
    let messagesUnroutableReturned: Counter
    let messagesDelivered: Counter
    let deliveredConsumeManualAck: Counter
    let deliveredConsumeAutoAck: Counter
    let deliveredGetManualAck: Counter
    let deliveredGetAutoAck: Counter
    let getEmpty: Counter
    let messagesRedelivered: Counter
    let messagesAcknowledged: Counter
    let connectionsOpened: Counter
    let connectionsClosed: Counter

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
        let registry = self.registry
        func global(_ name: String, _ help: String) -> Counter {
            registry.makeCounter(descriptor: Self.named("rabbitmq_global_\(name)", help), labels: [("protocol", "amqp091")])
        }
        messagesReceived = global("messages_received_total", "Messages published by clients")
        messagesConfirmed = global("messages_confirmed_total", "Messages confirmed to publishers")
        messagesRouted = global("messages_routed_total", "Messages routed to at least one queue")
        messagesUnroutableDropped = global("messages_unroutable_dropped_total", "Messages routed to no queue and dropped")
        messagesUnroutableReturned = global("messages_unroutable_returned_total", "Messages routed to no queue and returned to the publisher")
        messagesDelivered = global("messages_delivered_total", "Messages delivered to consumers and basic.get")
        deliveredConsumeManualAck = global("messages_delivered_consume_manual_ack_total", "Messages delivered to consumers that acknowledge")
        deliveredConsumeAutoAck = global("messages_delivered_consume_auto_ack_total", "Messages delivered to consumers in no-ack mode")
        deliveredGetManualAck = global("messages_delivered_get_manual_ack_total", "Messages fetched by basic.get to be acknowledged")
        deliveredGetAutoAck = global("messages_delivered_get_auto_ack_total", "Messages fetched by basic.get in no-ack mode")
        getEmpty = global("messages_get_empty_total", "basic.get answered with get-empty")
        messagesRedelivered = global("messages_redelivered_total", "Messages delivered again after a requeue or a lost consumer")
        messagesAcknowledged = global("messages_acknowledged_total", "Messages acknowledged by consumers")
        connectionsOpened = registry.makeCounter(descriptor: Self.named("rabbitmq_connections_opened_total", "Client connections opened on this node"))
        connectionsClosed = registry.makeCounter(descriptor: Self.named("rabbitmq_connections_closed_total", "Client connections closed on this node"))
        syncSeconds = registry.makeDurationHistogram(
            descriptor: Self.named("berth_log_sync_seconds", "Synced writes of the Raft log: entries, hard state and one fdatasync"), buckets: Self.syncBuckets)
        syncBatchEntries = registry.makeValueHistogram(
            descriptor: Self.named("berth_log_sync_batch_entries", "Entries carried by one synced write of the Raft log"), buckets: Self.batchBuckets)
    }

    /// A metric's whole name, as RabbitMQ spells it, with its help line.
    static func named(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// A consumer's deliveries and acknowledgements.
    func delivered(consumedAutoAck: Int, consumedManualAck: Int, redelivered: Int) {
        messagesDelivered.increment(by: Int64(consumedAutoAck + consumedManualAck))
        deliveredConsumeAutoAck.increment(by: Int64(consumedAutoAck))
        deliveredConsumeManualAck.increment(by: Int64(consumedManualAck))
        messagesRedelivered.increment(by: Int64(redelivered))
    }

    /// basic.get's deliveries.
    func delivered(gets: Int, noAck: Bool, redelivered: Int) {
        messagesDelivered.increment(by: Int64(gets))
        (noAck ? deliveredGetAutoAck : deliveredGetManualAck).increment(by: Int64(gets))
        messagesRedelivered.increment(by: Int64(redelivered))
    }

    /// Messages the commands settle (acknowledged, or taken by a no-ack consumer).
    static func messagesSettled(by commands: [BrokerCommand]) -> Int {
        commands.reduce(0) { total, command in
            if case .settle(let batch) = command { return total + batch.ids.count }
            return total
        }
    }

    /// One synced write of the log.
    func synced(entries: Int, took duration: Duration) {
        syncSeconds.record(duration)
        syncBatchEntries.record(Double(entries))
    }
}
