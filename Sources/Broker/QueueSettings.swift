/// A queue's behaviour, read from its declared `x-` arguments and validated the way RabbitMQ
/// validates them, with RabbitMQ's error texts.
public struct QueueSettings: Equatable, Sendable {
    /// What a full queue does with one more message (`x-overflow`).
    public enum Overflow: UInt8, Sendable, CaseIterable {
        /// Drop (or dead-letter, reason `maxlen`) the head to make room. RabbitMQ's default.
        case dropHead = 0
        /// Refuse the new message: the publisher gets a nack.
        case rejectPublish = 1
        /// Refuse it, nack, and dead-letter it (reason `maxlen`).
        case rejectPublishDeadLetter = 2

        public var name: String {
            switch self {
            case .dropHead: return "drop-head"
            case .rejectPublish: return "reject-publish"
            case .rejectPublishDeadLetter: return "reject-publish-dlx"
            }
        }
    }

    /// `x-queue-type`. Classic and quorum queues are replicated alike and differ only in
    /// RabbitMQ's defaults; a stream is an append-only log read by offset (`StreamSettings`).
    public enum QueueType: UInt8, Sendable, CaseIterable {
        case classic = 0
        case quorum = 1
        case stream = 2

        public var name: String {
            switch self {
            case .classic: return "classic"
            case .quorum: return "quorum"
            case .stream: return "stream"
            }
        }
    }

    /// RabbitMQ 4's default `x-delivery-limit` of quorum queues.
    public static let quorumDeliveryLimitDefault: Int64 = 20
    /// Quorum queues always serve priorities 0–31, strictly, as RabbitMQ 4.3's: no
    /// `x-max-priority` is needed (and it is ignored).
    public static let quorumPriorityLevels = 32
    /// The priority a quorum queue gives a message without one, as RabbitMQ 4.3.
    public static let quorumPriorityDefault: UInt8 = 4

    public var queueType: QueueType = .classic
    public var messageTTLMs: Int64?
    /// `x-expires`: delete the queue once unused this long.
    public var expiresMs: Int64?
    /// `x-max-length`: messages held.
    public var lengthMax: Int64?
    /// `x-max-length-bytes`: body bytes held.
    public var lengthBytesMax: Int64?
    public var overflow: Overflow = .dropHead
    public var deadLetterExchange: String?
    public var deadLetterRoutingKey: String?
    /// `x-dead-letter-strategy: at-least-once`; in effect only as `deadLettersAtLeastOnce` says.
    public var deadLetterStrategyAtLeastOnce = false
    /// Returns beyond which a message is dead-lettered (reason `delivery_limit`); nil: unlimited.
    public var deliveryLimit: Int64?
    public var singleActiveConsumer = false
    /// `x-max-priority`: nil for a classic queue without priorities; quorum queues ignore it.
    public var priorityMax: UInt8?
    /// `x-consumer-timeout`, for the node's acknowledgement timeout of this queue's consumers.
    public var consumerTimeoutMs: Int64?
    /// `x-message-deduplication` (the rabbitmq-message-deduplication plugin's): a message
    /// whose `x-deduplication-header` equals that of one the queue holds is not stored.
    public var deduplicates = false
    /// A stream's retention; nil for any other queue type.
    public var stream: StreamSettings?
    /// `x-delayed-retry-type`, `-min`, `-max` (quorum queues): nil when disabled.
    public var delayedRetry: DelayedRetry?

    /// The header that names a message for `deduplicates`.
    public static let deduplicationHeader = "x-deduplication-header"

    /// Whether a dead-lettered message stays in this queue until every queue its dead-letter
    /// exchange routes it to holds it, as RabbitMQ's quorum queues do with
    /// `x-dead-letter-strategy: at-least-once`, `x-overflow: reject-publish` and a dead-letter
    /// exchange. Otherwise (with `drop-head`, as in RabbitMQ) a copy a target refuses is lost.
    public var deadLettersAtLeastOnce: Bool {
        queueType == .quorum && deadLetterStrategyAtLeastOnce && overflow == .rejectPublish && deadLetterExchange != nil
    }

