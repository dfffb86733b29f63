/// Why bytes did not decode as a command or a snapshot. Decoding never traps: garbage of
/// any length gives one of these.
public enum BrokerCodecError: Error, Equatable, Sendable {
    case empty
    case unsupportedVersion(UInt8)
    case truncated(offset: Int)
    case unknownTag(UInt8, offset: Int)
    case invalidUTF8(offset: Int)
    case invalidValue(String, offset: Int)
    case limitExceeded(String, offset: Int)
    case trailingBytes(count: Int)
}
