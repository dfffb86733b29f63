import NIOCore

// The methods of class basic (60), their fields and their wire form.
// Field order, types, bit packing and defaults follow RabbitMQ's amqp0-9-1 extended spec.

extension Method {
    /// Class `basic` (60): Work with basic content.
    public enum Basic: Hashable, Sendable {
        /// `basic.qos` (10): Specifies the quality of service (prefetch). C→S.
        case qos(Qos)
        /// `basic.qos-ok` (11): Confirms the requested qos. S→C.
        case qosOk
        /// `basic.consume` (20): Starts a queue consumer. C→S.
        case consume(Consume)
        /// `basic.consume-ok` (21): Confirms a new consumer. S→C.
        case consumeOk(ConsumeOk)
        /// `basic.cancel` (30): Ends a consumer. C→S, or S→C as a consumer cancel notification (RabbitMQ extension).
        case cancel(Cancel)
        /// `basic.cancel-ok` (31): Confirms a cancelled consumer. Either peer.
        case cancelOk(CancelOk)
        /// `basic.publish` (40): Publishes a message; content follows. C→S.
        case publish(Publish)
        /// `basic.return` (50): Returns an undeliverable message; content follows. S→C.
        case `return`(Return)
        /// `basic.deliver` (60): Delivers a message to a consumer; content follows. S→C.
        case deliver(Deliver)
        /// `basic.get` (70): Directly accesses a queue (polling). C→S.
        case get(Get)
        /// `basic.get-ok` (71): Provides a message to `get`; content follows. S→C.
        case getOk(GetOk)
        /// `basic.get-empty` (72): Tells `get` that the queue is empty. S→C.
        case getEmpty(GetEmpty)
        /// `basic.ack` (80): Acknowledges one or more messages. C→S, or S→C as a publisher confirm.
        case ack(Ack)
        /// `basic.reject` (90): Rejects one message. C→S.
        case reject(Reject)
        /// `basic.recover-async` (100): Redelivers unacknowledged messages (deprecated). C→S.
        case recoverAsync(RecoverAsync)
        /// `basic.recover` (110): Redelivers unacknowledged messages. C→S.
        case recover(Recover)
        /// `basic.recover-ok` (111): Confirms `recover`. S→C.
        case recoverOk
        /// `basic.nack` (120): Rejects one or more messages (RabbitMQ extension). C→S, or S→C as a negative publisher confirm.
        case nack(Nack)
    }
}

extension Method.Basic {
    /// The fields of `basic.qos`.
    public struct Qos: Hashable, Sendable {
        /// Prefetch window in octets.
        public var prefetchSize: UInt32
        /// Prefetch window in messages.
        public var prefetchCount: UInt16
        /// Apply to entire connection.
        public var global: Bool

        public init(prefetchSize: UInt32 = 0, prefetchCount: UInt16 = 0, global: Bool = false) {
            self.prefetchSize = prefetchSize
            self.prefetchCount = prefetchCount
            self.global = global
        }
    }
}

extension Method.Basic {
    /// The fields of `basic.consume`.
    public struct Consume: Hashable, Sendable {
        /// Reserved (deprecated access ticket); clients send 0.
        public var ticket: UInt16
        /// Queue name.
        public var queue: String
        /// Consumer tag.
        public var consumerTag: String
        /// Do not deliver own messages.
        public var noLocal: Bool
        /// No acknowledgement needed.
        public var noAck: Bool
        /// Request exclusive access.
        public var exclusive: Bool
        /// Do not send a reply method.
        public var noWait: Bool
        /// Arguments for declaration.
        public var arguments: FieldTable

        public init(
            ticket: UInt16 = 0,
            queue: String = "",
            consumerTag: String = "",
            noLocal: Bool = false,
            noAck: Bool = false,
            exclusive: Bool = false,
            noWait: Bool = false,
            arguments: FieldTable = [:]
        ) {
            self.ticket = ticket
            self.queue = queue
            self.consumerTag = consumerTag
            self.noLocal = noLocal
            self.noAck = noAck
            self.exclusive = exclusive
            self.noWait = noWait
            self.arguments = arguments
        }
    }
}

extension Method.Basic {
    /// The fields of `basic.consume-ok`.
    public struct ConsumeOk: Hashable, Sendable {
        /// Consumer tag.
        public var consumerTag: String