    /// Whether deliveries carry `x-delivery-count` once returned: quorum queues always do, as
    /// in RabbitMQ, and so does any queue with a delivery limit.
    public var countsDeliveries: Bool { queueType == .quorum || deliveryLimit != nil }

    public init() {}

    /// The queue's priority levels, each served before the ones below it.
    public var priorityLevels: Int {
        switch queueType {
        case .quorum: return Self.quorumPriorityLevels
        case .classic: return Int(priorityMax ?? 0) + 1
        case .stream: return 1
        }
    }

    /// The level a message with this `priority` property is served at.
    public func servedPriority(_ priority: UInt8?) -> UInt8 {
        switch queueType {
        case .quorum: return Swift.min(priority ?? Self.quorumPriorityDefault, UInt8(Self.quorumPriorityLevels - 1))
        case .classic: return priorityMax.map { Swift.min(priority ?? 0, $0) } ?? 0
        case .stream: return 0
        }
    }

    /// Whether messages given back are served first, in the order they came back, whatever
    /// their priority (a quorum queue's returns), rather than each in its place by age
    /// within its priority (a classic queue's requeue).
    public var servesReturnsFirst: Bool { queueType == .quorum }

    /// The arguments RabbitMQ compares when a queue is declared again.
    static let equivalenceKeys = [
        "x-dead-letter-exchange", "x-dead-letter-routing-key", "x-expires", "x-max-length",
        "x-max-length-bytes", "x-overflow", "x-single-active-consumer", "x-queue-type",
        "x-delivery-limit", "x-message-ttl", "x-max-priority", "x-consumer-timeout",
        "x-delayed-retry-type", "x-delayed-retry-min", "x-delayed-retry-max",
    ]

    /// Arguments RabbitMQ knows and that change nothing here; accepted, type-checked, stored.
    static let acceptedKeys = [
        "x-dead-letter-strategy", "x-max-in-memory-length", "x-max-in-memory-bytes",
        "x-quorum-initial-group-size", "x-quorum-target-group-size", "x-queue-leader-locator",
        "x-queue-master-locator", "x-queue-mode", "x-queue-version", "x-member-placement-tag",
        "x-consumer-disconnected-timeout", "x-initial-cluster-size", "x-ha-policy",
    ]

    /// Stream-only arguments, refused as RabbitMQ refuses them for a quorum queue.
    static let streamKeys = ["x-max-age", "x-stream-max-segment-size-bytes", "x-stream-filter-size-bytes", "x-stream-offset"]

    /// Quorum-only arguments, refused for a classic queue as RabbitMQ refuses what its type
    /// does not support.
    static let quorumOnlyKeys = ["x-delayed-retry-type", "x-delayed-retry-min", "x-delayed-retry-max"]

