import NIOCore

// The methods of class queue (50), their fields and their wire form.
// Field order, types, bit packing and defaults follow RabbitMQ's amqp0-9-1 extended spec.

extension Method {
    /// Class `queue` (50): Work with queues.
    public enum Queue: Hashable, Sendable {
        /// `queue.declare` (10): Declares a queue, creating it if needed. C→S.
        case declare(Declare)
        /// `queue.declare-ok` (11): Confirms a queue declaration. S→C.
        case declareOk(DeclareOk)
        /// `queue.bind` (20): Binds a queue to an exchange. C→S.
        case bind(Bind)
        /// `queue.bind-ok` (21): Confirms a queue binding. S→C.
        case bindOk
        /// `queue.purge` (30): Purges a queue. C→S.
        case purge(Purge)
        /// `queue.purge-ok` (31): Confirms a queue purge. S→C.
        case purgeOk(PurgeOk)
        /// `queue.delete` (40): Deletes a queue. C→S.
        case delete(Delete)
        /// `queue.delete-ok` (41): Confirms a queue deletion. S→C.
        case deleteOk(DeleteOk)
        /// `queue.unbind` (50): Unbinds a queue from an exchange. C→S.
        case unbind(Unbind)
        /// `queue.unbind-ok` (51): Confirms a queue unbinding. S→C.
        case unbindOk
    }
}

extension Method.Queue {
    /// The fields of `queue.declare`.
    public struct Declare: Hashable, Sendable {
        /// Reserved (deprecated access ticket); clients send 0.
        public var ticket: UInt16
        /// Queue name.
        public var queue: String
        /// Do not create queue.
        public var passive: Bool
        /// Request a durable queue.
        public var durable: Bool
        /// Request an exclusive queue.
        public var exclusive: Bool
        /// Auto-delete queue when unused.
        public var autoDelete: Bool
        /// Do not send a reply method.
        public var noWait: Bool
        /// Arguments for declaration.
        public var arguments: FieldTable

        public init(
            ticket: UInt16 = 0,
            queue: String = "",
            passive: Bool = false,
            durable: Bool = false,
            exclusive: Bool = false,
            autoDelete: Bool = false,
            noWait: Bool = false,
            arguments: FieldTable = [:]
        ) {
            self.ticket = ticket
            self.queue = queue
            self.passive = passive
            self.durable = durable
            self.exclusive = exclusive
            self.autoDelete = autoDelete
            self.noWait = noWait
            self.arguments = arguments
        }
    }
}

extension Method.Queue {
    /// The fields of `queue.declare-ok`.
    public struct DeclareOk: Hashable, Sendable {
        /// Queue name.
        public var queue: String
        /// Number of messages in queue.
        public var messageCount: UInt32
        /// Number of consumers.
        public var consumerCount: UInt32

        public init(queue: String, messageCount: UInt32, consumerCount: UInt32) {
            self.queue = queue
            self.messageCount = messageCount
            self.consumerCount = consumerCount
        }
    }
}

extension Method.Queue {
    /// The fields of `queue.bind`.
    public struct Bind: Hashable, Sendable {
        /// Reserved (deprecated access ticket); clients send 0.
        public var ticket: UInt16
        /// Queue name.
        public var queue: String
        /// Name of the exchange to bind to.
        public var exchange: String
        /// Message routing key.
        public var routingKey: String
        /// Do not send a reply method.
        public var noWait: Bool
        /// Arguments for binding.
        public var arguments: FieldTable

        public init(
            ticket: UInt16 = 0,
            queue: String = "",
            exchange: String,
            routingKey: String = "",
            noWait: Bool = false,
            arguments: FieldTable = [:]
        ) {
            self.ticket = ticket
            self.queue = queue
            self.exchange = exchange
            self.routingKey = routingKey
            self.noWait = noWait
            self.arguments = arguments
        }
    }
}

extension Method.Queue {
    /// The fields of `queue.purge`.
    public struct Purge: Hashable, Sendable {
        /// Reserved (deprecated access ticket); clients send 0.
        public var ticket: UInt16
        /// Queue name.
        public var queue: String
        /// Do not send a reply method.
        public var noWait: Bool

        public init(ticket: UInt16 = 0, queue: String = "", noWait: Bool = false) {
            self.ticket = ticket
            self.queue = queue
            self.noWait = noWait
        }
    }
}

