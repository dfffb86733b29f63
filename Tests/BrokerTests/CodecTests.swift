import XCTest

@testable import Broker

final class CodecTests: XCTestCase {
    static let everyValue: ArgumentTable = [
        "bool": true, "i8": .int8(-8), "u8": .uint8(200), "i16": .int16(-300), "u16": .uint16(60_000),
        "i32": .int32(Int32.min), "u32": .uint32(UInt32.max), "i64": .int64(Int64.min), "u64": .uint64(UInt64.max),
        "float": .float(1.5), "double": .double(-2.25), "decimal": .decimal(scale: 2, value: -12_345), "string": "héllo",
        "bytes": .bytes([0, 255, 7]), "timestamp": .timestamp(1_700_000_000), "void": .void,
        "array": .array([1, "two", .array([.bool(false)])]), "table": .table(["nested": .table(["deep": .int64(1)])]),
    ]

    static var everyCommand: [BrokerCommand] {
        let properties = BasicProperties(
            contentType: "application/json", contentEncoding: "gzip", headers: everyValue, deliveryMode: 2, priority: 7,
            correlationId: "corr", replyTo: "amq.rabbitmq.reply-to", expiration: "60000", messageId: "id-1",
            timestamp: 1_700_000_000, type: "t", userId: "guest", appId: "app", clusterId: "c")
        let message = Message(exchange: "amq.topic", routingKey: "a.b", properties: properties, body: Array(0..<200))
        return [
            .declareVHost(name: "prod"),
            .deleteVHost(name: "prod"),
            .declareExchange(ExchangeDeclaration(vhost: "v", name: "x", type: .headers, durable: false, autoDelete: true, isInternal: true, passive: true, arguments: everyValue)),
            .deleteExchange(ExchangeDeletion(vhost: "v", name: "x", ifUnused: true)),
            .declareQueue(QueueDeclaration(vhost: "v", name: "", durable: false, exclusive: true, autoDelete: true, passive: false, arguments: ["x-max-length": .int32(3)], owner: "node-1/conn-17", timestamp: -5)),
            .deleteQueue(QueueDeletion(vhost: "v", name: "q", ifUnused: true, ifEmpty: true, inUse: true, owner: "o", autoDeleteOnly: true, outstanding: [4, 2])),
            .deleteQueue(QueueDeletion(name: "q")),
            .bind(BindingChange(vhost: "v", binding: Binding(source: "x", destination: .queue("q"), routingKey: "k", arguments: ["x-match": "any"]), owner: "o")),
            .unbind(BindingChange(binding: Binding(source: "x", destination: .exchange("y"), routingKey: ""))),
            .purge(QueuePurge(queue: QueueName(vhost: "v", "q"), owner: nil, keeping: [5, 3, 9])),
            .enqueue(
                Enqueue(
                    timestamp: 1_700_000_000_123,
                    messages: [
                        Publish(message: message, queues: [q("a"), q("b")], publisherToken: [1, 2, 3]),
                        Publish(message: Message(exchange: "", routingKey: "b", body: []), queues: [q("b")]),
                        Publish(message: Message(exchange: "", routingKey: "none", body: [9]), queues: []),
                    ])),
            .declareExchange(ExchangeDeclaration(name: "later", type: .delayedMessage, arguments: ["x-delayed-type": "topic"])),
            .enqueue(
                Enqueue(
                    timestamp: 5,
                    messages: [
                        Publish(message: message, queues: [], publisherToken: [4], delay: Publish.Delay(vhost: "v", milliseconds: BrokerState.delayMaxMs)),
                        Publish(message: Message(exchange: "", routingKey: "b", body: []), queues: [q("b")]),
                    ])),
            .fireDelayed(DelayedFiring(timestamp: -7, messagesMax: 4_096, recordBytesMax: 8 << 20)),
            .retryDeadLetters(DeadLetterRetry(timestamp: 9, queues: [QueueName(vhost: "/", "src"), QueueName(vhost: "v", "other")], messagesMax: 256, recordBytesMax: 1 << 20)),
            .settle(MessageBatch(queue: q("a"), ids: [1, 2, 3, 100, 7, UInt64.max])),
            .requeue(MessageBatch(queue: q("a"), ids: [10]), timestamp: 42, deliveryFailed: true),
            .requeue(MessageBatch(queue: q("a"), ids: [10, 11]), timestamp: 42, deliveryFailed: false),
            .reject(MessageBatch(queue: q("a"), ids: []), timestamp: Int64.max),
            .expire(Expiry(timestamp: 99, messages: [MessageBatch(queue: q("a"), ids: [1]), MessageBatch(queue: q("b"), ids: [2, 3])], unusedQueues: [q("c")])),
            .deleteQueuesOwned(by: "node-2/conn-3"),
            .putUser(User(name: "ops", passwordHash: PasswordHash(salt: [1, 2, 3, 4], digest: Array(0..<32)), tags: ["administrator", "monitoring"])),
            .putUser(User(name: "nopassword", passwordHash: nil)),
            .deleteUser(name: "ops"),
            .setPermission(vhost: "v", user: "ops", Permission(configure: "^amq\\.gen.*", write: "", read: ".*")),
            .clearPermission(vhost: "v", user: "ops"),
            .seedUsers([User(name: "a", passwordHash: nil, tags: ["administrator"]), User(name: "b", passwordHash: nil)]),
            .setLimit(.vhost("v"), .maxQueues, value: 100),
            .setLimit(.user("ops"), .maxChannels, value: -1),
            .clearLimit(.user("ops"), .maxConnections),
        ]
    }