    /// Validates `arguments` for a new queue. Non-`x-` arguments are kept and ignored, like
    /// RabbitMQ; unknown `x-` arguments are refused.
    public static func parse(_ arguments: ArgumentTable, for name: QueueName) throws(BrokerError) -> QueueSettings {
        var settings = QueueSettings()
        func fail(_ key: String, _ reason: String) -> BrokerError { .invalidArgument(key, for: name, reason) }

        if let value = arguments["x-queue-type"] {
            guard case .string(let type) = value else { throw fail("x-queue-type", "{unacceptable_type,\(value.typeName)}") }
            guard let known = QueueType.allCases.first(where: { $0.name == type }) else {
                throw fail("x-queue-type", "\"unsupported queue type '\(type)'\"")
            }
            settings.queueType = known
        }
        if settings.queueType == .quorum { settings.deliveryLimit = quorumDeliveryLimitDefault }
        if settings.queueType == .stream {
            settings.stream = try StreamSettings.parse(arguments, for: name)
            return settings
        }

        var retryKind: DelayedRetry.Kind?
        var retryMinMs: Int64?
        var retryMaxMs: Int64?
        var seen: Set<String> = []
        // A repeated key counts once: the first, as every lookup finds it.
        for entry in arguments.entries where entry.key.hasPrefix("x-") && seen.insert(entry.key).inserted {
            let key = entry.key
            let value = entry.value
            switch key {
            case "x-queue-type":
                continue
            case _ where settings.queueType == .classic && quorumOnlyKeys.contains(key):
                throw BrokerError(.preconditionFailed, "invalid arg '\(key)' for \(name) of queue type \(settings.queueType.name)")
            case "x-delayed-retry-type":
                guard case .string(let type) = value else { throw fail(key, "{unacceptable_type,\(value.typeName)}") }
                guard type == "disabled" || DelayedRetry.Kind.allCases.contains(where: { $0.name == type }) else {
                    throw fail(key, "invalid_delayed_retry_type")
                }
                retryKind = DelayedRetry.Kind.allCases.first { $0.name == type }
            case "x-delayed-retry-min":
                retryMinMs = try retryDelay(value) { fail(key, $0) }
            case "x-delayed-retry-max":
                retryMaxMs = try retryDelay(value) { fail(key, $0) }
            case "x-expires":
                let ms = try expiry(value) { fail(key, $0) }
                guard ms != 0 else { throw fail(key, "{value_zero,0}") }
                settings.expiresMs = ms
            case "x-message-ttl":
                settings.messageTTLMs = try expiry(value) { fail(key, $0) }
            case "x-max-length":
                settings.lengthMax = try nonNegative(value) { fail(key, $0) }
            case "x-max-length-bytes":
                settings.lengthBytesMax = try nonNegative(value) { fail(key, $0) }
            case "x-overflow":
                guard case .string(let mode) = value else { throw fail(key, "{unacceptable_type,\(value.typeName)}") }
                guard let known = Overflow.allCases.first(where: { $0.name == mode }) else { throw fail(key, "invalid_overflow") }
                settings.overflow = known
            case "x-dead-letter-exchange":
                guard case .string(let exchange) = value else { throw fail(key, "{unacceptable_type,\(value.typeName)}") }
                settings.deadLetterExchange = exchange
            case "x-dead-letter-routing-key":
                guard case .string(let routingKey) = value else { throw fail(key, "{unacceptable_type,\(value.typeName)}") }
                guard arguments["x-dead-letter-exchange"] != nil else { throw fail(key, "routing_key_but_no_dlx_defined") }
                settings.deadLetterRoutingKey = routingKey
            case "x-delivery-limit":
                let limit = try integer(value) { fail(key, $0) }
                settings.deliveryLimit = limit < 0 ? nil : limit
            case "x-single-active-consumer":
                guard case .bool(let on) = value else { throw fail(key, "{unacceptable_type,\(value.typeName)}") }
                settings.singleActiveConsumer = on
            case "x-max-priority":
                let priority = try nonNegative(value) { fail(key, $0) }
                guard priority <= 255 else { throw fail(key, "{max_value_exceeded,\(priority)}") }
                settings.priorityMax = UInt8(priority)
            case "x-consumer-timeout":
                settings.consumerTimeoutMs = try nonNegative(value) { fail(key, $0) }
            case "x-message-deduplication":
                guard case .bool(let on) = value else { throw fail(key, "{unacceptable_type,\(value.typeName)}") }
                settings.deduplicates = on
            case "x-max-in-memory-length", "x-max-in-memory-bytes", "x-consumer-disconnected-timeout":
                _ = try nonNegative(value) { fail(key, $0) }
            case "x-quorum-initial-group-size", "x-quorum-target-group-size", "x-initial-cluster-size":
                guard try nonNegative(value, { fail(key, $0) }) != 0 else { throw fail(key, "{value_zero,0}") }
            case "x-dead-letter-strategy":
                guard case .string(let strategy) = value else { throw fail(key, "{unacceptable_type,\(value.typeName)}") }
                guard strategy == "at-most-once" || strategy == "at-least-once" else { throw fail(key, "invalid_dlx_strategy") }
                settings.deadLetterStrategyAtLeastOnce = strategy == "at-least-once"
            default:
                if acceptedKeys.contains(key) { continue }
                if streamKeys.contains(key) {
                    throw BrokerError(.preconditionFailed, "invalid arg '\(key)' for \(name) of queue type \(settings.queueType.name)")
                }
                throw fail(key, "unknown_argument")
            }
        }
        if let retryKind {
            guard let minMs = retryMinMs else { throw fail("x-delayed-retry-min", "required_when_delayed_retry_enabled") }
            let maxMs = retryMaxMs ?? minMs
            guard maxMs >= minMs else { throw fail("x-delayed-retry-max", "{value_below_min,\(maxMs)}") }
            settings.delayedRetry = DelayedRetry(kind: retryKind, minMs: minMs, maxMs: maxMs)
        }
        return settings
    }

