import AMQP
import Client
import NIOCore
import Node
import Raft
import XCTest

/// A channel's methods take effect in the order they were sent, through the leader and
/// through a follower alike: what a channel published (without confirms, not waiting for
/// anything) is seen by the get, declare, purge and delete it sends next.
final class ChannelOrderTests: XCTestCase {
    private var cluster: LocalCluster!

    override func setUp() {
        cluster = LocalCluster(name: "order")
    }

    override func tearDown() async throws {
        try await cluster.tearDown()
    }

    func testWhatAChannelPublishedIsSeenByItsNextMethodsThroughTheLeaderAndAFollower() async throws {
        let nodes = try await cluster.start(size: 3)
        let leader = try await cluster.leader(of: nodes)
        let follower = nodes.keys.sorted().first { $0 != leader }!
        for (role, id) in [("leader", leader), ("follower", follower)] {
            let connection = try await cluster.connect([nodes[id]!])
            let channel = try await connection.openChannel()
            let queue = "order-\(role)"
            _ = try await channel.queueDeclare(queue, durable: true)

            for i in 0..<100 {
                try await channel.publish(routingKey: queue, body: ByteBuffer(string: "m\(i)"))
                let got = try await channel.get(queue: queue, noAck: true)
                XCTAssertEqual(got.map { String(buffer: $0.body) }, "m\(i)", "through the \(role): the get right after publish \(i)")
            }

            let batch = (0..<50).map { OutgoingMessage(routingKey: queue, body: ByteBuffer(string: "b\($0)")) }
            for result in await channel.publish(batch: batch) { _ = try result.get() }
            let declared = try await channel.queueDeclare(queue, durable: true, passive: true)
            XCTAssertEqual(declared.messageCount, 50, "through the \(role): declare-ok counts what was just published")
            let purged = try await channel.queuePurge(queue)
            XCTAssertEqual(purged, 50, "through the \(role): purge-ok counts it")

            // A requeue is seen by the get right after it.
            try await channel.publish(routingKey: queue, body: ByteBuffer(string: "r"))
            for round in 0..<10 {
                let got = try await channel.get(queue: queue)
                XCTAssertEqual(got.map { String(buffer: $0.body) }, "r", "through the \(role): the get after requeue \(round)")
                guard let tag = got?.deliveryTag else { break }
                if round.isMultiple(of: 2) {
                    try await channel.reject(deliveryTag: tag, requeue: true)
                } else {
                    try await channel.nack(deliveryTag: tag, requeue: true)
                }
            }
            _ = try await channel.queuePurge(queue)

            // An ack is seen by the declare right after it: the acked message is not counted
            // and neither is any other one subtracted.
            for i in 0..<5 { try await channel.publish(routingKey: queue, body: ByteBuffer(string: "a\(i)")) }
            for left in (0..<5).reversed() {
                let got = try await channel.get(queue: queue)
                try await channel.ack(deliveryTag: try XCTUnwrap(got?.deliveryTag))
                let declared = try await channel.queueDeclare(queue, durable: true, passive: true)
                XCTAssertEqual(declared.messageCount, UInt32(left), "through the \(role): declare-ok right after an ack")
            }

            for i in 0..<20 { try await channel.publish(routingKey: queue, body: ByteBuffer(string: "d\(i)")) }
            let deleted = try await channel.queueDelete(queue)
            XCTAssertEqual(deleted, 20, "through the \(role): delete-ok counts it")
            await connection.close()
        }
        for node in nodes.values { try await node.shutdown() }
    }

    /// A message one channel gives back (reject, nack, recover) is found by the get another
    /// channel of the connection sends right after, as on a quorum queue, where the get is
    /// ordered after the return.
    func testARequeueIsSeenByAnotherChannelsGetRightAfterIt() async throws {
        let nodes = try await cluster.start(size: 3)
        let leader = try await cluster.leader(of: nodes)
        let follower = nodes.keys.sorted().first { $0 != leader }!
        for (role, id) in [("leader", leader), ("follower", follower)] {
            let connection = try await cluster.connect([nodes[id]!])
            let giver = try await connection.openChannel()
            let taker = try await connection.openChannel()
            let queue = "requeue-seen-\(role)"
            _ = try await giver.queueDeclare(queue, durable: true)
            _ = try await giver.publish(routingKey: queue, body: ByteBuffer(string: "r"))
            for round in 0..<12 {
                let got = try await giver.get(queue: queue)
                let tag = try XCTUnwrap(got?.deliveryTag, "through the \(role): round \(round)'s get by the channel that gives it back")
                switch round % 3 {
                case 0: try await giver.reject(deliveryTag: tag, requeue: true)
                case 1: try await giver.nack(deliveryTag: tag, requeue: true)
                default: try await giver.recover()
                }
                let taken = try await taker.get(queue: queue)
                XCTAssertEqual(taken.map { String(buffer: $0.body) }, "r", "through the \(role): the other channel's get right after requeue \(round)")
                XCTAssertEqual(taken?.redelivered, true, "through the \(role): round \(round)")
                try await taker.reject(deliveryTag: try XCTUnwrap(taken?.deliveryTag), requeue: true)
            }
            await connection.close()
        }
        for node in nodes.values { try await node.shutdown() }
    }
}

/// The same malformed or out-of-place input, sent to the leader and to a follower, gets the
/// same answer: methods, reply codes and texts.
final class LeaderFollowerAnswerTests: XCTestCase {
    private var cluster: LocalCluster!

