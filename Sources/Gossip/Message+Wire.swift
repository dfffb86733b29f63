extension SWIM.Message {
    /// The datagram for this message. Every record in it must be encodable: hosts of at
    /// most `Wire.hostBytesMax` bytes, at most `Wire.membersPerMessageMax` members. The
    /// instance only builds such messages; anything else is a bug and traps.
    public func encoded() -> [UInt8] {
        var writer = ByteWriter()
        writer.reserve(64 + members.count * 64)
        writer.u8(SWIM.Wire.version)
        writer.u8(kind.rawValue)
        writer.u64(from)
        writer.u64(sequence)
        switch body {
        case .ping(let updates):
            writer.members(updates)
        case .pingRequest(let target, let targetAddress, let updates):
            writer.u64(target)
            writer.hostPort(targetAddress)
            writer.members(updates)
        case .ack(let target, let incarnation, let updates):
            writer.u64(target)
            writer.u64(incarnation)
            writer.members(updates)
        case .nack(let target, let updates):
            writer.u64(target)
            writer.members(updates)
        case .join(let member), .leave(let member):
            writer.member(member)
        case .joinReply(let members):
            writer.members(members)
        }
        precondition(writer.bytes.count <= SWIM.Wire.datagramBytesMax, "encoded \(name) is \(writer.bytes.count) bytes")
        return writer.bytes
    }

    /// Decodes one datagram. Throws on anything that is not exactly one valid message.
    public init(decoding bytes: [UInt8]) throws(SWIM.Wire.DecodeError) {
        guard bytes.count <= SWIM.Wire.datagramBytesMax else {
            throw .tooLong(bytes: bytes.count, max: SWIM.Wire.datagramBytesMax)
        }
        var reader = ByteReader(bytes)
        let version = try reader.u8()
        guard version == SWIM.Wire.version else { throw .unsupportedVersion(version) }
        let rawKind = try reader.u8()
        guard let kind = SWIM.Wire.Kind(rawValue: rawKind) else { throw .unknownKind(rawKind) }
        let from = try reader.nodeID()
        let sequence = try reader.u64()
        let body: Body
        switch kind {
        case .ping:
            body = .ping(updates: try reader.members())
        case .pingRequest:
            let target = try reader.nodeID()
            let address = try reader.hostPort()
            body = .pingRequest(target: target, targetAddress: address, updates: try reader.members())
        case .ack:
            let target = try reader.nodeID()
            let incarnation = try reader.incarnation()
            body = .ack(target: target, incarnation: incarnation, updates: try reader.members())
        case .nack:
            let target = try reader.nodeID()
            body = .nack(target: target, updates: try reader.members())
        case .join:
            body = .join(try reader.member())
        case .joinReply:
            body = .joinReply(members: try reader.members())
        case .leave:
            body = .leave(try reader.member())
        }
        guard reader.remaining == 0 else { throw .trailingBytes(count: reader.remaining) }
        self.init(from: from, sequence: sequence, body: body)
    }

    var kind: SWIM.Wire.Kind {
        switch body {
        case .ping: return .ping
        case .pingRequest: return .pingRequest
        case .ack: return .ack
        case .nack: return .nack
        case .join: return .join
        case .joinReply: return .joinReply
        case .leave: return .leave
        }
    }
}

extension SWIM.Status {
    var wireValue: UInt8 {
        switch self {
        case .alive: return 0
        case .suspect: return 1
        case .dead: return 2
        case .left: return 3
        }
    }

    init(wireValue: UInt8) throws(SWIM.Wire.DecodeError) {
        switch wireValue {
        case 0: self = .alive
        case 1: self = .suspect
        case 2: self = .dead
        case 3: self = .left
        default: throw .unknownStatus(wireValue)
        }
    }
}

extension SWIM.HostPort {
    /// Whether this address fits the wire: a host of at most `Wire.hostBytesMax` bytes.
    public var isEncodable: Bool { host.utf8.count <= SWIM.Wire.hostBytesMax }
}

struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    mutating func reserve(_ count: Int) { bytes.reserveCapacity(count) }

    mutating func u8(_ value: UInt8) { bytes.append(value) }

    mutating func u16(_ value: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    mutating func u64(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }

    mutating func hostPort(_ address: SWIM.HostPort) {
        let utf8 = Array(address.host.utf8)
        precondition(utf8.count <= SWIM.Wire.hostBytesMax, "host of \(utf8.count) bytes: \(address)")
        u8(UInt8(utf8.count))
        bytes.append(contentsOf: utf8)
        u16(address.port)
    }

    mutating func member(_ member: SWIM.Member) {
        u64(member.id)
        u64(member.incarnation)
        u8(member.status.wireValue)
        u8(member.alarms.rawValue)
        hostPort(member.addresses.peer)
        hostPort(member.addresses.amqp)
        hostPort(member.addresses.http)
    }

    mutating func members(_ members: [SWIM.Member]) {
        precondition(members.count <= SWIM.Wire.membersPerMessageMax, "\(members.count) members in one message")
        u16(UInt16(members.count))
        for member in members { self.member(member) }
    }
}

struct ByteReader {
    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - index }

    mutating func take(_ count: Int) throws(SWIM.Wire.DecodeError) -> ArraySlice<UInt8> {
        guard count <= remaining else { throw .truncated }
        defer { index += count }
        return bytes[index..<(index + count)]
    }

    mutating func u8() throws(SWIM.Wire.DecodeError) -> UInt8 {
        guard remaining >= 1 else { throw .truncated }
        defer { index += 1 }
        return bytes[index]
    }

    mutating func u16() throws(SWIM.Wire.DecodeError) -> UInt16 {
        var value: UInt16 = 0
        for byte in try take(2) { value = value << 8 | UInt16(byte) }
        return value
    }

    mutating func u64() throws(SWIM.Wire.DecodeError) -> UInt64 {
        var value: UInt64 = 0
        for byte in try take(8) { value = value << 8 | UInt64(byte) }
        return value
    }

    mutating func nodeID() throws(SWIM.Wire.DecodeError) -> SWIM.NodeID {
        let id = try u64()
        guard id != 0 else { throw .zeroNodeID }
        return id
    }

    mutating func incarnation() throws(SWIM.Wire.DecodeError) -> SWIM.Incarnation {
        let incarnation = try u64()
        guard incarnation <= SWIM.incarnationMax else { throw .incarnationOutOfRange(incarnation) }
        return incarnation
    }

    mutating func hostPort() throws(SWIM.Wire.DecodeError) -> SWIM.HostPort {
        let length = Int(try u8())
        let utf8 = try take(length)
        guard let host = String(validating: utf8, as: UTF8.self) else { throw .invalidUTF8Host }
        return SWIM.HostPort(host: host, port: try u16())
    }

    mutating func member() throws(SWIM.Wire.DecodeError) -> SWIM.Member {
        let id = try nodeID()
        let incarnation = try incarnation()
        let status = try SWIM.Status(wireValue: try u8())
        let alarms = SWIM.Alarms(rawValue: try u8())
        guard SWIM.Alarms.known.isSuperset(of: alarms) else { throw .unknownAlarms(alarms.rawValue) }
        let peer = try hostPort()
        let amqp = try hostPort()
        let http = try hostPort()
        return SWIM.Member(id: id, incarnation: incarnation, status: status,
                           addresses: SWIM.Addresses(peer: peer, amqp: amqp, http: http), alarms: alarms)
    }

    mutating func members() throws(SWIM.Wire.DecodeError) -> [SWIM.Member] {
        let count = Int(try u16())
        guard count <= SWIM.Wire.membersPerMessageMax else {
            throw .tooManyMembers(count: count, max: SWIM.Wire.membersPerMessageMax)
        }
        // The smallest record is 8 + 8 + 1 + 1 + 3 * 3 bytes: never reserve past what is there.
        var members: [SWIM.Member] = []
        members.reserveCapacity(min(count, remaining / 27))
        for _ in 0..<count { members.append(try member()) }
        return members
    }
}
