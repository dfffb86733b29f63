import NIOCore

// Property flags (amqp0-9-1 §4.2.6.1): a sequence of 16-bit words. In each word, bits 15
// down to 1 flag the presence of the next 15 properties, in declaration order, and bit 0
// says another flags word follows. Class basic has 14 properties, so they all fit in the
// first word (bits 15 to 2); a peer may still set the continuation bit and send more
// words, which must then flag nothing.

extension BasicProperties {
    private enum Flag {
        static let contentType: UInt16 = 1 << 15
        static let contentEncoding: UInt16 = 1 << 14
        static let headers: UInt16 = 1 << 13
        static let deliveryMode: UInt16 = 1 << 12
        static let priority: UInt16 = 1 << 11
        static let correlationID: UInt16 = 1 << 10
        static let replyTo: UInt16 = 1 << 9
        static let expiration: UInt16 = 1 << 8
        static let messageID: UInt16 = 1 << 7
        static let timestamp: UInt16 = 1 << 6
        static let type: UInt16 = 1 << 5
        static let userID: UInt16 = 1 << 4
        static let appID: UInt16 = 1 << 3
        static let clusterID: UInt16 = 1 << 2
        /// Bit 1 would flag a 15th property; basic has none.
        static let unused: UInt16 = 1 << 1
        static let continuation: UInt16 = 1 << 0
    }

    /// Reads property flags and the properties they announce.
    static func decode(from buffer: inout ByteBuffer) throws(AMQPError) -> BasicProperties {
        let flags = try buffer.readShort()
        guard flags & Flag.unused == 0 else {
            throw AMQPError.syntaxError(.propertyFlagsUnknown(flags), method: nil)
        }
        var continuation = flags & Flag.continuation != 0
        while continuation {
            // Each further word costs two payload bytes, so the payload bounds this loop.
            let moreFlags = try buffer.readShort()
            guard moreFlags & ~Flag.continuation == 0 else {
                throw AMQPError.syntaxError(.propertyFlagsUnknown(moreFlags), method: nil)
            }
            continuation = moreFlags & Flag.continuation != 0
        }

        func has(_ flag: UInt16) -> Bool { flags & flag != 0 }
        var properties = BasicProperties()
        if has(Flag.contentType) { properties.contentType = try buffer.readShortString() }
        if has(Flag.contentEncoding) { properties.contentEncoding = try buffer.readShortString() }
        if has(Flag.headers) { properties.headers = try buffer.readFieldTable() }
        if has(Flag.deliveryMode) { properties.deliveryMode = try buffer.readOctet() }
        if has(Flag.priority) { properties.priority = try buffer.readOctet() }
        if has(Flag.correlationID) { properties.correlationID = try buffer.readShortString() }
        if has(Flag.replyTo) { properties.replyTo = try buffer.readShortString() }
        if has(Flag.expiration) { properties.expiration = try buffer.readShortString() }
        if has(Flag.messageID) { properties.messageID = try buffer.readShortString() }
        if has(Flag.timestamp) { properties.timestamp = try buffer.readLongLong() }
        if has(Flag.type) { properties.type = try buffer.readShortString() }
        if has(Flag.userID) { properties.userID = try buffer.readShortString() }
        if has(Flag.appID) { properties.appID = try buffer.readShortString() }
        if has(Flag.clusterID) { properties.clusterID = try buffer.readShortString() }
        return properties
    }

    /// Writes one flags word (never a continuation: basic needs none) and the properties.
    func encode(into buffer: inout ByteBuffer) throws(AMQPError) {
        var flags: UInt16 = 0
        if self.contentType != nil { flags |= Flag.contentType }
        if self.contentEncoding != nil { flags |= Flag.contentEncoding }
        if self.headers != nil { flags |= Flag.headers }
        if self.deliveryMode != nil { flags |= Flag.deliveryMode }
        if self.priority != nil { flags |= Flag.priority }
        if self.correlationID != nil { flags |= Flag.correlationID }
        if self.replyTo != nil { flags |= Flag.replyTo }
        if self.expiration != nil { flags |= Flag.expiration }
        if self.messageID != nil { flags |= Flag.messageID }
        if self.timestamp != nil { flags |= Flag.timestamp }
        if self.type != nil { flags |= Flag.type }
        if self.userID != nil { flags |= Flag.userID }
        if self.appID != nil { flags |= Flag.appID }
        if self.clusterID != nil { flags |= Flag.clusterID }
        buffer.writeInteger(flags)

        if let contentType { try buffer.writeShortString(contentType) }
        if let contentEncoding { try buffer.writeShortString(contentEncoding) }
        if let headers { try buffer.writeFieldTable(headers) }
        if let deliveryMode { buffer.writeInteger(deliveryMode) }
        if let priority { buffer.writeInteger(priority) }
        if let correlationID { try buffer.writeShortString(correlationID) }
        if let replyTo { try buffer.writeShortString(replyTo) }
        if let expiration { try buffer.writeShortString(expiration) }
        if let messageID { try buffer.writeShortString(messageID) }
        if let timestamp { buffer.writeInteger(timestamp) }
        if let type { try buffer.writeShortString(type) }
        if let userID { try buffer.writeShortString(userID) }
        if let appID { try buffer.writeShortString(appID) }
        if let clusterID { try buffer.writeShortString(clusterID) }
    }
}
