// Decoding of the broker's value types, with the limits checked as each length is read.
extension ByteReader {
    mutating func value(limits: BrokerLimits, depth: Int = 0) throws(BrokerCodecError) -> ArgumentValue {
        let at = offset
        let tag = try byte()
        func narrow<T: FixedWidthInteger>(_ raw: Int64, _: T.Type) throws(BrokerCodecError) -> T {
            guard let v = T(exactly: raw) else { throw .invalidValue("integer \(raw) out of range", offset: at) }
            return v
        }
        func narrowUnsigned<T: FixedWidthInteger>(_ raw: UInt64, _: T.Type) throws(BrokerCodecError) -> T {
            guard let v = T(exactly: raw) else { throw .invalidValue("integer \(raw) out of range", offset: at) }
            return v
        }
        switch tag {
        case 0: return .bool(try bool())
        case 1: return .int8(try narrow(try signed(), Int8.self))
        case 2: return .uint8(try narrowUnsigned(try varint(), UInt8.self))
        case 3: return .int16(try narrow(try signed(), Int16.self))
        case 4: return .uint16(try narrowUnsigned(try varint(), UInt16.self))
        case 5: return .int32(try narrow(try signed(), Int32.self))
        case 6: return .uint32(try narrowUnsigned(try varint(), UInt32.self))
        case 7: return .int64(try signed())
        case 8: return .uint64(try varint())
        case 9: return .float(Float(bitPattern: try fixed32()))
        case 10: return .double(Double(bitPattern: try fixed64()))
        case 11:
            let scale = try byte()
            return .decimal(scale: scale, value: Int32(bitPattern: try fixed32()))
        case 12: return .string(try string())
        case 13: return .bytes(try blob())
        case 14: return .timestamp(try varint())
        case 15:
            guard depth < limits.argumentDepthMax else { throw .limitExceeded("arguments nest too deep", offset: at) }
            return .array(
                try array(max: limits.argumentEntriesMax) { (r: inout ByteReader) throws(BrokerCodecError) in
                    try r.value(limits: limits, depth: depth + 1)
                })
        case 16:
            guard depth < limits.argumentDepthMax else { throw .limitExceeded("arguments nest too deep", offset: at) }
            return .table(try table(limits: limits, depth: depth + 1))
        case 17: return .void
        default: throw .unknownTag(tag, offset: at)
        }
    }

    mutating func table(limits: BrokerLimits, depth: Int = 0) throws(BrokerCodecError) -> ArgumentTable {
        let entries = try array(minimumBytes: 2, max: limits.argumentEntriesMax) {
            (r: inout ByteReader) throws(BrokerCodecError) -> ArgumentTable.Entry in
            let key = try r.string(max: limits.nameBytesMax)
            return ArgumentTable.Entry(key: key, value: try r.value(limits: limits, depth: depth))
        }
        return ArgumentTable(entries)
    }

    mutating func properties(limits: BrokerLimits) throws(BrokerCodecError) -> BasicProperties {
        let at = offset
        let flags = try varint()
        guard flags < 1 << 14 else { throw .invalidValue("property flags \(flags)", offset: at) }
        func has(_ bit: Int) -> Bool { flags & (1 << UInt64(bit)) != 0 }
        var p = BasicProperties()
        let short = limits.nameBytesMax
        if has(0) { p.contentType = try string(max: short) }
        if has(1) { p.contentEncoding = try string(max: short) }
        if has(2) { p.headers = try table(limits: limits) }
        if has(3) { p.deliveryMode = try byte() }
        if has(4) { p.priority = try byte() }
        if has(5) { p.correlationId = try string(max: short) }
        if has(6) { p.replyTo = try string(max: short) }
        if has(7) { p.expiration = try string(max: short) }
        if has(8) { p.messageId = try string(max: short) }
        if has(9) { p.timestamp = try varint() }
        if has(10) { p.type = try string(max: short) }
        if has(11) { p.userId = try string(max: short) }
        if has(12) { p.appId = try string(max: short) }
        if has(13) { p.clusterId = try string(max: short) }
        return p
    }

    mutating func message(limits: BrokerLimits) throws(BrokerCodecError) -> Message {
        let exchange = try string(max: limits.nameBytesMax)
        let routingKey = try string(max: limits.nameBytesMax)
        let properties = try properties(limits: limits)
        let body = try blob(max: limits.messageBodyBytesMax)
        return Message(exchange: exchange, routingKey: routingKey, properties: properties, body: body)
    }

    mutating func queueName(limits: BrokerLimits) throws(BrokerCodecError) -> QueueName {
        let vhost = try string(max: limits.nameBytesMax)
        return QueueName(vhost: vhost, try string(max: limits.nameBytesMax))
    }

    mutating func ids(max: Int) throws(BrokerCodecError) -> [MessageID] {
        let n = try count(max: max)
        var result: [MessageID] = []
        result.reserveCapacity(n)
        var previous: MessageID = 0
        for _ in 0..<n {
            previous = previous &+ MessageID(bitPattern: try signed())
            result.append(previous)
        }
        return result
    }

    mutating func binding(limits: BrokerLimits) throws(BrokerCodecError) -> Binding {
        let source = try string(max: limits.nameBytesMax)
        let at = offset
        let destination: BindingDestination
        switch try byte() {
        case 0: destination = .queue(try string(max: limits.nameBytesMax))
        case 1: destination = .exchange(try string(max: limits.nameBytesMax))
        case let tag: throw .unknownTag(tag, offset: at)
        }
        let routingKey = try string(max: limits.nameBytesMax)
        return Binding(source: source, destination: destination, routingKey: routingKey, arguments: try table(limits: limits))
    }
}

extension ByteReader {
    /// What `ByteWriter.user` wrote. Salt and digest are bounded by the longest a hash
    /// algorithm makes.
    mutating func user(limits: BrokerLimits) throws(BrokerCodecError) -> User {
        let name = try string(max: limits.nameBytesMax)
        let hash = try optional { (r: inout ByteReader) throws(BrokerCodecError) -> PasswordHash in
            let at = r.offset
            let raw = try r.byte()
            guard let algorithm = PasswordHash.Algorithm(rawValue: raw) else { throw .unknownTag(raw, offset: at) }
            let salt = try r.blob(max: 64)
            return PasswordHash(algorithm: algorithm, salt: salt, digest: try r.blob(max: 64))
        }
        let tags = try array(max: limits.userTagsMax) { (r: inout ByteReader) throws(BrokerCodecError) in
            try r.string(max: limits.nameBytesMax)
        }
        return User(name: name, passwordHash: hash, tags: tags)
    }

    /// What `ByteWriter.limitSubject` wrote.
    mutating func limitSubject(limits: BrokerLimits) throws(BrokerCodecError) -> LimitSubject {
        let at = offset
        switch try byte() {
        case 0: return .vhost(try string(max: limits.nameBytesMax))
        case 1: return .user(try string(max: limits.nameBytesMax))
        case let other: throw .unknownTag(other, offset: at)
        }
    }

    mutating func resourceLimit() throws(BrokerCodecError) -> ResourceLimit {
        let at = offset
        let code = try byte()
        guard let limit = ResourceLimit(code: code) else { throw .unknownTag(code, offset: at) }
        return limit
    }

    mutating func permission(limits: BrokerLimits) throws(BrokerCodecError) -> Permission {
        let configure = try string(max: limits.permissionPatternBytesMax)
        let write = try string(max: limits.permissionPatternBytesMax)
        return Permission(configure: configure, write: write, read: try string(max: limits.permissionPatternBytesMax))
    }
}
