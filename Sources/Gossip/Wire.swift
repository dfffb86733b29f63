extension SWIM {
    /// The binary encoding of `Message`: compact, versioned, big-endian, every length
    /// bounded and checked before anything is read or allocated.
    ///
    /// ```
    /// message   = version:u8 kind:u8 from:u64 sequence:u64 body
    /// ping      = members
    /// pingReq   = target:u64 hostPort members
    /// ack       = target:u64 incarnation:u64 members
    /// nack      = target:u64 members
    /// join      = member
    /// joinReply = members
    /// leave     = member
    /// members   = count:u16 member*count          (count <= membersPerMessageMax)
    /// member    = id:u64 incarnation:u64 status:u8 alarms:u8 hostPort{peer} hostPort{amqp} hostPort{http}
    /// hostPort  = length:u8 utf8-bytes port:u16
    /// ```
    /// Node ids are never 0 and incarnations never above `SWIM.incarnationMax`; a datagram
    /// with trailing bytes is rejected whole.
    public enum Wire {
        /// 2: a member record carries its alarms.
        public static let version: UInt8 = 2
        /// Longest host name or address, in bytes of UTF-8 (one length byte).
        public static let hostBytesMax = 255
        /// What the shell adds to a message to authenticate it, at most (a datagram is a
        /// message in its seal).
        public static let sealBytesMax = 64
        /// The longest message: the largest UDP payload over IPv4 less its seal, so that
        /// every message fits in one datagram.
        public static let datagramBytesMax = 65_507 - sealBytesMax
        static let headerBytes = 1 + 1 + 8 + 8
        static let hostPortBytesMax = 1 + hostBytesMax + 2
        /// The largest encoded member record.
        public static let memberBytesMax = 8 + 8 + 1 + 1 + 3 * hostPortBytesMax
        /// The most bytes a body adds besides its members (a ping-request's target and
        /// address, and the member count).
        static let bodyExtraBytesMax = 8 + hostPortBytesMax + 2
        /// Most member records in one message, so that any message fits in one datagram
        /// however long its host names. Bounds `Settings.membersMax`.
        public static let membersPerMessageMax = (datagramBytesMax - headerBytes - bodyExtraBytesMax) / memberBytesMax

        enum Kind: UInt8 {
            case ping = 1
            case pingRequest = 2
            case ack = 3
            case nack = 4
            case join = 5
            case joinReply = 6
            case leave = 7
        }

        /// Why a datagram was not a message. Garbage is an error value, never a crash.
        public enum DecodeError: Error, Hashable, Sendable {
            case tooLong(bytes: Int, max: Int)
            /// The datagram ended inside a field.
            case truncated
            case unsupportedVersion(UInt8)
            case unknownKind(UInt8)
            case unknownStatus(UInt8)
            case unknownAlarms(UInt8)
            case tooManyMembers(count: Int, max: Int)
            case invalidUTF8Host
            case zeroNodeID
            case incarnationOutOfRange(Incarnation)
            case trailingBytes(count: Int)
        }
    }
}