extension Method.Queue {
    /// The fields of `queue.purge-ok`.
    public struct PurgeOk: Hashable, Sendable {
        /// Number of messages in queue.
        public var messageCount: UInt32

        public init(messageCount: UInt32) {
            self.messageCount = messageCount
        }
    }
}

extension Method.Queue {
    /// The fields of `queue.delete`.
    public struct Delete: Hashable, Sendable {
        /// Reserved (deprecated access ticket); clients send 0.
        public var ticket: UInt16
        /// Queue name.
        public var queue: String
        /// Delete only if unused.
        public var ifUnused: Bool
        /// Delete only if empty.
        public var ifEmpty: Bool
        /// Do not send a reply method.
        public var noWait: Bool

        public init(
            ticket: UInt16 = 0,
            queue: String = "",
            ifUnused: Bool = false,
            ifEmpty: Bool = false,
            noWait: Bool = false
        ) {
            self.ticket = ticket
            self.queue = queue
            self.ifUnused = ifUnused
            self.ifEmpty = ifEmpty
            self.noWait = noWait
        }
    }
}

extension Method.Queue {
    /// The fields of `queue.delete-ok`.
    public struct DeleteOk: Hashable, Sendable {
        /// Number of messages in queue.
        public var messageCount: UInt32

        public init(messageCount: UInt32) {
            self.messageCount = messageCount
        }
    }
}

extension Method.Queue {
    /// The fields of `queue.unbind`.
    public struct Unbind: Hashable, Sendable {
        /// Reserved (deprecated access ticket); clients send 0.
        public var ticket: UInt16
        /// Queue name.
        public var queue: String
        /// Exchange name.
        public var exchange: String
        /// Routing key of binding.
        public var routingKey: String
        /// Arguments of binding.
        public var arguments: FieldTable

        public init(
            ticket: UInt16 = 0,
            queue: String = "",
            exchange: String,
            routingKey: String = "",
            arguments: FieldTable = [:]
        ) {
            self.ticket = ticket
            self.queue = queue
            self.exchange = exchange
            self.routingKey = routingKey
            self.arguments = arguments
        }
    }
}

extension Method.Queue {
    /// The class id of `queue` on the wire.
    public static let classID: UInt16 = 50

    /// The method id of this method within its class.
    var methodID: UInt16 {
        switch self {
        case .declare: 10
        case .declareOk: 11
        case .bind: 20
        case .bindOk: 21
        case .purge: 30
        case .purgeOk: 31
        case .delete: 40
        case .deleteOk: 41
        case .unbind: 50
        case .unbindOk: 51
        }
    }

    /// The spec's name of this method, e.g. `"queue.declare"`.
    var name: String {
        switch self {
        case .declare: "queue.declare"
        case .declareOk: "queue.declare-ok"
        case .bind: "queue.bind"
        case .bindOk: "queue.bind-ok"
        case .purge: "queue.purge"
        case .purgeOk: "queue.purge-ok"
        case .delete: "queue.delete"
        case .deleteOk: "queue.delete-ok"
        case .unbind: "queue.unbind"
        case .unbindOk: "queue.unbind-ok"
        }
    }
}