        public init(consumerTag: String) {
            self.consumerTag = consumerTag
        }
    }
}

extension Method.Basic {
    /// The fields of `basic.cancel`.
    public struct Cancel: Hashable, Sendable {
        /// Consumer tag.
        public var consumerTag: String
        /// Do not send a reply method.
        public var noWait: Bool

        public init(consumerTag: String, noWait: Bool = false) {
            self.consumerTag = consumerTag
            self.noWait = noWait
        }
    }
}

extension Method.Basic {
    /// The fields of `basic.cancel-ok`.
    public struct CancelOk: Hashable, Sendable {
        /// Consumer tag.
        public var consumerTag: String

        public init(consumerTag: String) {
            self.consumerTag = consumerTag
        }
    }
}

extension Method.Basic {
    /// The fields of `basic.publish`.
    public struct Publish: Hashable, Sendable {
        /// Reserved (deprecated access ticket); clients send 0.
        public var ticket: UInt16
        /// Exchange name.
        public var exchange: String
        /// Message routing key.
        public var routingKey: String
        /// Indicate mandatory routing.
        public var mandatory: Bool
        /// Request immediate delivery.
        public var immediate: Bool

        public init(
            ticket: UInt16 = 0,
            exchange: String = "",
            routingKey: String = "",
            mandatory: Bool = false,
            immediate: Bool = false
        ) {
            self.ticket = ticket
            self.exchange = exchange
            self.routingKey = routingKey
            self.mandatory = mandatory
            self.immediate = immediate
        }
    }
}

extension Method.Basic {
    /// The fields of `basic.return`.
    public struct Return: Hashable, Sendable {
        /// Reply code from server.
        public var replyCode: ReplyCode
        /// Localised reply text.
        public var replyText: String
        /// Exchange name.
        public var exchange: String
        /// Message routing key.
        public var routingKey: String

        public init(replyCode: ReplyCode, replyText: String = "", exchange: String, routingKey: String) {
            self.replyCode = replyCode
            self.replyText = replyText
            self.exchange = exchange
            self.routingKey = routingKey
        }
    }
}

extension Method.Basic {
    /// The fields of `basic.deliver`.
    public struct Deliver: Hashable, Sendable {
        /// Consumer tag.
        public var consumerTag: String
        /// Server-assigned delivery tag.
        public var deliveryTag: UInt64
        /// Message is being redelivered.
        public var redelivered: Bool
        /// Exchange name.
        public var exchange: String
        /// Message routing key.
        public var routingKey: String

        public init(
            consumerTag: String,
            deliveryTag: UInt64,
            redelivered: Bool = false,
            exchange: String,
            routingKey: String
        ) {
            self.consumerTag = consumerTag
            self.deliveryTag = deliveryTag
            self.redelivered = redelivered
            self.exchange = exchange
            self.routingKey = routingKey
        }
    }
}

extension Method.Basic {
    /// The fields of `basic.get`.
    public struct Get: Hashable, Sendable {
        /// Reserved (deprecated access ticket); clients send 0.
        public var ticket: UInt16
        /// Queue name.
        public var queue: String
        /// No acknowledgement needed.
        public var noAck: Bool

        public init(ticket: UInt16 = 0, queue: String = "", noAck: Bool = false) {
            self.ticket = ticket
            self.queue = queue
            self.noAck = noAck
        }
    }
}

extension Method.Basic {
    /// The fields of `basic.get-ok`.
    public struct GetOk: Hashable, Sendable {
        /// Server-assigned delivery tag.
        public var deliveryTag: UInt64
        /// Message is being redelivered.
        public var redelivered: Bool
        /// Exchange name.
        public var exchange: String
        /// Message routing key.
        public var routingKey: String
        /// Number of messages in queue.
        public var messageCount: UInt32

        public init(
            deliveryTag: UInt64,
            redelivered: Bool = false,
            exchange: String,
            routingKey: String,
            messageCount: UInt32
        ) {
            self.deliveryTag = deliveryTag
            self.redelivered = redelivered
            self.exchange = exchange
            self.routingKey = routingKey
            self.messageCount = messageCount
        }
    }
}

