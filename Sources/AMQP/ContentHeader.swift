import NIOCore

/// The payload of a content header frame: it follows a content-bearing method and
/// announces the body size and the message properties.
public struct ContentHeader: Hashable, Sendable {
    /// The class of the method this content belongs to; 60 (basic) for every
    /// content-bearing method of 0-9-1.
    public var classID: UInt16
    /// Unused; must be zero.
    public var weight: UInt16
    /// The total size of the body that the body frames carry.
    public var bodySize: UInt64
    /// The message properties.
    public var properties: BasicProperties

    public init(
        classID: UInt16 = Method.Basic.classID,
        weight: UInt16 = 0,
        bodySize: UInt64,
        properties: BasicProperties = BasicProperties()
    ) {
        self.classID = classID
        self.weight = weight
        self.bodySize = bodySize
        self.properties = properties
    }
}

extension ContentHeader {
    /// Decodes a whole content header frame payload.
    ///
    /// Only class basic carries content in 0-9-1, so a header for any other class, or with
    /// a non-zero weight, is 505 UNEXPECTED_FRAME whatever came before it (RabbitMQ's
    /// answer too). Fields that do not decode, or bytes left after the properties, are
    /// 502 SYNTAX_ERROR.
    static func decode(from payload: inout ByteBuffer, channel: UInt16) throws(AMQPError) -> ContentHeader {
        let classID = try payload.readShort()
        let weight = try payload.readShort()
        let bodySize = try payload.readLongLong()
        guard classID == Method.Basic.classID else {
            throw AMQPError.unexpectedFrame(
                .contentHeaderClassMismatch(expected: Method.Basic.classID, received: classID),
                channel: channel
            )
        }
        guard weight == 0 else {
            throw AMQPError.unexpectedFrame(.contentHeaderWeightNonZero(weight), channel: channel)
        }
        let properties = try BasicProperties.decode(from: &payload)
        guard payload.readableBytes == 0 else {
            throw AMQPError.syntaxError(.trailingBytes(count: payload.readableBytes), method: nil)
        }
        return ContentHeader(classID: classID, weight: weight, bodySize: bodySize, properties: properties)
    }

    /// Writes a content header frame payload.
    func encode(into buffer: inout ByteBuffer) throws(AMQPError) {
        buffer.writeInteger(self.classID)
        buffer.writeInteger(self.weight)
        buffer.writeInteger(self.bodySize)
        try self.properties.encode(into: &buffer)
    }
}
