import NIOCore

/// An AMQP 0-9-1 method: the payload of a method frame.
///
/// One case per class, each holding that class's own enum of methods, so a shell can
/// route by class first and still `switch` exhaustively. Covers every method of the
/// classes connection (10), channel (20), exchange (40), queue (50), basic (60),
/// confirm (85) and tx (90) of RabbitMQ's extended 0-9-1 spec. Class access (30) is
/// not included: current clients never send it, and it decodes as NOT_IMPLEMENTED.
public enum Method: Hashable, Sendable {
    case connection(Connection)
    case channel(Channel)
    case exchange(Exchange)
    case queue(Queue)
    case basic(Basic)
    case confirm(Confirm)
    case tx(Tx)
}

/// The class id and method id of a method, as on the wire.
public struct MethodID: Hashable, Sendable, CustomStringConvertible {
    public var classID: UInt16
    public var methodID: UInt16

    public init(classID: UInt16, methodID: UInt16) {
        self.classID = classID
        self.methodID = methodID
    }

    public var description: String {
        "\(self.classID).\(self.methodID)"
    }
}

extension Method {
    /// The class id and method id of this method.
    public var id: MethodID {
        switch self {
        case .connection(let method): MethodID(classID: Connection.classID, methodID: method.methodID)
        case .channel(let method): MethodID(classID: Channel.classID, methodID: method.methodID)
        case .exchange(let method): MethodID(classID: Exchange.classID, methodID: method.methodID)
        case .queue(let method): MethodID(classID: Queue.classID, methodID: method.methodID)
        case .basic(let method): MethodID(classID: Basic.classID, methodID: method.methodID)
        case .confirm(let method): MethodID(classID: Confirm.classID, methodID: method.methodID)
        case .tx(let method): MethodID(classID: Tx.classID, methodID: method.methodID)
        }
    }

    /// The spec's name, e.g. `"basic.publish"`.
    public var name: String {
        switch self {
        case .connection(let method): method.name
        case .channel(let method): method.name
        case .exchange(let method): method.name
        case .queue(let method): method.name
        case .basic(let method): method.name
        case .confirm(let method): method.name
        case .tx(let method): method.name
        }
    }

    /// The content-bearing view of this method, or nil when no content follows it.
    ///
    /// Exactly basic.publish, basic.return, basic.deliver and basic.get-ok carry content
    /// (a content header and body frames follow them on the same channel).
    public var contentMethod: ContentMethod? {
        switch self {
        case .basic(.publish(let fields)): .publish(fields)
        case .basic(.return(let fields)): .return(fields)
        case .basic(.deliver(let fields)): .deliver(fields)
        case .basic(.getOk(let fields)): .getOk(fields)
        case .connection, .channel, .exchange, .queue, .basic, .confirm, .tx: nil
        }
    }

    /// True for methods of class connection, which travel only on channel 0.
    public var isConnectionMethod: Bool {
        switch self {
        case .connection: true
        case .channel, .exchange, .queue, .basic, .confirm, .tx: false
        }
    }
}

extension Method {
    /// Decodes a whole method frame payload: class id, method id and fields.
    ///
    /// Fails with 540 NOT_IMPLEMENTED for an unknown class or method, and with 502
    /// SYNTAX_ERROR (carrying the method id) when the fields do not decode or bytes are
    /// left over after them.
    static func decode(from payload: inout ByteBuffer) throws(AMQPError) -> Method {
        let classID = try payload.readShort()
        let methodID = try payload.readShort()
        let id = MethodID(classID: classID, methodID: methodID)
        do throws(AMQPError) {
            guard let method = try Self.decodeFields(id: id, from: &payload) else {
                throw AMQPError.methodUnknown(id)
            }
            guard payload.readableBytes == 0 else {
                throw AMQPError.syntaxError(.trailingBytes(count: payload.readableBytes), method: nil)
            }
            return method
        } catch {
            throw error.attaching(method: id)
        }
    }

    private static func decodeFields(id: MethodID, from buffer: inout ByteBuffer) throws(AMQPError) -> Method? {
        switch id.classID {
        case Connection.classID: try Connection.decode(methodID: id.methodID, from: &buffer).map(Method.connection)
        case Channel.classID: try Channel.decode(methodID: id.methodID, from: &buffer).map(Method.channel)
        case Exchange.classID: try Exchange.decode(methodID: id.methodID, from: &buffer).map(Method.exchange)
        case Queue.classID: try Queue.decode(methodID: id.methodID, from: &buffer).map(Method.queue)
        case Basic.classID: try Basic.decode(methodID: id.methodID, from: &buffer).map(Method.basic)
        case Confirm.classID: try Confirm.decode(methodID: id.methodID, from: &buffer).map(Method.confirm)
        case Tx.classID: try Tx.decode(methodID: id.methodID, from: &buffer).map(Method.tx)
        default: nil
        }
    }

    /// Writes the method frame payload: class id, method id and fields.
    ///
    /// Fails with 502 SYNTAX_ERROR when a field cannot be encoded (a shortstr over 255
    /// bytes, tables nested too deep).
    func encode(into buffer: inout ByteBuffer) throws(AMQPError) {
        let id = self.id
        buffer.writeInteger(id.classID)
        buffer.writeInteger(id.methodID)
        do throws(AMQPError) {
            switch self {
            case .connection(let method): try method.encodeFields(into: &buffer)
            case .channel(let method): try method.encodeFields(into: &buffer)
            case .exchange(let method): try method.encodeFields(into: &buffer)
            case .queue(let method): try method.encodeFields(into: &buffer)
            case .basic(let method): try method.encodeFields(into: &buffer)
            case .confirm(let method): try method.encodeFields(into: &buffer)
            case .tx(let method): try method.encodeFields(into: &buffer)
            }
        } catch {
            throw error.attaching(method: id)
        }
    }
}

extension AMQPError {
    /// This error with `method` filled in, when it is a syntax error without one.
    func attaching(method: MethodID) -> AMQPError {
        switch self {
        case .syntaxError(let problem, nil):
            .syntaxError(problem, method: method)
        case .frameTypeUnknown, .frameTooLarge, .frameEndInvalid, .heartbeatInvalid, .bodyExceedsDeclaredSize,
            .syntaxError, .methodOnWrongChannel, .channelOutOfRange, .unexpectedFrame, .methodUnknown,
            .messageTooLarge:
            self
        }
    }
}