extension Method.Basic {
    /// The fields of `basic.get-empty`.
    public struct GetEmpty: Hashable, Sendable {
        /// Reserved; servers send an empty string.
        public var clusterID: String

        public init(clusterID: String = "") {
            self.clusterID = clusterID
        }
    }
}

extension Method.Basic {
    /// The fields of `basic.ack`.
    public struct Ack: Hashable, Sendable {
        /// Server-assigned delivery tag.
        public var deliveryTag: UInt64
        /// Acknowledge multiple messages.
        public var multiple: Bool

        public init(deliveryTag: UInt64 = 0, multiple: Bool = false) {
            self.deliveryTag = deliveryTag
            self.multiple = multiple
        }
    }
}

extension Method.Basic {
    /// The fields of `basic.reject`.
    public struct Reject: Hashable, Sendable {
        /// Server-assigned delivery tag.
        public var deliveryTag: UInt64
        /// Requeue the message.
        public var requeue: Bool

        public init(deliveryTag: UInt64, requeue: Bool = true) {
            self.deliveryTag = deliveryTag
            self.requeue = requeue
        }
    }
}

extension Method.Basic {
    /// The fields of `basic.recover-async`.
    public struct RecoverAsync: Hashable, Sendable {
        /// Requeue the message.
        public var requeue: Bool

        public init(requeue: Bool = false) {
            self.requeue = requeue
        }
    }
}

extension Method.Basic {
    /// The fields of `basic.recover`.
    public struct Recover: Hashable, Sendable {
        /// Requeue the message.
        public var requeue: Bool

        public init(requeue: Bool = false) {
            self.requeue = requeue
        }
    }
}

extension Method.Basic {
    /// The fields of `basic.nack`.
    public struct Nack: Hashable, Sendable {
        /// Server-assigned delivery tag.
        public var deliveryTag: UInt64
        /// Reject multiple messages.
        public var multiple: Bool
        /// Requeue the message.
        public var requeue: Bool

        public init(deliveryTag: UInt64 = 0, multiple: Bool = false, requeue: Bool = true) {
            self.deliveryTag = deliveryTag
            self.multiple = multiple
            self.requeue = requeue
        }
    }
}

extension Method.Basic {
    /// The class id of `basic` on the wire.
    public static let classID: UInt16 = 60

    /// The method id of this method within its class.
    var methodID: UInt16 {
        switch self {
        case .qos: 10
        case .qosOk: 11
        case .consume: 20
        case .consumeOk: 21
        case .cancel: 30
        case .cancelOk: 31
        case .publish: 40
        case .return: 50
        case .deliver: 60
        case .get: 70
        case .getOk: 71
        case .getEmpty: 72
        case .ack: 80
        case .reject: 90
        case .recoverAsync: 100
        case .recover: 110
        case .recoverOk: 111
        case .nack: 120
        }
    }

    /// The spec's name of this method, e.g. `"basic.qos"`.
    var name: String {
        switch self {
        case .qos: "basic.qos"
        case .qosOk: "basic.qos-ok"
        case .consume: "basic.consume"
        case .consumeOk: "basic.consume-ok"
        case .cancel: "basic.cancel"
        case .cancelOk: "basic.cancel-ok"
        case .publish: "basic.publish"
        case .return: "basic.return"
        case .deliver: "basic.deliver"
        case .get: "basic.get"
        case .getOk: "basic.get-ok"
        case .getEmpty: "basic.get-empty"
        case .ack: "basic.ack"
        case .reject: "basic.reject"
        case .recoverAsync: "basic.recover-async"
        case .recover: "basic.recover"
        case .recoverOk: "basic.recover-ok"
        case .nack: "basic.nack"
        }
    }
}

