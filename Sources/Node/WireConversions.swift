import AMQP
import Broker

/// The AMQP codec and the broker each have their own value types, so that neither depends
/// on the other; the node translates at the boundary.
extension ArgumentTable {
    init(_ table: FieldTable) {
        self.init(table.entries.map { ArgumentTable.Entry(key: $0.name, value: ArgumentValue($0.value)) })
    }
}

extension FieldTable {
    init(_ table: ArgumentTable) {
        self.init(table.entries.map { FieldTable.Entry(name: $0.key, value: FieldValue($0.value)) })
    }
}

extension ArgumentValue {
    init(_ value: FieldValue) {
        switch value {
        case .bool(let v): self = .bool(v)
        case .int8(let v): self = .int8(v)
        case .uint8(let v): self = .uint8(v)
        case .int16(let v): self = .int16(v)
        case .uint16(let v): self = .uint16(v)
        case .int32(let v): self = .int32(v)
        case .uint32(let v): self = .uint32(v)
        case .int64(let v): self = .int64(v)
        case .float(let v): self = .float(v)
        case .double(let v): self = .double(v)
        case .decimal(let scale, let v): self = .decimal(scale: scale, value: v)
        // A long string is bytes on the wire; nearly always text, kept as text when it is.
        case .longString(let bytes): self = String(validating: bytes, as: UTF8.self).map(ArgumentValue.string) ?? .bytes(bytes)
        case .byteArray(let bytes): self = .bytes(bytes)
        case .array(let items): self = .array(items.map(ArgumentValue.init))
        case .timestamp(let v): self = .timestamp(v)
        case .table(let table): self = .table(ArgumentTable(table))
        case .void: self = .void
        }
    }
}

extension FieldValue {
    init(_ value: ArgumentValue) {
        switch value {
        case .bool(let v): self = .bool(v)
        case .int8(let v): self = .int8(v)
        case .uint8(let v): self = .uint8(v)
        case .int16(let v): self = .int16(v)
        case .uint16(let v): self = .uint16(v)
        case .int32(let v): self = .int32(v)
        case .uint32(let v): self = .uint32(v)
        case .int64(let v): self = .int64(v)
        // AMQP has no unsigned 64-bit type that clients read; RabbitMQ sends it as signed.
        case .uint64(let v): self = .int64(Int64(truncatingIfNeeded: v))
        case .float(let v): self = .float(v)
        case .double(let v): self = .double(v)
        case .decimal(let scale, let v): self = .decimal(scale: scale, value: v)
        case .string(let s): self = .longString(Array(s.utf8))
        case .bytes(let bytes): self = .byteArray(bytes)
        case .timestamp(let v): self = .timestamp(v)
        case .array(let items): self = .array(items.map(FieldValue.init))
        case .table(let table): self = .table(FieldTable(table))
        case .void: self = .void
        }
    }
}

extension Broker.BasicProperties {
    init(_ p: AMQP.BasicProperties) {
        self.init(
            contentType: p.contentType, contentEncoding: p.contentEncoding, headers: p.headers.map(ArgumentTable.init),
            deliveryMode: p.deliveryMode, priority: p.priority, correlationId: p.correlationID, replyTo: p.replyTo,
            expiration: p.expiration, messageId: p.messageID, timestamp: p.timestamp, type: p.type, userId: p.userID,
            appId: p.appID, clusterId: p.clusterID)
    }
}

extension AMQP.BasicProperties {
    init(_ p: Broker.BasicProperties) {
        self.init()
        contentType = p.contentType
        contentEncoding = p.contentEncoding
        headers = p.headers.map(FieldTable.init)
        deliveryMode = p.deliveryMode
        priority = p.priority
        correlationID = p.correlationId
        replyTo = p.replyTo
        expiration = p.expiration
        messageID = p.messageId
        timestamp = p.timestamp
        type = p.type
        userID = p.userId
        appID = p.appId
        clusterID = p.clusterId
    }
}
