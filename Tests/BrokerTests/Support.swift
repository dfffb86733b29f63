import XCTest

@testable import Broker

/// The message store as a test holds it: every record written, by where it is. A value, so
/// that copies of a harness go their own ways.
struct RecordBook: MessageReader {
    private(set) var records: [RecordLocation: [UInt8]] = [:]

    func record(at location: RecordLocation) -> [UInt8] {
        guard let record = records[location] else { preconditionFailure("no record at \(location)") }
        return record
    }

    mutating func write(_ writes: [RecordWrite]) {
        for write in writes {
            precondition(write.record.count == Int(write.location.bytes), "a record of another length than its location says")
            if let existing = records[write.location] { precondition(existing == write.record, "two records at \(write.location)") }
            records[write.location] = write.record
        }
    }

    func message(at location: RecordLocation, limits: BrokerLimits = BrokerLimits()) -> Message {
        try! MessageRecord.decode(record(at: location), limits: limits)
    }
}

/// A message a queue holds, with the message its record holds.
@dynamicMemberLookup
struct HeldMessage: Equatable {
    let queued: QueuedMessage
    let message: Message

    subscript<T>(dynamicMember keyPath: KeyPath<QueuedMessage, T>) -> T { queued[keyPath: keyPath] }
}

/// A delivery with its message as the client sees it, read back as the node reads it.
@dynamicMemberLookup
struct HeldDelivery: Equatable {
    let delivery: Delivery
    let message: Message

    subscript<T>(dynamicMember keyPath: KeyPath<Delivery, T>) -> T { delivery[keyPath: keyPath] }
}

/// Drives a `BrokerState` with commands as a node would: each command goes through its log
/// encoding (checked to round-trip) and is applied at the next index, and the records it
/// makes are written to a `RecordBook` before the next.
struct Harness {
    var state = BrokerState()
    var records = RecordBook()
    var index: UInt64 = 0
    /// The leader's clock, ms since the epoch.
    var now: Int64 = 1_700_000_000_000
    let owner = "node-1/conn-1"

    init(limits: BrokerLimits = BrokerLimits()) {
        state = BrokerState(limits: limits)
    }

    @discardableResult
    mutating func apply(_ command: BrokerCommand, file: StaticString = #filePath, line: UInt = #line) -> [BrokerEffect] {
        let bytes = command.encoded()
        let decoded: BrokerCommand
        do {
            decoded = try BrokerCommand(decoding: bytes, limits: state.limits)
        } catch {
            XCTFail("command did not decode: \(error)", file: file, line: line)
            return []
        }
        XCTAssertEqual(decoded, command, "command round trip", file: file, line: line)
        index += 1
        return written(state.apply(decoded, at: index, reader: records))
    }

    /// The effects but the records, which are written to the book.
    mutating func written(_ effects: [BrokerEffect]) -> [BrokerEffect] {
        guard case .write(let writes)? = effects.last else { return effects }
        records.write(writes)
        return effects.dropLast()
    }

    @discardableResult
    mutating func declareQueue(
        _ name: String, vhost: String = "/", durable: Bool = true, exclusive: Bool = false, autoDelete: Bool = false,
        arguments: ArgumentTable = [:], owner: String? = nil, file: StaticString = #filePath, line: UInt = #line
    ) -> [BrokerEffect] {
        let effects = apply(
            .declareQueue(
                QueueDeclaration(
                    vhost: vhost, name: name, durable: durable, exclusive: exclusive, autoDelete: autoDelete,
                    arguments: arguments, owner: owner ?? self.owner, timestamp: now)), file: file, line: line)
        if case .failed(let error)? = effects.first { XCTFail("declare \(name) failed: \(error)", file: file, line: line) }
        return effects
    }

    @discardableResult
    mutating func declareExchange(
        _ name: String, _ type: ExchangeType, vhost: String = "/", autoDelete: Bool = false, isInternal: Bool = false,
        arguments: ArgumentTable = [:], file: StaticString = #filePath, line: UInt = #line
    ) -> [BrokerEffect] {
        let effects = apply(
            .declareExchange(
                ExchangeDeclaration(
                    vhost: vhost, name: name, type: type, autoDelete: autoDelete, isInternal: isInternal, arguments: arguments)),
            file: file, line: line)
        if case .failed(let error)? = effects.first { XCTFail("declare \(name) failed: \(error)", file: file, line: line) }
        return effects
    }

    @discardableResult
    mutating func bind(
        _ queue: String, to exchange: String, key: String = "", arguments: ArgumentTable = [:], vhost: String = "/",
        file: StaticString = #filePath, line: UInt = #line
    ) -> [BrokerEffect] {
        let effects = apply(
            .bind(BindingChange(vhost: vhost, binding: Binding(source: exchange, destination: .queue(queue), routingKey: key, arguments: arguments))),
            file: file, line: line)
        XCTAssertEqual(effects.first, .reply(.bound), file: file, line: line)
        return effects
    }

    @discardableResult
    mutating func bindExchange(
        _ destination: String, to source: String, key: String = "", arguments: ArgumentTable = [:],
        file: StaticString = #filePath, line: UInt = #line
    ) -> [BrokerEffect] {
        let effects = apply(
            .bind(BindingChange(binding: Binding(source: source, destination: .exchange(destination), routingKey: key, arguments: arguments))),
            file: file, line: line)
        XCTAssertEqual(effects.first, .reply(.bound), file: file, line: line)
        return effects
    }

