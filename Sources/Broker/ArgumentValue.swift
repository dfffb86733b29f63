/// One value of an argument table: queue, exchange, binding and consumer arguments, and
/// message headers. It mirrors the AMQP 0-9-1 field value types as RabbitMQ reads them, so a
/// header comes back to a consumer with the type it was published with; the node converts
/// the codec's field tables to and from it, and the broker stays independent of the codec.
public enum ArgumentValue: Equatable, Hashable, Sendable {
    case bool(Bool)
    case int8(Int8)
    case uint8(UInt8)
    case int16(Int16)
    case uint16(UInt16)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    case uint64(UInt64)
    case float(Float)
    case double(Double)
    /// AMQP decimal: `value` × 10^-`scale`.
    case decimal(scale: UInt8, value: Int32)
    /// A long string that is valid UTF-8 (the node passes any other as `bytes`).
    case string(String)
    case bytes([UInt8])
    /// Seconds since the Unix epoch, as AMQP timestamps are.
    case timestamp(UInt64)
    case array([ArgumentValue])
    case table(ArgumentTable)
    case void

    /// The value as a signed integer, for any integer type that fits; nil otherwise.
    public var integerValue: Int64? {
        switch self {
        case .int8(let v): return Int64(v)
        case .uint8(let v): return Int64(v)
        case .int16(let v): return Int64(v)
        case .uint16(let v): return Int64(v)
        case .int32(let v): return Int64(v)
        case .uint32(let v): return Int64(v)
        case .int64(let v): return v
        case .uint64(let v): return Int64(exactly: v)
        case .bool, .float, .double, .decimal, .string, .bytes, .timestamp, .array, .table, .void: return nil
        }
    }

    public var stringValue: String? {
        switch self {
        case .string(let s): return s
        case .bool, .int8, .uint8, .int16, .uint16, .int32, .uint32, .int64, .uint64, .float, .double,
            .decimal, .bytes, .timestamp, .array, .table, .void:
            return nil
        }
    }

    public var boolValue: Bool? {
        switch self {
        case .bool(let b): return b
        case .int8, .uint8, .int16, .uint16, .int32, .uint32, .int64, .uint64, .float, .double,
            .decimal, .string, .bytes, .timestamp, .array, .table, .void:
            return nil
        }
    }

    /// RabbitMQ's name for the AMQP type, as it appears in its error texts.
    public var typeName: String {
        switch self {
        case .bool: return "bool"
        case .int8: return "byte"
        case .uint8: return "unsignedbyte"
        case .int16: return "short"
        case .uint16: return "unsignedshort"
        case .int32: return "signedint"
        case .uint32: return "unsignedint"
        case .int64: return "long"
        case .uint64: return "unsignedlong"
        case .float: return "float"
        case .double: return "double"
        case .decimal: return "decimal"
        case .string: return "longstr"
        case .bytes: return "binary"
        case .timestamp: return "timestamp"
        case .array: return "array"
        case .table: return "table"
        case .void: return "void"
        }
    }

    /// The class RabbitMQ compares types by when checking equivalence: all integers alike.
    var typeClass: String {
        switch self {
        case .int8, .uint8, .int16, .uint16, .int32, .uint32, .int64, .uint64, .decimal: return "int"
        case .float, .double: return "float"
        case .bool, .string, .bytes, .timestamp, .array, .table, .void: return typeName
        }
    }

    /// Whether two values are equal the way RabbitMQ compares argument and header values: by
    /// value, so an integer matches an integer of another width.
    public func matches(_ other: ArgumentValue) -> Bool {
        if let a = integerValue, let b = other.integerValue { return a == b }
        if let a = floatingValue, let b = other.floatingValue { return a == b }
        return self == other
    }

    private var floatingValue: Double? {
        switch self {
        case .float(let v): return Double(v)
        case .double(let v): return v
        case .bool, .int8, .uint8, .int16, .uint16, .int32, .uint32, .int64, .uint64, .decimal, .string,
            .bytes, .timestamp, .array, .table, .void:
            return nil
        }
    }

    /// The value printed the way RabbitMQ prints an Erlang term in its error texts
    /// (`~tp`): numbers in decimal, strings bare.
    public var erlangText: String {
        switch self {
        case .bool(let v): return v ? "true" : "false"
        case .int8, .uint8, .int16, .uint16, .int32, .uint32, .int64:
            return String(integerValue ?? 0)
        case .uint64(let v): return String(v)
        case .float(let v): return String(v)
        case .double(let v): return String(v)
        case .decimal(let scale, let value): return "{\(scale),\(value)}"
        case .string(let s): return s
        case .bytes(let b): return "<<" + b.map(String.init).joined(separator: ",") + ">>"
        case .timestamp(let v): return String(v)
        case .array(let items): return "[" + items.map(\.erlangText).joined(separator: ",") + "]"
        case .table(let table):
            return "[" + table.entries.map { "{\($0.key),\($0.value.erlangText)}" }.joined(separator: ",") + "]"
        case .void: return "undefined"
        }
    }
}

extension ArgumentValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int64(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}
