/// An `x-message-deduplication` exchange's window (the rabbitmq-message-deduplication
/// plugin's cache, replicated): the `x-deduplication-header` values of the messages it
/// routed, each until its TTL is over, at most `capacity` of them, the oldest pushed out
/// first. Times are the leader's, from the commands, so every replica keeps the same keys.
public struct DeduplicationCache: Equatable, Sendable {
    /// The header that names a message.
    public static let keyHeader = QueueSettings.deduplicationHeader
    /// A message's own TTL for its key, before the exchange's.
    public static let ttlHeader = "x-cache-ttl"

    /// `x-cache-size`.
    public let capacity: Int
    /// `x-cache-ttl`: nil keeps a key until it is pushed out.
    public let ttlMs: Int64?

    private struct Entry: Equatable, Sendable {
        var expiresAt: Int64
        /// Which admission put it in `order`: an older place there is stale.
        var admission: UInt64
    }

    private var entries: [ArgumentValue: Entry] = [:]
    /// Keys by admission, oldest first, with stale places skipped and compacted away.
    private var order: [(key: ArgumentValue, admission: UInt64)] = []
    private var head = 0
    private var admissions: UInt64 = 0

    /// Keys remembered (some may have expired and not been noticed yet).
    public var count: Int { entries.count }

    /// The window an exchange's arguments declare, refused as the plugin refuses them.
    public init(arguments: ArgumentTable, limits: BrokerLimits) throws(BrokerError) {
        guard let size = Self.positiveInteger(arguments["x-cache-size"]) else {
            throw BrokerError(.preconditionFailed, "Missing or invalid argument, 'x-cache-size' must be an integer greater than 0")
        }
        guard size <= Int64(limits.deduplicationCacheEntriesMax) else {
            throw BrokerError(.preconditionFailed, "Invalid argument, 'x-cache-size' must be at most \(limits.deduplicationCacheEntriesMax)")
        }
        if let ttl = arguments["x-cache-ttl"], Self.positiveInteger(ttl) == nil {
            throw BrokerError(.preconditionFailed, "Invalid argument, 'x-cache-ttl' must be an integer greater than 0")
        }
        // Every window is replicated on disk; both of the plugin's answers are taken.
        if let persistence = arguments["x-cache-persistence"], persistence != .string("disk"), persistence != .string("memory") {
            throw BrokerError(.preconditionFailed, "Invalid argument, 'x-cache-persistence' must be either 'disk' or 'memory'")
        }
        capacity = Int(size)
        ttlMs = arguments["x-cache-ttl"].flatMap(Self.positiveInteger)
    }

    /// An integer above zero, or a string of one, as the plugin reads its arguments.
    private static func positiveInteger(_ value: ArgumentValue?) -> Int64? {
        guard let value else { return nil }
        let number: Int64?
        if case .string(let text) = value { number = Int64(text) } else { number = value.integerValue }
        guard let number, number > 0 else { return nil }
        return number
    }

    /// Whether a message with this key is new at `now`: then the key is remembered until
    /// `ttlMs` (the message's own `x-cache-ttl`, else the exchange's) is over, pushing out
    /// the oldest key when the window is full. A key seen and not expired is a duplicate.
    public mutating func admit(_ key: ArgumentValue, ttlMs messageTTL: Int64?, at now: Int64) -> Bool {
        if let entry = entries[key] {
            if entry.expiresAt > now { return false }
            entries[key] = nil
        }
        while entries.count >= capacity, head < order.count {
            let oldest = order[head]
            head += 1
            if entries[oldest.key]?.admission == oldest.admission { entries[oldest.key] = nil }
        }
        let ttl = messageTTL ?? ttlMs
        let expiresAt = ttl.map { now.addingReportingOverflow($0).overflow ? Int64.max : now + $0 } ?? .max
        remember(key, expiresAt: expiresAt)
        return true
    }

    private mutating func remember(_ key: ArgumentValue, expiresAt: Int64) {
        admissions += 1
        entries[key] = Entry(expiresAt: expiresAt, admission: admissions)
        order.append((key, admissions))
        if head > 1_024, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }

    /// The keys remembered, oldest first, with when each expires (`Int64.max`: never).
    public var keys: [(key: ArgumentValue, expiresAt: Int64)] {
        order[head...].compactMap { place in
            guard let entry = entries[place.key], entry.admission == place.admission else { return nil }
            return (place.key, entry.expiresAt)
        }
    }

    /// Takes back a key as a snapshot lists it, after those before it; false if twice.
    mutating func restore(_ key: ArgumentValue, expiresAt: Int64) -> Bool {
        guard entries[key] == nil, entries.count < capacity else { return false }
        remember(key, expiresAt: expiresAt)
        return true
    }

    public static func == (lhs: DeduplicationCache, rhs: DeduplicationCache) -> Bool {
        lhs.capacity == rhs.capacity && lhs.ttlMs == rhs.ttlMs && lhs.keys.elementsEqual(rhs.keys) { $0.key == $1.key && $0.expiresAt == $1.expiresAt }
    }
}
