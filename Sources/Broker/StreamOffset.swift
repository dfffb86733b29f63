/// Where a stream consumer starts: its `x-stream-offset` argument, as RabbitMQ reads it.
public enum StreamOffset: Equatable, Sendable {
    /// The oldest message held.
    case first
    /// The first message of the newest chunk (see `StreamLog`).
    case last
    /// Only messages appended from now on; the default.
    case next
    /// A message's offset: clamped to what the stream holds (past the end is `next`).
    case offset(Int64)
    /// The first chunk appended at or after this leader time, in milliseconds.
    case timestamp(Int64)

    /// Reads the argument: "first", "last", "next", an integer offset, an AMQP timestamp
    /// (seconds), or an interval such as "1h" (the messages of the last hour, as of `now`).
    /// A failure's `reason` is what RabbitMQ reports after "failed consuming from stream …: ".
    public static func parse(_ value: ArgumentValue?, now: Int64) -> Result<StreamOffset, StreamOffsetError> {
        guard let value else { return .success(.next) }
        switch value {
        case .string("first"): return .success(.first)
        case .string("last"): return .success(.last)
        case .string("next"): return .success(.next)
        case .string(let interval):
            guard let ms = StreamSettings.ageMs(interval) else { return .failure(StreamOffsetError(reason: "invalid_max_age")) }
            return .success(.timestamp(now &- ms))
        case .timestamp(let seconds):
            let (ms, overflow) = Int64(clamping: seconds).multipliedReportingOverflow(by: 1_000)
            return .success(.timestamp(overflow ? .max : ms))
        case .bool, .int8, .uint8, .int16, .uint16, .int32, .uint32, .int64, .uint64, .float, .double, .decimal, .bytes, .array,
            .table, .void:
            guard let offset = value.integerValue, offset >= 0 else {
                return .failure(StreamOffsetError(reason: "{invalid_offset_arg,\(value.erlangText)}"))
            }
            return .success(.offset(offset))
        }
    }

    /// The offset it names in `log`, within what the log holds.
    public func resolve(in log: StreamLog) -> Int64 {
        switch self {
        case .first: return log.firstOffset
        case .last: return log.lastChunkOffset
        case .next: return log.nextOffset
        case .offset(let offset): return Swift.min(Swift.max(offset, log.firstOffset), log.nextOffset)
        case .timestamp(let ms): return log.firstOffset(atOrAfter: ms)
        }
    }
}

/// An `x-stream-offset` the broker cannot read.
public struct StreamOffsetError: Error, Equatable, Sendable {
    public var reason: String
}
