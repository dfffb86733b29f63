import NIOCore

// The methods of class exchange (40), their fields and their wire form.
// Field order, types, bit packing and defaults follow RabbitMQ's amqp0-9-1 extended spec.

extension Method {
    /// Class `exchange` (40): Work with exchanges.
    public enum Exchange: Hashable, Sendable {
        /// `exchange.declare` (10): Verifies an exchange exists, creating it if needed. C→S.
        case declare(Declare)
        /// `exchange.declare-ok` (11): Confirms an exchange declaration. S→C.
        case declareOk
        /// `exchange.delete` (20): Deletes an exchange. C→S.
        case delete(Delete)
        /// `exchange.delete-ok` (21): Confirms an exchange deletion. S→C.
        case deleteOk
        /// `exchange.bind` (30): Binds an exchange to an exchange (RabbitMQ extension). C→S.
        case bind(Bind)
        /// `exchange.bind-ok` (31): Confirms an exchange-to-exchange binding (RabbitMQ extension). S→C.
        case bindOk
        /// `exchange.unbind` (40): Unbinds an exchange from an exchange (RabbitMQ extension). C→S.
        case unbind(Unbind)
        /// `exchange.unbind-ok` (51): Confirms an exchange unbinding (RabbitMQ extension; method id 51, not 41). S→C.
        case unbindOk
    }
}

extension Method.Exchange {
    /// The fields of `exchange.declare`.
    public struct Declare: Hashable, Sendable {
        /// Reserved (deprecated access ticket); clients send 0.
        public var ticket: UInt16
        /// Exchange name.
        public var exchange: String
        /// Exchange type.
        public var type: String
        /// Do not create exchange.
        public var passive: Bool
        /// Request a durable exchange.
        public var durable: Bool
        /// Auto-delete when unused.
        public var autoDelete: Bool
        /// Create internal exchange.
        public var `internal`: Bool
        /// Do not send a reply method.
        public var noWait: Bool
        /// Arguments for declaration.
        public var arguments: FieldTable

        public init(
            ticket: UInt16 = 0,
            exchange: String,
            type: String = "direct",
            passive: Bool = false,
            durable: Bool = false,
            autoDelete: Bool = false,
            internal: Bool = false,
            noWait: Bool = false,
            arguments: FieldTable = [:]
        ) {
            self.ticket = ticket
            self.exchange = exchange
            self.type = type
            self.passive = passive
            self.durable = durable
            self.autoDelete = autoDelete
            self.internal = `internal`
            self.noWait = noWait
            self.arguments = arguments
        }
    }
}

extension Method.Exchange {
    /// The fields of `exchange.delete`.
    public struct Delete: Hashable, Sendable {
        /// Reserved (deprecated access ticket); clients send 0.
        public var ticket: UInt16
        /// Exchange name.
        public var exchange: String
        /// Delete only if unused.
        public var ifUnused: Bool
        /// Do not send a reply method.
        public var noWait: Bool

        public init(ticket: UInt16 = 0, exchange: String, ifUnused: Bool = false, noWait: Bool = false) {
            self.ticket = ticket
            self.exchange = exchange
            self.ifUnused = ifUnused
            self.noWait = noWait
        }
    }
}

extension Method.Exchange {
    /// The fields of `exchange.bind`.
    public struct Bind: Hashable, Sendable {
        /// Reserved (deprecated access ticket); clients send 0.
        public var ticket: UInt16
        /// Name of the destination exchange to bind to.
        public var destination: String
        /// Name of the source exchange to bind to.
        public var source: String
        /// Message routing key.
        public var routingKey: String
        /// Do not send a reply method.
        public var noWait: Bool
        /// Arguments for binding.
        public var arguments: FieldTable

        public init(
            ticket: UInt16 = 0,
            destination: String,
            source: String,
            routingKey: String = "",
            noWait: Bool = false,
            arguments: FieldTable = [:]
        ) {
            self.ticket = ticket
            self.destination = destination
            self.source = source
            self.routingKey = routingKey
            self.noWait = noWait
            self.arguments = arguments
        }
    }
}

extension Method.Exchange {
    /// The fields of `exchange.unbind`.
    public struct Unbind: Hashable, Sendable {
        /// Reserved (deprecated access ticket); clients send 0.
        public var ticket: UInt16
        /// Exchange name.
        public var destination: String
        /// Exchange name.
        public var source: String
        /// Routing key of binding.
        public var routingKey: String
        /// Do not send a reply method.
        public var noWait: Bool
        /// Arguments of binding.
        public var arguments: FieldTable

        public init(
            ticket: UInt16 = 0,
            destination: String,
            source: String,
            routingKey: String = "",
            noWait: Bool = false,
            arguments: FieldTable = [:]
        ) {
            self.ticket = ticket
            self.destination = destination
            self.source = source
            self.routingKey = routingKey
            self.noWait = noWait
            self.arguments = arguments
        }
    }
}

extension Method.Exchange {
    /// The class id of `exchange` on the wire.
    public static let classID: UInt16 = 40