extension Method.Basic {
    /// Decodes the fields of method `methodID`, consuming them from `buffer`.
    ///
    /// Returns nil for a method id this class does not have. Errors thrown here carry no
    /// method id; `Method.decode(from:)` attaches it.
    static func decode(methodID: UInt16, from buffer: inout ByteBuffer) throws(AMQPError) -> Self? {
        switch methodID {
        case 10:
            let prefetchSize = try buffer.readLong()
            let prefetchCount = try buffer.readShort()
            let bits = try buffer.readOctet()
            let global = bits & 0x01 != 0
            return .qos(Qos(prefetchSize: prefetchSize, prefetchCount: prefetchCount, global: global))
        case 11:
            return .qosOk
        case 20:
            let ticket = try buffer.readShort()
            let queue = try buffer.readShortString()
            let consumerTag = try buffer.readShortString()
            let bits = try buffer.readOctet()
            let noLocal = bits & 0x01 != 0
            let noAck = bits & 0x02 != 0
            let exclusive = bits & 0x04 != 0
            let noWait = bits & 0x08 != 0
            let arguments = try buffer.readFieldTable()
            return .consume(
                Consume(
                    ticket: ticket,
                    queue: queue,
                    consumerTag: consumerTag,
                    noLocal: noLocal,
                    noAck: noAck,
                    exclusive: exclusive,
                    noWait: noWait,
                    arguments: arguments
                )
            )
        case 21:
            let consumerTag = try buffer.readShortString()
            return .consumeOk(ConsumeOk(consumerTag: consumerTag))
        case 30:
            let consumerTag = try buffer.readShortString()
            let bits = try buffer.readOctet()
            let noWait = bits & 0x01 != 0
            return .cancel(Cancel(consumerTag: consumerTag, noWait: noWait))
        case 31:
            let consumerTag = try buffer.readShortString()
            return .cancelOk(CancelOk(consumerTag: consumerTag))
        case 40:
            let ticket = try buffer.readShort()
            let exchange = try buffer.readShortString()
            let routingKey = try buffer.readShortString()
            let bits = try buffer.readOctet()
            let mandatory = bits & 0x01 != 0
            let immediate = bits & 0x02 != 0
            return .publish(
                Publish(
                    ticket: ticket,
                    exchange: exchange,
                    routingKey: routingKey,
                    mandatory: mandatory,
                    immediate: immediate
                )
            )
        case 50:
            let replyCode = try ReplyCode(rawValue: buffer.readShort())
            let replyText = try buffer.readShortString()
            let exchange = try buffer.readShortString()
            let routingKey = try buffer.readShortString()
            return .`return`(
                Return(
                    replyCode: replyCode,
                    replyText: replyText,
                    exchange: exchange,
                    routingKey: routingKey
                )
            )
        case 60:
            let consumerTag = try buffer.readShortString()
            let deliveryTag = try buffer.readLongLong()
            let bits = try buffer.readOctet()
            let redelivered = bits & 0x01 != 0
            let exchange = try buffer.readShortString()
            let routingKey = try buffer.readShortString()
            return .deliver(
                Deliver(
                    consumerTag: consumerTag,
                    deliveryTag: deliveryTag,
                    redelivered: redelivered,
                    exchange: exchange,
                    routingKey: routingKey
                )
            )
        case 70:
            let ticket = try buffer.readShort()
            let queue = try buffer.readShortString()
            let bits = try buffer.readOctet()
            let noAck = bits & 0x01 != 0
            return .get(Get(ticket: ticket, queue: queue, noAck: noAck))
        case 71:
            let deliveryTag = try buffer.readLongLong()
            let bits = try buffer.readOctet()
            let redelivered = bits & 0x01 != 0
            let exchange = try buffer.readShortString()
            let routingKey = try buffer.readShortString()
            let messageCount = try buffer.readLong()
            return .getOk(
                GetOk(
                    deliveryTag: deliveryTag,
                    redelivered: redelivered,
                    exchange: exchange,
                    routingKey: routingKey,
                    messageCount: messageCount
                )
            )
        case 72:
            let clusterID = try buffer.readShortString()
            return .getEmpty(GetEmpty(clusterID: clusterID))
        case 80:
            let deliveryTag = try buffer.readLongLong()
            let bits = try buffer.readOctet()
            let multiple = bits & 0x01 != 0
            return .ack(Ack(deliveryTag: deliveryTag, multiple: multiple))
        case 90:
            let deliveryTag = try buffer.readLongLong()
            let bits = try buffer.readOctet()
            let requeue = bits & 0x01 != 0
            return .reject(Reject(deliveryTag: deliveryTag, requeue: requeue))
        case 100:
            let bits = try buffer.readOctet()
            let requeue = bits & 0x01 != 0
            return .recoverAsync(RecoverAsync(requeue: requeue))
        case 110:
            let bits = try buffer.readOctet()
            let requeue = bits & 0x01 != 0
            return .recover(Recover(requeue: requeue))
        case 111:
            return .recoverOk
        case 120:
            let deliveryTag = try buffer.readLongLong()
            let bits = try buffer.readOctet()
            let multiple = bits & 0x01 != 0
            let requeue = bits & 0x02 != 0
            return .nack(Nack(deliveryTag: deliveryTag, multiple: multiple, requeue: requeue))
        default:
            return nil
        }
    }