    /// A delayed retry's bound: positive, and no longer than a delayed publish may wait.
    private static func retryDelay(_ value: ArgumentValue, _ fail: (String) -> BrokerError) throws(BrokerError) -> Int64 {
        let ms = try nonNegative(value, fail)
        guard ms != 0 else { throw fail("{value_zero,0}") }
        guard ms <= BrokerState.delayMaxMs else { throw fail("{value_too_large,\(ms)}") }
        return ms
    }

    private static func integer(_ value: ArgumentValue, _ fail: (String) -> BrokerError) throws(BrokerError) -> Int64 {
        guard let n = value.integerValue else {
            switch value {
            case .uint64(let big): throw fail("{value_too_large,\(big)}")
            case .bool, .int8, .uint8, .int16, .uint16, .int32, .uint32, .int64, .float, .double, .decimal, .string,
                .bytes, .timestamp, .array, .table, .void:
                throw fail("\"expected integer, got \(value.typeName)\"")
            }
        }
        return n
    }

    private static func nonNegative(_ value: ArgumentValue, _ fail: (String) -> BrokerError) throws(BrokerError) -> Int64 {
        let n = try integer(value, fail)
        guard n >= 0 else { throw fail("{value_negative,\(n)}") }
        return n
    }

    private static func expiry(_ value: ArgumentValue, _ fail: (String) -> BrokerError) throws(BrokerError) -> Int64 {
        let n = try nonNegative(value, fail)
        guard n <= BasicProperties.expiryMsMax else { throw fail("{value_too_large,\(n)}") }
        return n
    }

    /// RabbitMQ's equivalence check of a redeclaration, over the arguments it compares.
    static func assertEquivalent(current: ArgumentTable, received: ArgumentTable, resource: String) throws(BrokerError) {
        for key in equivalenceKeys {
            let old = current[key]
            let new = received[key]
            switch (old, new) {
            case (nil, nil):
                continue
            case (let old?, let new?):
                if old.typeClass == new.typeClass && old.matches(new) { continue }
                throw .inequivalent(key, of: resource, received: "'\(new.erlangText)'", current: "'\(old.erlangText)'")
            case (nil, let new?):
                if key == "x-queue-type", new == .string("classic") { continue }
                throw .inequivalent(key, of: resource, received: describe(new), current: "none")
            case (let old?, nil):
                if key == "x-queue-type", old == .string("classic") { continue }
                throw .inequivalent(key, of: resource, received: "none", current: describe(old))
            }
        }
    }

    private static func describe(_ value: ArgumentValue) -> String {
        "the value '\(value.erlangText)' of type '\(value.typeName)'"
    }
}