    /// The method id of this method within its class.
    var methodID: UInt16 {
        switch self {
        case .declare: 10
        case .declareOk: 11
        case .delete: 20
        case .deleteOk: 21
        case .bind: 30
        case .bindOk: 31
        case .unbind: 40
        case .unbindOk: 51
        }
    }

    /// The spec's name of this method, e.g. `"exchange.declare"`.
    var name: String {
        switch self {
        case .declare: "exchange.declare"
        case .declareOk: "exchange.declare-ok"
        case .delete: "exchange.delete"
        case .deleteOk: "exchange.delete-ok"
        case .bind: "exchange.bind"
        case .bindOk: "exchange.bind-ok"
        case .unbind: "exchange.unbind"
        case .unbindOk: "exchange.unbind-ok"
        }
    }
}

extension Method.Exchange {
    /// Decodes the fields of method `methodID`, consuming them from `buffer`.
    ///
    /// Returns nil for a method id this class does not have. Errors thrown here carry no
    /// method id; `Method.decode(from:)` attaches it.
    static func decode(methodID: UInt16, from buffer: inout ByteBuffer) throws(AMQPError) -> Self? {
        switch methodID {
        case 10:
            let ticket = try buffer.readShort()
            let exchange = try buffer.readShortString()
            let type = try buffer.readShortString()
            let bits = try buffer.readOctet()
            let passive = bits & 0x01 != 0
            let durable = bits & 0x02 != 0
            let autoDelete = bits & 0x04 != 0
            let `internal` = bits & 0x08 != 0
            let noWait = bits & 0x10 != 0
            let arguments = try buffer.readFieldTable()
            return .declare(
                Declare(
                    ticket: ticket,
                    exchange: exchange,
                    type: type,
                    passive: passive,
                    durable: durable,
                    autoDelete: autoDelete,
                    internal: `internal`,
                    noWait: noWait,
                    arguments: arguments
                )
            )
        case 11:
            return .declareOk
        case 20:
            let ticket = try buffer.readShort()
            let exchange = try buffer.readShortString()
            let bits = try buffer.readOctet()
            let ifUnused = bits & 0x01 != 0
            let noWait = bits & 0x02 != 0
            return .delete(Delete(ticket: ticket, exchange: exchange, ifUnused: ifUnused, noWait: noWait))
        case 21:
            return .deleteOk
        case 30:
            let ticket = try buffer.readShort()
            let destination = try buffer.readShortString()
            let source = try buffer.readShortString()
            let routingKey = try buffer.readShortString()
            let bits = try buffer.readOctet()
            let noWait = bits & 0x01 != 0
            let arguments = try buffer.readFieldTable()
            return .bind(
                Bind(
                    ticket: ticket,
                    destination: destination,
                    source: source,
                    routingKey: routingKey,
                    noWait: noWait,
                    arguments: arguments
                )
            )
        case 31:
            return .bindOk
        case 40:
            let ticket = try buffer.readShort()
            let destination = try buffer.readShortString()
            let source = try buffer.readShortString()
            let routingKey = try buffer.readShortString()
            let bits = try buffer.readOctet()
            let noWait = bits & 0x01 != 0
            let arguments = try buffer.readFieldTable()
            return .unbind(
                Unbind(
                    ticket: ticket,
                    destination: destination,
                    source: source,
                    routingKey: routingKey,
                    noWait: noWait,
                    arguments: arguments
                )
            )
        case 51:
            return .unbindOk
        default:
            return nil
        }
    }

    /// Writes the fields of this method (not its class and method ids) into `buffer`.
    func encodeFields(into buffer: inout ByteBuffer) throws(AMQPError) {
        switch self {
        case .declare(let fields):
            buffer.writeInteger(fields.ticket)
            try buffer.writeShortString(fields.exchange)
            try buffer.writeShortString(fields.type)
            let bits: UInt8 =
                (fields.passive ? 0x01 : 0)
                | (fields.durable ? 0x02 : 0)
                | (fields.autoDelete ? 0x04 : 0)
                | (fields.internal ? 0x08 : 0)
                | (fields.noWait ? 0x10 : 0)
            buffer.writeInteger(bits)
            try buffer.writeFieldTable(fields.arguments)
        case .delete(let fields):
            buffer.writeInteger(fields.ticket)
            try buffer.writeShortString(fields.exchange)
            let bits: UInt8 =
                (fields.ifUnused ? 0x01 : 0)
                | (fields.noWait ? 0x02 : 0)
            buffer.writeInteger(bits)
        case .bind(let fields):
            buffer.writeInteger(fields.ticket)
            try buffer.writeShortString(fields.destination)
            try buffer.writeShortString(fields.source)
            try buffer.writeShortString(fields.routingKey)
            buffer.writeInteger((fields.noWait ? 0x01 : 0) as UInt8)
            try buffer.writeFieldTable(fields.arguments)
        case .unbind(let fields):
            buffer.writeInteger(fields.ticket)
            try buffer.writeShortString(fields.destination)
            try buffer.writeShortString(fields.source)
            try buffer.writeShortString(fields.routingKey)
            buffer.writeInteger((fields.noWait ? 0x01 : 0) as UInt8)
            try buffer.writeFieldTable(fields.arguments)
        case .declareOk, .deleteOk, .bindOk, .unbindOk:
            break
        }
    }
}