    func testEveryCommandRoundTrips() throws {
        for command in Self.everyCommand {
            let bytes = command.encoded()
            XCTAssertEqual(bytes.first, BrokerCommand.formatVersion)
            XCTAssertEqual(try BrokerCommand(decoding: bytes), command)
        }
    }

    /// Deletions logged before they carried the messages out at consumers still decode.
    func testADeletionWithoutOutstandingMessagesDecodes() throws {
        let current = BrokerCommand.deleteQueue(QueueDeletion(name: "q", ifEmpty: true, owner: "o"))
        var earlier = current.encoded()
        XCTAssertEqual(earlier.removeLast(), 0, "an empty list of ids ends the entry")
        XCTAssertEqual(earlier[1], 16, "the deletion's tag")
        earlier[1] = 6
        XCTAssertEqual(try BrokerCommand(decoding: earlier), current)
    }

    func testEnqueueNamesEachQueueOnce() {
        let name = String(repeating: "long-queue-name-", count: 8)
        let publishes = (0..<100).map { _ in Publish(message: Message(exchange: "", routingKey: name, body: [1]), queues: [q(name)]) }
        let bytes = BrokerCommand.enqueue(Enqueue(timestamp: 0, messages: publishes)).encoded()
        XCTAssertLessThan(bytes.count, 100 * (name.utf8.count + 8) + 2 * name.utf8.count)
    }

    func testEveryTruncationIsRefused() {
        for command in Self.everyCommand {
            let bytes = command.encoded()
            for length in 0..<bytes.count {
                XCTAssertThrowsError(try BrokerCommand(decoding: Array(bytes[0..<length])), "\(command) cut at \(length)")
            }
        }
    }