    /// Writes the fields of this method (not its class and method ids) into `buffer`.
    func encodeFields(into buffer: inout ByteBuffer) throws(AMQPError) {
        switch self {
        case .qos(let fields):
            buffer.writeInteger(fields.prefetchSize)
            buffer.writeInteger(fields.prefetchCount)
            buffer.writeInteger((fields.global ? 0x01 : 0) as UInt8)
        case .consume(let fields):
            buffer.writeInteger(fields.ticket)
            try buffer.writeShortString(fields.queue)
            try buffer.writeShortString(fields.consumerTag)
            let bits: UInt8 =
                (fields.noLocal ? 0x01 : 0)
                | (fields.noAck ? 0x02 : 0)
                | (fields.exclusive ? 0x04 : 0)
                | (fields.noWait ? 0x08 : 0)
            buffer.writeInteger(bits)
            try buffer.writeFieldTable(fields.arguments)
        case .consumeOk(let fields):
            try buffer.writeShortString(fields.consumerTag)
        case .cancel(let fields):
            try buffer.writeShortString(fields.consumerTag)
            buffer.writeInteger((fields.noWait ? 0x01 : 0) as UInt8)
        case .cancelOk(let fields):
            try buffer.writeShortString(fields.consumerTag)
        case .publish(let fields):
            buffer.writeInteger(fields.ticket)
            try buffer.writeShortString(fields.exchange)
            try buffer.writeShortString(fields.routingKey)
            let bits: UInt8 =
                (fields.mandatory ? 0x01 : 0)
                | (fields.immediate ? 0x02 : 0)
            buffer.writeInteger(bits)
        case .return(let fields):
            buffer.writeInteger(fields.replyCode.rawValue)
            try buffer.writeShortString(fields.replyText)
            try buffer.writeShortString(fields.exchange)
            try buffer.writeShortString(fields.routingKey)
        case .deliver(let fields):
            try buffer.writeShortString(fields.consumerTag)
            buffer.writeInteger(fields.deliveryTag)
            buffer.writeInteger((fields.redelivered ? 0x01 : 0) as UInt8)
            try buffer.writeShortString(fields.exchange)
            try buffer.writeShortString(fields.routingKey)
        case .get(let fields):
            buffer.writeInteger(fields.ticket)
            try buffer.writeShortString(fields.queue)
            buffer.writeInteger((fields.noAck ? 0x01 : 0) as UInt8)
        case .getOk(let fields):
            buffer.writeInteger(fields.deliveryTag)
            buffer.writeInteger((fields.redelivered ? 0x01 : 0) as UInt8)
            try buffer.writeShortString(fields.exchange)
            try buffer.writeShortString(fields.routingKey)
            buffer.writeInteger(fields.messageCount)
        case .getEmpty(let fields):
            try buffer.writeShortString(fields.clusterID)
        case .ack(let fields):
            buffer.writeInteger(fields.deliveryTag)
            buffer.writeInteger((fields.multiple ? 0x01 : 0) as UInt8)
        case .reject(let fields):
            buffer.writeInteger(fields.deliveryTag)
            buffer.writeInteger((fields.requeue ? 0x01 : 0) as UInt8)
        case .recoverAsync(let fields):
            buffer.writeInteger((fields.requeue ? 0x01 : 0) as UInt8)
        case .recover(let fields):
            buffer.writeInteger((fields.requeue ? 0x01 : 0) as UInt8)
        case .nack(let fields):
            buffer.writeInteger(fields.deliveryTag)
            let bits: UInt8 =
                (fields.multiple ? 0x01 : 0)
                | (fields.requeue ? 0x02 : 0)
            buffer.writeInteger(bits)
        case .qosOk, .recoverOk:
            break
        }
    }
}