    static let messageSizeMax = 1 << 20

    override func setUp() {
        cluster = LocalCluster(name: "answers") { $0.messageSizeMax = Self.messageSizeMax }
    }

    override func tearDown() async throws {
        try await cluster.tearDown()
    }

    /// A script's answers, from a new connection to `port`.
    private typealias Script = @Sendable (RawAMQPSession) throws -> [String]

    private static let scripts: [(name: String, run: Script)] = [
        ("content after the server closed the channel", { session in
            var answers = try session.openChannel(1)
            // Refused (no such exchange): the node closes the channel...
            try session.send(RawAMQPSession.publish(channel: 1, exchange: "no-such-exchange", routingKey: "k", body: [1]))
            answers += try session.frames { if case .method(_, .channel(.close)) = $0 { true } else { false } }.map(\.answer)
            // ...while the client, not yet aware of it, publishes again; then it answers.
            try session.send(RawAMQPSession.publish(channel: 1, exchange: "", routingKey: "k", body: [2]))
            try session.send([.method(channel: 1, .channel(.closeOk)), .method(channel: 2, .channel(.open(.init())))])
            answers += try session.frames { if case .method(_, .channel(.openOk)) = $0 { true } else { false } }.map(\.answer)
            return answers
        }),
        ("more body bytes than the header declared", { session in
            _ = try session.openChannel(1)
            try session.send(RawAMQPSession.publish(channel: 1, exchange: "", routingKey: "k", body: [1, 2], declaredSize: 1))
            return try session.frames { if case .method(_, .connection(.close)) = $0 { true } else { false } }.map(\.answer)
        }),
        ("a message over the size limit", { session in
            var answers = try session.openChannel(1)
            let body = [UInt8](repeating: 7, count: 2 * LeaderFollowerAnswerTests.messageSizeMax)
            try session.send(RawAMQPSession.publish(channel: 1, exchange: "", routingKey: "k", body: body))
            answers += try session.frames { if case .method(_, .channel(.close)) = $0 { true } else { false } }.map(\.answer)
            // Only the channel closed: the connection takes another.
            try session.send([.method(channel: 1, .channel(.closeOk)), .method(channel: 2, .channel(.open(.init())))])
            answers += try session.frames { if case .method(_, .channel(.openOk)) = $0 { true } else { false } }.map(\.answer)
            return answers
        }),
        ("a client's close crossing the node's", { session in
            var answers = try session.openChannel(1)
            try session.send(RawAMQPSession.publish(channel: 1, exchange: "no-such-exchange", routingKey: "k", body: [1]))
            answers += try session.frames { if case .method(_, .channel(.close)) = $0 { true } else { false } }.map(\.answer)
            // The client closes too instead of answering; then answers after all, and opens
            // the channel again.
            let close = Method.Channel.Close(replyCode: .replySuccess, replyText: "bye", classID: 0, methodID: 0)
            try session.send([.method(channel: 1, .channel(.close(close)))])
            answers += try session.frames { if case .method(_, .channel(.closeOk)) = $0 { true } else { false } }.map(\.answer)
            try session.send([.method(channel: 1, .channel(.closeOk)), .method(channel: 1, .channel(.open(.init())))])
            answers += try session.frames { if case .method(_, .channel(.openOk)) = $0 { true } else { false } }.map(\.answer)
            return answers
        }),
        ("basic.deliver from a client", { session in
            _ = try session.openChannel(1)
            try session.send([
                .method(channel: 1, .basic(.deliver(.init(consumerTag: "c", deliveryTag: 1, redelivered: false, exchange: "", routingKey: "k")))),
                .header(channel: 1, ContentHeader(bodySize: 1)), .body(channel: 1, ByteBuffer(bytes: [1])),
            ])
            return try session.frames { if case .method(_, .connection(.close)) = $0 { true } else { false } }.map(\.answer)
        }),
    ]

    func testALeaderAndAFollowerAnswerTheSameToOutOfPlaceInput() async throws {
        let nodes = try await cluster.start(size: 3)
        let leader = try await cluster.leader(of: nodes)
        let follower = nodes.keys.sorted().first { $0 != leader }!
        for script in Self.scripts {
            var answers: [String: [String]] = [:]
            for id in [leader, follower] {
                let session = try RawAMQPSession(port: nodes[id]!.amqpAddress.port!)
                answers[id == leader ? "leader" : "follower"] = try script.run(session)
            }
            XCTAssertEqual(answers["follower"], answers["leader"], script.name)
            XCTAssertFalse(answers["leader"]?.isEmpty ?? true, script.name)
            if script.name == "a client's close crossing the node's" {
                XCTAssertEqual(answers["leader"]?.suffix(2), ["1 channel.close-ok", "1 channel.open-ok"], "the crossed close answered, the channel usable again")
            }
            if script.name == "a message over the size limit" {
                let refusal = "1 channel.close 406 PRECONDITION_FAILED - message size \(2 * Self.messageSizeMax) is larger than configured max size \(Self.messageSizeMax)"
                XCTAssertEqual(answers["leader"], ["1 channel.open-ok", refusal, "2 channel.open-ok"], "as RabbitMQ: the channel closes, not the connection")
            }
        }
        for node in nodes.values { try await node.shutdown() }
    }
}