    /// Routes on the "leader" and enqueues one message; returns the effects.
    @discardableResult
    mutating func publish(
        _ body: String, exchange: String = "", routingKey: String, properties: BasicProperties = BasicProperties(),
        vhost: String = "/", token: [UInt8] = [], file: StaticString = #filePath, line: UInt = #line
    ) -> [BrokerEffect] {
        let message = Message(exchange: exchange, routingKey: routingKey, properties: properties, body: Array(body.utf8))
        let queues: [QueueName]
        do {
            try state.validatePublish(vhost: vhost, message: message)
            queues = try state.route(vhost: vhost, exchange: exchange, routingKey: routingKey, headers: properties.headers)
        } catch {
            XCTFail("publish refused: \(error)", file: file, line: line)
            return []
        }
        return apply(.enqueue(Enqueue(timestamp: now, messages: [Publish(message: message, queues: queues, publisherToken: token)])), file: file, line: line)
    }

    func messages(_ queue: String, vhost: String = "/") -> [HeldMessage] {
        guard let stored = state.queue(QueueName(vhost: vhost, queue)) else { return [] }
        return stored.messages.map { HeldMessage(queued: $0, message: records.message(at: stored.location(of: $0))) }
    }

    func held(_ delivery: Delivery) -> HeldDelivery {
        HeldDelivery(delivery: delivery, message: delivery.message(from: records.message(at: delivery.location)))
    }

    func held(_ deliveries: [Delivery]) -> [HeldDelivery] { deliveries.map(held) }

    func bodies(_ queue: String, vhost: String = "/") -> [String] {
        messages(queue, vhost: vhost).map { String(decoding: $0.message.body, as: UTF8.self) }
    }

    func ids(_ queue: String) -> [MessageID] { messages(queue).map(\.id) }
}

func q(_ name: String, vhost: String = "/") -> QueueName { QueueName(vhost: vhost, name) }

func failure(_ effects: [BrokerEffect]) -> BrokerError? {
    if case .failed(let error)? = effects.first { return error }
    return nil
}

func reply(_ effects: [BrokerEffect]) -> BrokerReply? {
    if case .reply(let reply)? = effects.first { return reply }
    return nil
}

func outcomes(_ effects: [BrokerEffect]) -> [PublishOutcome] {
    effects.compactMap { if case .published(let outcome) = $0 { return outcome } else { return nil } }
}

func deadLetters(_ effects: [BrokerEffect]) -> [DeadLetter] {
    effects.compactMap { if case .deadLettered(let record) = $0 { return record } else { return nil } }
}

func removed(_ effects: [BrokerEffect]) -> [(QueueName, [MessageID], RemovalReason)] {
    effects.compactMap { if case .removed(let queue, let ids, let reason) = $0 { return (queue, ids, reason) } else { return nil } }
}

func readyIDs(_ effects: [BrokerEffect], _ queue: QueueName) -> [MessageID] {
    effects.flatMap { effect -> [MessageID] in
        if case .ready(let name, let ids) = effect, name == queue { return ids }
        return []
    }
}

func deletedQueues(_ effects: [BrokerEffect]) -> [QueueName] {
    effects.compactMap { if case .queueDeleted(let name) = $0 { return name } else { return nil } }
}

func deletedExchanges(_ effects: [BrokerEffect]) -> [ExchangeName] {
    effects.compactMap { if case .exchangeDeleted(let name) = $0 { return name } else { return nil } }
}

func bodyText(_ delivery: HeldDelivery) -> String { String(decoding: delivery.message.body, as: UTF8.self) }

func xDeath(_ message: Message) -> [ArgumentTable] {
    guard case .array(let items)? = message.properties.headers?["x-death"] else { return [] }
    return items.compactMap { if case .table(let table) = $0 { return table } else { return nil } }
}

/// A seeded generator, so every fuzz run is the same.
struct TestRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 { SplitMix64.next(&state) }
}

/// A leader: the replicated state plus its dispatcher, proposals applied at once.
struct Leader {
    var h: Harness
    var dispatcher: Dispatcher
    var cancellations: [ConsumerCancellation] = []

    init(_ harness: Harness = Harness()) {
        h = harness
        dispatcher = Dispatcher(state: harness.state, now: harness.now)
    }

    /// Applies commands (as committed) and feeds their effects to the dispatcher.
    @discardableResult
    mutating func commit(_ commands: [BrokerCommand], file: StaticString = #filePath, line: UInt = #line) -> [BrokerEffect] {
        var all: [BrokerEffect] = []
        for command in commands {
            let effects = h.apply(command, file: file, line: line)
            cancellations += dispatcher.observe(effects, state: h.state)
            all += effects
        }
        return all
    }

    @discardableResult
    mutating func publish(_ body: String, to queue: String, properties: BasicProperties = BasicProperties()) -> [BrokerEffect] {
        let effects = h.publish(body, routingKey: queue, properties: properties)
        cancellations += dispatcher.observe(effects, state: h.state)
        return effects
    }

    mutating func consume(
        _ queue: String, channel: ChannelID, tag: String = "", noAck: Bool = false, exclusive: Bool = false,
        arguments: ArgumentTable = [:], file: StaticString = #filePath, line: UInt = #line
    ) -> String {
        do {
            return try dispatcher.consume(
                ConsumeRequest(channel: channel, queue: q(queue), consumerTag: tag, noAck: noAck, exclusive: exclusive, arguments: arguments),
                state: h.state, now: h.now)
        } catch {
            XCTFail("consume failed: \(error)", file: file, line: line)
            return ""
        }
    }

    /// Dispatches until nothing more; proposals are committed.
    mutating func dispatch() -> [HeldDelivery] {
        var deliveries: [HeldDelivery] = []
        while true {
            let output = dispatcher.dispatch(state: h.state, now: h.now)
            deliveries += h.held(output.deliveries)
            commit(output.proposals)
            if !output.more { return deliveries }
        }
    }
}

func channel(_ connection: String = "conn-1", _ number: UInt16 = 1) -> ChannelID {
    ChannelID(connection: connection, number: number)
}
