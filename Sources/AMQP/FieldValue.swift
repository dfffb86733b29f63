/// A value in a field table or field array.
///
/// The types are RabbitMQ's (the "AMQP 0-9-1 errata", §3 field types), which every
/// common client uses, not the conflicting list of the 0-9-1 spec: notably `s` is a
/// signed 16-bit integer, not a short string, and `U`/`L` are not sent. On decoding we
/// also accept `L` as a signed 64-bit integer, as RabbitMQ does; it re-encodes as `l`.
public enum FieldValue: Hashable, Sendable {
    /// `t`: boolean (one octet, non-zero is true; encoded as 0 or 1).
    case bool(Bool)
    /// `b`: signed 8-bit integer.
    case int8(Int8)
    /// `B`: unsigned 8-bit integer.
    case uint8(UInt8)
    /// `s`: signed 16-bit integer.
    case int16(Int16)
    /// `u`: unsigned 16-bit integer.
    case uint16(UInt16)
    /// `I`: signed 32-bit integer.
    case int32(Int32)
    /// `i`: unsigned 32-bit integer.
    case uint32(UInt32)
    /// `l`: signed 64-bit integer.
    case int64(Int64)
    /// `f`: IEEE-754 single precision.
    case float(Float)
    /// `d`: IEEE-754 double precision.
    case double(Double)
    /// `D`: decimal, `value` × 10^−`scale`.
    case decimal(scale: UInt8, value: Int32)
    /// `S`: long string (any bytes; text by convention, UTF-8).
    case longString([UInt8])
    /// `x`: byte array.
    case byteArray([UInt8])
    /// `A`: field array.
    case array([FieldValue])
    /// `T`: timestamp, seconds since the Unix epoch.
    case timestamp(UInt64)
    /// `F`: nested field table.
    case table(FieldTable)
    /// `V`: void (no value).
    case void

    /// A long string (`S`) holding the UTF-8 of `string`.
    public static func string(_ string: String) -> FieldValue {
        .longString(Array(string.utf8))
    }

    /// The text of a long string (`S`) that is valid UTF-8, else nil.
    public var stringValue: String? {
        switch self {
        case .longString(let bytes):
            String(validating: bytes, as: UTF8.self)
        case .bool, .int8, .uint8, .int16, .uint16, .int32, .uint32, .int64, .float, .double, .decimal,
            .byteArray, .array, .timestamp, .table, .void:
            nil
        }
    }

    /// The type octet on the wire.
    public var typeOctet: UInt8 {
        switch self {
        case .bool: UInt8(ascii: "t")
        case .int8: UInt8(ascii: "b")
        case .uint8: UInt8(ascii: "B")
        case .int16: UInt8(ascii: "s")
        case .uint16: UInt8(ascii: "u")
        case .int32: UInt8(ascii: "I")
        case .uint32: UInt8(ascii: "i")
        case .int64: UInt8(ascii: "l")
        case .float: UInt8(ascii: "f")
        case .double: UInt8(ascii: "d")
        case .decimal: UInt8(ascii: "D")
        case .longString: UInt8(ascii: "S")
        case .byteArray: UInt8(ascii: "x")
        case .array: UInt8(ascii: "A")
        case .timestamp: UInt8(ascii: "T")
        case .table: UInt8(ascii: "F")
        case .void: UInt8(ascii: "V")
        }
    }
}

extension FieldValue: ExpressibleByStringLiteral {
    /// A string literal is a long string (`S`), the type clients use for text.
    public init(stringLiteral value: String) {
        self = .string(value)
    }
}
