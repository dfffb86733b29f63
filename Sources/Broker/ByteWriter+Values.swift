// Encoding of the broker's value types, shared by commands and snapshots.
extension ByteWriter {
    mutating func value(_ value: ArgumentValue) {
        switch value {
        case .bool(let v):
            byte(0)
            bool(v)
        case .int8(let v):
            byte(1)
            signed(Int64(v))
        case .uint8(let v):
            byte(2)
            varint(UInt64(v))
        case .int16(let v):
            byte(3)
            signed(Int64(v))
        case .uint16(let v):
            byte(4)
            varint(UInt64(v))
        case .int32(let v):
            byte(5)
            signed(Int64(v))
        case .uint32(let v):
            byte(6)
            varint(UInt64(v))
        case .int64(let v):
            byte(7)
            signed(v)
        case .uint64(let v):
            byte(8)
            varint(v)
        case .float(let v):
            byte(9)
            fixed32(v.bitPattern)
        case .double(let v):
            byte(10)
            fixed64(v.bitPattern)
        case .decimal(let scale, let v):
            byte(11)
            byte(scale)
            fixed32(UInt32(bitPattern: v))
        case .string(let v):
            byte(12)
            string(v)
        case .bytes(let v):
            byte(13)
            blob(v)
        case .timestamp(let v):
            byte(14)
            varint(v)
        case .array(let items):
            byte(15)
            array(items) { $0.value($1) }
        case .table(let table):
            byte(16)
            self.table(table)
        case .void:
            byte(17)
        }
    }

    mutating func table(_ table: ArgumentTable) {
        array(table.entries) { writer, entry in
            writer.string(entry.key)
            writer.value(entry.value)
        }
    }

    mutating func properties(_ p: BasicProperties) {
        let present: [Bool] = [
            p.contentType != nil, p.contentEncoding != nil, p.headers != nil, p.deliveryMode != nil, p.priority != nil,
            p.correlationId != nil, p.replyTo != nil, p.expiration != nil, p.messageId != nil, p.timestamp != nil,
            p.type != nil, p.userId != nil, p.appId != nil, p.clusterId != nil,
        ]
        varint(present.enumerated().reduce(0) { $1.element ? $0 | 1 << UInt64($1.offset) : $0 })
        if let v = p.contentType { string(v) }
        if let v = p.contentEncoding { string(v) }
        if let v = p.headers { table(v) }
        if let v = p.deliveryMode { byte(v) }
        if let v = p.priority { byte(v) }
        if let v = p.correlationId { string(v) }
        if let v = p.replyTo { string(v) }
        if let v = p.expiration { string(v) }
        if let v = p.messageId { string(v) }
        if let v = p.timestamp { varint(v) }
        if let v = p.type { string(v) }
        if let v = p.userId { string(v) }
        if let v = p.appId { string(v) }
        if let v = p.clusterId { string(v) }
    }

    mutating func message(_ m: Message) {
        string(m.exchange)
        string(m.routingKey)
        properties(m.properties)
        blob(m.body)
    }

    mutating func queueName(_ name: QueueName) {
        string(name.vhost)
        string(name.name)
    }

    /// Ids as the first, then signed differences: a run of consecutive ids costs a byte each.
    mutating func ids(_ ids: [MessageID]) {
        count(ids.count)
        var previous: MessageID = 0
        for id in ids {
            signed(Int64(bitPattern: id &- previous))
            previous = id
        }
    }

    mutating func binding(_ b: Binding) {
        string(b.source)
        switch b.destination {
        case .queue(let name):
            byte(0)
            string(name)
        case .exchange(let name):
            byte(1)
            string(name)
        }
        string(b.routingKey)
        table(b.arguments)
    }
}

extension ByteWriter {
    /// Name, then the hash (algorithm, salt, digest) if any, then the tags.
    mutating func user(_ user: User) {
        string(user.name)
        optional(user.passwordHash) { w, hash in
            w.byte(hash.algorithm.rawValue)
            w.blob(hash.salt)
            w.blob(hash.digest)
        }
        array(user.tags) { $0.string($1) }
    }

    /// A kind byte (0 vhost, 1 user), then the name.
    mutating func limitSubject(_ subject: LimitSubject) {
        switch subject {
        case .vhost(let name):
            byte(0)
            string(name)
        case .user(let name):
            byte(1)
            string(name)
        }
    }

    mutating func permission(_ permission: Permission) {
        string(permission.configure)
        string(permission.write)
        string(permission.read)
    }
}