extension Method.Queue {
    /// Decodes the fields of method `methodID`, consuming them from `buffer`.
    ///
    /// Returns nil for a method id this class does not have. Errors thrown here carry no
    /// method id; `Method.decode(from:)` attaches it.
    static func decode(methodID: UInt16, from buffer: inout ByteBuffer) throws(AMQPError) -> Self? {
        switch methodID {
        case 10:
            let ticket = try buffer.readShort()
            let queue = try buffer.readShortString()
            let bits = try buffer.readOctet()
            let passive = bits & 0x01 != 0
            let durable = bits & 0x02 != 0
            let exclusive = bits & 0x04 != 0
            let autoDelete = bits & 0x08 != 0
            let noWait = bits & 0x10 != 0
            let arguments = try buffer.readFieldTable()
            return .declare(
                Declare(
                    ticket: ticket,
                    queue: queue,
                    passive: passive,
                    durable: durable,
                    exclusive: exclusive,
                    autoDelete: autoDelete,
                    noWait: noWait,
                    arguments: arguments
                )
            )
        case 11:
            let queue = try buffer.readShortString()
            let messageCount = try buffer.readLong()
            let consumerCount = try buffer.readLong()
            return .declareOk(DeclareOk(queue: queue, messageCount: messageCount, consumerCount: consumerCount))
        case 20:
            let ticket = try buffer.readShort()
            let queue = try buffer.readShortString()
            let exchange = try buffer.readShortString()
            let routingKey = try buffer.readShortString()
            let bits = try buffer.readOctet()
            let noWait = bits & 0x01 != 0
            let arguments = try buffer.readFieldTable()
            return .bind(
                Bind(
                    ticket: ticket,
                    queue: queue,
                    exchange: exchange,
                    routingKey: routingKey,
                    noWait: noWait,
                    arguments: arguments
                )
            )
        case 21:
            return .bindOk
        case 30:
            let ticket = try buffer.readShort()
            let queue = try buffer.readShortString()
            let bits = try buffer.readOctet()
            let noWait = bits & 0x01 != 0
            return .purge(Purge(ticket: ticket, queue: queue, noWait: noWait))
        case 31:
            let messageCount = try buffer.readLong()
            return .purgeOk(PurgeOk(messageCount: messageCount))
        case 40:
            let ticket = try buffer.readShort()
            let queue = try buffer.readShortString()
            let bits = try buffer.readOctet()
            let ifUnused = bits & 0x01 != 0
            let ifEmpty = bits & 0x02 != 0
            let noWait = bits & 0x04 != 0
            return .delete(Delete(ticket: ticket, queue: queue, ifUnused: ifUnused, ifEmpty: ifEmpty, noWait: noWait))
        case 41:
            let messageCount = try buffer.readLong()
            return .deleteOk(DeleteOk(messageCount: messageCount))
        case 50:
            let ticket = try buffer.readShort()
            let queue = try buffer.readShortString()
            let exchange = try buffer.readShortString()
            let routingKey = try buffer.readShortString()
            let arguments = try buffer.readFieldTable()
            return .unbind(
                Unbind(
                    ticket: ticket,
                    queue: queue,
                    exchange: exchange,
                    routingKey: routingKey,
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
            try buffer.writeShortString(fields.queue)
            let bits: UInt8 =
                (fields.passive ? 0x01 : 0)
                | (fields.durable ? 0x02 : 0)
                | (fields.exclusive ? 0x04 : 0)
                | (fields.autoDelete ? 0x08 : 0)
                | (fields.noWait ? 0x10 : 0)
            buffer.writeInteger(bits)
            try buffer.writeFieldTable(fields.arguments)
        case .declareOk(let fields):
            try buffer.writeShortString(fields.queue)
            buffer.writeInteger(fields.messageCount)
            buffer.writeInteger(fields.consumerCount)
        case .bind(let fields):
            buffer.writeInteger(fields.ticket)
            try buffer.writeShortString(fields.queue)
            try buffer.writeShortString(fields.exchange)
            try buffer.writeShortString(fields.routingKey)
            buffer.writeInteger((fields.noWait ? 0x01 : 0) as UInt8)
            try buffer.writeFieldTable(fields.arguments)
        case .purge(let fields):
            buffer.writeInteger(fields.ticket)
            try buffer.writeShortString(fields.queue)
            buffer.writeInteger((fields.noWait ? 0x01 : 0) as UInt8)
        case .purgeOk(let fields):
            buffer.writeInteger(fields.messageCount)
        case .delete(let fields):
            buffer.writeInteger(fields.ticket)
            try buffer.writeShortString(fields.queue)
            let bits: UInt8 =
                (fields.ifUnused ? 0x01 : 0)
                | (fields.ifEmpty ? 0x02 : 0)
                | (fields.noWait ? 0x04 : 0)
            buffer.writeInteger(bits)
        case .deleteOk(let fields):
            buffer.writeInteger(fields.messageCount)
        case .unbind(let fields):
            buffer.writeInteger(fields.ticket)
            try buffer.writeShortString(fields.queue)
            try buffer.writeShortString(fields.exchange)
            try buffer.writeShortString(fields.routingKey)
            try buffer.writeFieldTable(fields.arguments)
        case .bindOk, .unbindOk:
            break
        }
    }
}