    func testSpecificRefusals() {
        func error(_ bytes: [UInt8], limits: BrokerLimits = BrokerLimits()) -> BrokerCodecError? {
            do {
                _ = try BrokerCommand(decoding: bytes, limits: limits)
                return nil
            } catch { return error }
        }
        XCTAssertEqual(error([]), .empty)
        XCTAssertEqual(error([7, 1, 0]), .unsupportedVersion(7))
        XCTAssertEqual(error([1, 99]), .unknownTag(99, offset: 1))
        XCTAssertEqual(error(BrokerCommand.deleteVHost(name: "v").encoded() + [0]), .trailingBytes(count: 1))
        XCTAssertEqual(error([1, 1, 2, 0xC3, 0x28]), .invalidUTF8(offset: 2))
        // A hostile count claims more items than bytes remain: refused before allocating.
        XCTAssertEqual(error([1, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]), .truncated(offset: 2))
        // A varint of more than 64 bits.
        XCTAssertNotNil(error([1, 11, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]))
        // Nesting beyond the limit.
        var deep: ArgumentValue = .int64(1)
        for _ in 0..<40 { deep = .array([deep]) }
        let nested = BrokerCommand.declareExchange(ExchangeDeclaration(name: "x", type: .direct, arguments: ["deep": deep])).encoded()
        guard case .limitExceeded? = error(nested) else { return XCTFail("deep nesting accepted") }
        var limits = BrokerLimits()
        limits.argumentDepthMax = 48
        XCTAssertNil(error(nested, limits: limits))
        // A body over the limit.
        limits = BrokerLimits()
        limits.messageBodyBytesMax = 10
        let big = BrokerCommand.enqueue(Enqueue(timestamp: 0, messages: [Publish(message: Message(exchange: "", routingKey: "q", body: Array(repeating: 1, count: 11)), queues: [])]))
        guard case .limitExceeded? = error(big.encoded(), limits: limits) else { return XCTFail("big body accepted") }
        // A bool that is neither 0 nor 1.
        var flipped = BrokerCommand.deleteExchange(ExchangeDeletion(name: "x", ifUnused: true)).encoded()
        flipped[flipped.count - 1] = 2
        XCTAssertEqual(error(flipped), .invalidValue("bool 2", offset: flipped.count - 1))
    }

    /// Seeded garbage and mutations: decoding never traps, and whatever decodes re-encodes
    /// to something that decodes to the same command.
    func testGarbageNeverCrashes() throws {
        var random = TestRandom(state: 0xB0A7)
        let valid = Self.everyCommand.map { $0.encoded() }
        var decoded = 0
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int.random(in: 0..<64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
                if !bytes.isEmpty, round % 4 == 0 { bytes[0] = BrokerCommand.formatVersion }
            } else {
                bytes = valid[Int.random(in: 0..<valid.count, using: &random)]
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            }
            guard let command = try? BrokerCommand(decoding: bytes) else { continue }
            decoded += 1
            XCTAssertEqual(try BrokerCommand(decoding: command.encoded()), command)
        }
        XCTAssertGreaterThan(decoded, 0)
    }

    func testGarbageEntriesAreNotApplied() {
        var state = BrokerState()
        let records = RecordBook()
        XCTAssertThrowsError(try state.apply(encoded: [1, 200, 3], at: 1, reader: records))
        XCTAssertEqual(state.appliedIndex, 0)
        XCTAssertEqual(try state.apply(encoded: BrokerCommand.declareVHost(name: "v").encoded(), at: 1, reader: records), [.reply(.vhostDeclared)])
    }

    /// What the depth bound lets through, the command codec carries: a declare whose
    /// arguments nest right up to `argumentDepthMax` passes `validate` and decodes back;
    /// one level more is refused with 406 before it could be proposed.
    func testArgumentsWithinTheDepthBoundAreValidatedAndDecodedAndDeeperOnesRefused() throws {
        let limits = BrokerLimits()
        let state = BrokerState(limits: limits)
        for levels in 1...(limits.argumentDepthMax + 2) {
            var arguments: ArgumentTable = ["leaf": .int64(1)]
            for _ in 1..<levels { arguments = ["nested": .table(arguments)] }
            let command = BrokerCommand.declareExchange(ExchangeDeclaration(name: "x", type: .direct, arguments: arguments))
            if levels <= limits.argumentDepthMax {
                XCTAssertNoThrow(try state.validate(command), "\(levels) levels")
                XCTAssertEqual(try BrokerCommand(decoding: command.encoded(), limits: limits), command, "\(levels) levels")
            } else {
                XCTAssertThrowsError(try state.validate(command), "\(levels) levels") { error in
                    XCTAssertEqual((error as? BrokerError)?.code, .preconditionFailed)
                }
            }
        }
    }
}
