// The log format of commands: a format version byte, a tag byte, then the fields.
extension BrokerCommand {
    /// The version written in every command's first byte.
    public static let formatVersion: UInt8 = 1

    private enum Tag: UInt8 {
        case declareVHost = 1
        case deleteVHost = 2
        case declareExchange = 3
        case deleteExchange = 4
        case declareQueue = 5
        /// Deletions logged before they carried the messages out at consumers: decoded only.
        case deleteQueueBeforeOutstanding = 6
        case bind = 7
        case unbind = 8
        case purge = 9
        case enqueue = 10
        case settle = 11
        case requeue = 12
        case reject = 13
        case expire = 14
        case deleteQueuesOwned = 15
        case deleteQueue = 16
        case putUser = 17
        case deleteUser = 18
        case setPermission = 19
        case clearPermission = 20
        case seedUsers = 21
        case setLimit = 22
        case clearLimit = 23
        /// An enqueue some of whose publishes are delayed: each publish ends with its delay.
        /// Written only then, so that logs without delays stay readable by older nodes.
        case enqueueWithDelays = 24
        case fireDelayed = 25
        /// A requeue of plain returns (a nack, a recover): `requeue` stays the failed ones,
        /// as every requeue was before the two were told apart.
        case requeueReturned = 26
        case retryDeadLetters = 27
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: encodedCapacityHint)
        w.byte(Self.formatVersion)
        switch self {
        case .declareVHost(let name):
            w.byte(Tag.declareVHost.rawValue)
            w.string(name)
        case .deleteVHost(let name):
            w.byte(Tag.deleteVHost.rawValue)
            w.string(name)
        case .declareExchange(let d):
            w.byte(Tag.declareExchange.rawValue)
            w.string(d.vhost)
            w.string(d.name)
            w.byte(d.type.rawValue)
            w.byte(Self.flags(d.durable, d.autoDelete, d.isInternal, d.passive))
            w.table(d.arguments)
        case .deleteExchange(let d):
            w.byte(Tag.deleteExchange.rawValue)
            w.string(d.vhost)
            w.string(d.name)
            w.bool(d.ifUnused)
        case .declareQueue(let d):
            w.byte(Tag.declareQueue.rawValue)
            w.string(d.vhost)
            w.string(d.name)
            w.byte(Self.flags(d.durable, d.exclusive, d.autoDelete, d.passive))
            w.table(d.arguments)
            w.string(d.owner)
            w.signed(d.timestamp)
        case .deleteQueue(let d):
            w.byte(Tag.deleteQueue.rawValue)
            w.string(d.vhost)
            w.string(d.name)
            w.byte(Self.flags(d.ifUnused, d.ifEmpty, d.inUse, d.autoDeleteOnly))
            w.optionalString(d.owner)
            w.ids(d.outstanding)
        case .bind(let change), .unbind(let change):
            if case .bind = self { w.byte(Tag.bind.rawValue) } else { w.byte(Tag.unbind.rawValue) }
            w.string(change.vhost)
            w.binding(change.binding)
            w.optionalString(change.owner)
        case .purge(let p):
            w.byte(Tag.purge.rawValue)
            w.queueName(p.queue)
            w.optionalString(p.owner)
            w.ids(p.keeping)
        case .enqueue(let e):
            let hasDelays = e.messages.contains { $0.delay != nil }
            w.byte(hasDelays ? Tag.enqueueWithDelays.rawValue : Tag.enqueue.rawValue)
            w.signed(e.timestamp)
            // Queue names once, then per message the indexes of its queues.
            var names: [QueueName] = []
            var indexes: [QueueName: Int] = [:]
            for publish in e.messages {
                for queue in publish.queues where indexes[queue] == nil {
                    indexes[queue] = names.count
                    names.append(queue)
                }
            }
            w.array(names) { $0.queueName($1) }
            w.array(e.messages) { w, publish in
                w.message(publish.message)
                w.array(publish.queues) { $0.varint(UInt64(indexes[$1] ?? 0)) }
                w.blob(publish.publisherToken)
                guard hasDelays else { return }
                if let delay = publish.delay {
                    w.bool(true)
                    w.string(delay.vhost)
                    w.signed(delay.milliseconds)
                } else {
                    w.bool(false)
                }
            }
        case .settle(let batch):
            w.byte(Tag.settle.rawValue)
            w.queueName(batch.queue)
            w.ids(batch.ids)
        case .requeue(let batch, let timestamp, let deliveryFailed):
            w.byte(deliveryFailed ? Tag.requeue.rawValue : Tag.requeueReturned.rawValue)
            w.queueName(batch.queue)
            w.ids(batch.ids)
            w.signed(timestamp)
        case .reject(let batch, let timestamp):
            w.byte(Tag.reject.rawValue)
            w.queueName(batch.queue)
            w.ids(batch.ids)
            w.signed(timestamp)
        case .expire(let x):
            w.byte(Tag.expire.rawValue)
            w.signed(x.timestamp)
            w.array(x.messages) { w, batch in
                w.queueName(batch.queue)
                w.ids(batch.ids)
            }
            w.array(x.unusedQueues) { $0.queueName($1) }
        case .fireDelayed(let firing):
            w.byte(Tag.fireDelayed.rawValue)
            w.signed(firing.timestamp)
            w.varint(UInt64(firing.messagesMax))
            w.varint(UInt64(firing.recordBytesMax))
        case .retryDeadLetters(let retry):
            w.byte(Tag.retryDeadLetters.rawValue)
            w.signed(retry.timestamp)
            w.array(retry.queues) { $0.queueName($1) }
            w.varint(UInt64(retry.messagesMax))
            w.varint(UInt64(retry.recordBytesMax))
        case .deleteQueuesOwned(let owner):
            w.byte(Tag.deleteQueuesOwned.rawValue)
            w.string(owner)
        case .putUser(let user):
            w.byte(Tag.putUser.rawValue)
            w.user(user)
        case .deleteUser(let name):
            w.byte(Tag.deleteUser.rawValue)
            w.string(name)
        case .setPermission(let vhost, let user, let permission):
            w.byte(Tag.setPermission.rawValue)
            w.string(vhost)
            w.string(user)
            w.permission(permission)
        case .clearPermission(let vhost, let user):
            w.byte(Tag.clearPermission.rawValue)
            w.string(vhost)
            w.string(user)
        case .seedUsers(let users):
            w.byte(Tag.seedUsers.rawValue)
            w.array(users) { $0.user($1) }
        case .setLimit(let subject, let limit, let value):
            w.byte(Tag.setLimit.rawValue)
            w.limitSubject(subject)
            w.byte(limit.code)
            w.signed(value)
        case .clearLimit(let subject, let limit):
            w.byte(Tag.clearLimit.rawValue)
            w.limitSubject(subject)
            w.byte(limit.code)
        }
        return w.bytes
    }

    private var encodedCapacityHint: Int {
        guard case .enqueue(let e) = self else { return 64 }
        return e.messages.reduce(32) { $0 + $1.message.body.count + 64 }
    }

    /// Decodes a command, refusing anything malformed, of another version, or beyond `limits`.
    public init(decoding bytes: [UInt8], limits: BrokerLimits = BrokerLimits()) throws(BrokerCodecError) {
        guard !bytes.isEmpty else { throw .empty }
        var r = ByteReader(bytes)
        let version = try r.byte()
        guard version == Self.formatVersion else { throw .unsupportedVersion(version) }
        let at = r.offset
        let rawTag = try r.byte()
        guard let tag = Tag(rawValue: rawTag) else { throw .unknownTag(rawTag, offset: at) }
        let name = limits.nameBytesMax
        switch tag {
        case .declareVHost:
            self = .declareVHost(name: try r.string(max: name))
        case .deleteVHost:
            self = .deleteVHost(name: try r.string(max: name))
        case .declareExchange:
            let vhost = try r.string(max: name)
            let exchange = try r.string(max: name)
            let typeAt = r.offset
            let rawType = try r.byte()
            guard let type = ExchangeType(rawValue: rawType) else { throw .unknownTag(rawType, offset: typeAt) }
            let f = try Self.readFlags(&r)
            self = .declareExchange(
                ExchangeDeclaration(
                    vhost: vhost, name: exchange, type: type, durable: f[0], autoDelete: f[1], isInternal: f[2], passive: f[3],
                    arguments: try r.table(limits: limits)))
        case .deleteExchange:
            let vhost = try r.string(max: name)
            let exchange = try r.string(max: name)
            self = .deleteExchange(ExchangeDeletion(vhost: vhost, name: exchange, ifUnused: try r.bool()))
        case .declareQueue:
            let vhost = try r.string(max: name)
            let queue = try r.string(max: name)
            let f = try Self.readFlags(&r)
            let arguments = try r.table(limits: limits)
            let owner = try r.string(max: name)
            self = .declareQueue(
                QueueDeclaration(
                    vhost: vhost, name: queue, durable: f[0], exclusive: f[1], autoDelete: f[2], passive: f[3],
                    arguments: arguments, owner: owner, timestamp: try r.signed()))
        case .deleteQueue, .deleteQueueBeforeOutstanding:
            let vhost = try r.string(max: name)
            let queue = try r.string(max: name)
            let f = try Self.readFlags(&r)
            let owner = try r.optionalString(max: name)
            let outstanding = tag == .deleteQueue ? try r.ids(max: limits.commandMessageIDsMax) : []
            self = .deleteQueue(
                QueueDeletion(
                    vhost: vhost, name: queue, ifUnused: f[0], ifEmpty: f[1], inUse: f[2], owner: owner, autoDeleteOnly: f[3],
                    outstanding: outstanding))
        case .bind, .unbind:
            let vhost = try r.string(max: name)
            let binding = try r.binding(limits: limits)
            let change = BindingChange(vhost: vhost, binding: binding, owner: try r.optionalString(max: name))
            self = tag == .bind ? .bind(change) : .unbind(change)
        case .purge:
            let queue = try r.queueName(limits: limits)
            let owner = try r.optionalString(max: name)
            self = .purge(QueuePurge(queue: queue, owner: owner, keeping: try r.ids(max: limits.commandMessageIDsMax)))
        case .enqueue, .enqueueWithDelays:
            let timestamp = try r.signed()
            let names = try r.array(minimumBytes: 2, max: limits.commandMessagesMax * 16) {
                (r: inout ByteReader) throws(BrokerCodecError) in try r.queueName(limits: limits)
            }
            let messages = try r.array(minimumBytes: 5, max: limits.commandMessagesMax) {
                (r: inout ByteReader) throws(BrokerCodecError) -> Publish in
                let message = try r.message(limits: limits)
                let queues = try r.array(max: names.count) { (r: inout ByteReader) throws(BrokerCodecError) -> QueueName in
                    let at = r.offset
                    let index = try r.varint()
                    guard index < UInt64(names.count) else { throw .invalidValue("queue index \(index)", offset: at) }
                    return names[Int(index)]
                }
                let token = try r.blob(max: limits.publisherTokenBytesMax)
                guard tag == .enqueueWithDelays, try r.bool() else { return Publish(message: message, queues: queues, publisherToken: token) }
                let vhost = try r.string(max: name)
                let at = r.offset
                let milliseconds = try r.signed()
                guard milliseconds > 0, milliseconds <= BrokerState.delayMaxMs, queues.isEmpty else {
                    throw .invalidValue("a delay of \(milliseconds) ms for a publish routed to \(queues.count) queues", offset: at)
                }
                return Publish(
                    message: message, queues: queues, publisherToken: token, delay: Publish.Delay(vhost: vhost, milliseconds: milliseconds))
            }
            self = .enqueue(Enqueue(timestamp: timestamp, messages: messages))
        case .settle:
            let queue = try r.queueName(limits: limits)
            self = .settle(MessageBatch(queue: queue, ids: try r.ids(max: limits.commandMessageIDsMax)))
        case .requeue, .requeueReturned, .reject:
            let queue = try r.queueName(limits: limits)
            let batch = MessageBatch(queue: queue, ids: try r.ids(max: limits.commandMessageIDsMax))
            let timestamp = try r.signed()
            self = tag == .reject
                ? .reject(batch, timestamp: timestamp) : .requeue(batch, timestamp: timestamp, deliveryFailed: tag == .requeue)
        case .expire:
            let timestamp = try r.signed()
            let messages = try r.array(minimumBytes: 3, max: limits.commandQueuesMax) {
                (r: inout ByteReader) throws(BrokerCodecError) -> MessageBatch in
                let queue = try r.queueName(limits: limits)
                return MessageBatch(queue: queue, ids: try r.ids(max: limits.commandMessageIDsMax))
            }
            let unused = try r.array(minimumBytes: 2, max: limits.commandQueuesMax) {
                (r: inout ByteReader) throws(BrokerCodecError) in try r.queueName(limits: limits)
            }
            self = .expire(Expiry(timestamp: timestamp, messages: messages, unusedQueues: unused))
        case .fireDelayed:
            let timestamp = try r.signed()
            let at = r.offset
            let messagesMax = try r.varint()
            let recordBytesMax = try r.varint()
            guard messagesMax > 0, messagesMax <= UInt64(limits.commandMessagesMax), recordBytesMax > 0, recordBytesMax <= UInt64(Int32.max) else {
                throw .invalidValue("a firing of \(messagesMax) messages, \(recordBytesMax) bytes", offset: at)
            }
            self = .fireDelayed(DelayedFiring(timestamp: timestamp, messagesMax: Int(messagesMax), recordBytesMax: Int(recordBytesMax)))
        case .retryDeadLetters:
            let timestamp = try r.signed()
            let queues = try r.array(minimumBytes: 2, max: limits.commandQueuesMax) {
                (r: inout ByteReader) throws(BrokerCodecError) in try r.queueName(limits: limits)
            }
            let at = r.offset
            let messagesMax = try r.varint()
            let recordBytesMax = try r.varint()
            guard messagesMax > 0, messagesMax <= UInt64(limits.commandMessagesMax), recordBytesMax > 0, recordBytesMax <= UInt64(Int32.max) else {
                throw .invalidValue("a dead-letter retry of \(messagesMax) messages a queue, \(recordBytesMax) bytes", offset: at)
            }
            self = .retryDeadLetters(
                DeadLetterRetry(timestamp: timestamp, queues: queues, messagesMax: Int(messagesMax), recordBytesMax: Int(recordBytesMax)))
        case .deleteQueuesOwned:
            self = .deleteQueuesOwned(by: try r.string(max: name))
        case .putUser:
            self = .putUser(try r.user(limits: limits))
        case .deleteUser:
            self = .deleteUser(name: try r.string(max: name))
        case .setPermission:
            let vhost = try r.string(max: name)
            let user = try r.string(max: name)
            self = .setPermission(vhost: vhost, user: user, try r.permission(limits: limits))
        case .clearPermission:
            let vhost = try r.string(max: name)
            self = .clearPermission(vhost: vhost, user: try r.string(max: name))
        case .seedUsers:
            self = .seedUsers(try r.array(minimumBytes: 3, max: limits.usersMax) { (r: inout ByteReader) throws(BrokerCodecError) in
                try r.user(limits: limits)
            })
        case .setLimit:
            let subject = try r.limitSubject(limits: limits)
            self = .setLimit(subject, try r.resourceLimit(), value: try r.signed())
        case .clearLimit:
            self = .clearLimit(try r.limitSubject(limits: limits), try r.resourceLimit())
        }
        try r.finish()
    }

    private static func flags(_ a: Bool, _ b: Bool, _ c: Bool, _ d: Bool) -> UInt8 {
        (a ? 1 : 0) | (b ? 2 : 0) | (c ? 4 : 0) | (d ? 8 : 0)
    }

    private static func readFlags(_ r: inout ByteReader) throws(BrokerCodecError) -> [Bool] {
        let at = r.offset
        let raw = try r.byte()
        guard raw < 16 else { throw .invalidValue("flags \(raw)", offset: at) }
        return (0..<4).map { raw & (1 << UInt8($0)) != 0 }
    }
}
