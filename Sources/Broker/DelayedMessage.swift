/// One message an `x-delayed-message` exchange holds until its time, as kept in memory:
/// when it fires, and where its record lies in the exchange's store. The message itself is
/// on disk, read back when it fires; 40 bytes stay here.
public struct DelayedMessage: Equatable, Sendable {
    /// The leader's timestamp of its publish plus its `x-delay`.
    public let fireAt: Int64
    /// From the state's message id counter when it was held: publish order, which breaks
    /// ties between messages due at the same time.
    public let sequence: UInt64
    /// Its exchange's store (`Exchange.delayStoreID`), which also names the exchange.
    public let store: UInt64
    public let position: UInt64
    public let recordLength: UInt32

    public init(fireAt: Int64, sequence: UInt64, store: UInt64, position: UInt64, recordBytes: Int) {
        precondition(recordBytes > 0 && recordBytes <= Int(UInt32.max), "a record of \(recordBytes) bytes")
        self.fireAt = fireAt
        self.sequence = sequence
        self.store = store
        self.position = position
        recordLength = UInt32(recordBytes)
    }

    public var recordBytes: Int { Int(recordLength) }

    public var location: RecordLocation { RecordLocation(store: store, position: position, bytes: recordLength) }

    /// The order messages fire in: by time, then by publish.
    var key: Key { Key(fireAt: fireAt, sequence: sequence) }

    struct Key: Comparable, Sendable {
        var fireAt: Int64
        var sequence: UInt64

        static func < (a: Key, b: Key) -> Bool { (a.fireAt, a.sequence) < (b.fireAt, b.sequence) }
    }
}

/// The store of one `x-delayed-message` exchange: where its held messages' records go.
public struct DelayStore: Equatable, Sendable {
    public let exchange: ExchangeName
    /// Where the next record goes (see `Queue.place`).
    public internal(set) var cursor: UInt64
    /// Messages held, and the bytes of their records.
    public internal(set) var messageCount = 0
    public internal(set) var recordBytes = 0

    init(exchange: ExchangeName, cursor: UInt64 = 0) {
        self.exchange = exchange
        self.cursor = cursor
    }
}
