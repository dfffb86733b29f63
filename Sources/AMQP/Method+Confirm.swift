import NIOCore

// The methods of class confirm (85), their fields and their wire form.
// Field order, types, bit packing and defaults follow RabbitMQ's amqp0-9-1 extended spec.

extension Method {
    /// Class `confirm` (85): Publisher confirms (RabbitMQ extension).
    public enum Confirm: Hashable, Sendable {
        /// `confirm.select` (10): Puts the channel in publisher-confirm mode (RabbitMQ extension). C→S.
        case select(Select)
        /// `confirm.select-ok` (11): Confirms confirm mode (RabbitMQ extension). S→C.
        case selectOk
    }
}

extension Method.Confirm {
    /// The fields of `confirm.select`.
    public struct Select: Hashable, Sendable {
        /// Do not send a reply method.
        public var noWait: Bool

        public init(noWait: Bool = false) {
            self.noWait = noWait
        }
    }
}

extension Method.Confirm {
    /// The class id of `confirm` on the wire.
    public static let classID: UInt16 = 85

    /// The method id of this method within its class.
    var methodID: UInt16 {
        switch self {
        case .select: 10
        case .selectOk: 11
        }
    }

    /// The spec's name of this method, e.g. `"confirm.select"`.
    var name: String {
        switch self {
        case .select: "confirm.select"
        case .selectOk: "confirm.select-ok"
        }
    }
}

extension Method.Confirm {
    /// Decodes the fields of method `methodID`, consuming them from `buffer`.
    ///
    /// Returns nil for a method id this class does not have. Errors thrown here carry no
    /// method id; `Method.decode(from:)` attaches it.
    static func decode(methodID: UInt16, from buffer: inout ByteBuffer) throws(AMQPError) -> Self? {
        switch methodID {
        case 10:
            let bits = try buffer.readOctet()
            let noWait = bits & 0x01 != 0
            return .select(Select(noWait: noWait))
        case 11:
            return .selectOk
        default:
            return nil
        }
    }

    /// Writes the fields of this method (not its class and method ids) into `buffer`.
    func encodeFields(into buffer: inout ByteBuffer) throws(AMQPError) {
        switch self {
        case .select(let fields):
            buffer.writeInteger((fields.noWait ? 0x01 : 0) as UInt8)
        case .selectOk:
            break
        }
    }
}
