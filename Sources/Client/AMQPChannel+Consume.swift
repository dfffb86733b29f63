import AMQP
import NIOCore

extension AMQPChannel {
    /// The default bound of a consumer's delivery buffer.
    public static let deliveryBufferDefault = 256

    /// basic.consume: starts a consumer on `queue` and returns its deliveries.
    ///
    /// - Parameters:
    ///   - noAck: the broker considers deliveries settled once sent (no `ack` needed).
    ///   - consumerTag: the consumer's tag; one unique on the channel is made up when nil.
    ///   - deliveryBufferMax: the most deliveries buffered unread before the connection
    ///     stops reading (see `AMQPConsumer`).
    public func consume(
        queue: String,
        noAck: Bool = false,
        exclusive: Bool = false,
        arguments: FieldTable = [:],
        consumerTag: String? = nil,
        deliveryBufferMax: Int = AMQPChannel.deliveryBufferDefault
    ) async throws(ClientError) -> AMQPConsumer {
        precondition(deliveryBufferMax > 0, "delivery buffer \(deliveryBufferMax) must hold at least 1")
        return try await self.onLoop { core in
            core.consume(
                queue: queue,
                noAck: noAck,
                exclusive: exclusive,
                arguments: arguments,
                consumerTag: consumerTag,
                deliveryBufferMax: deliveryBufferMax
            )
        }
    }

    /// basic.cancel: stops the consumer; its sequence ends once the broker confirms, after
    /// the deliveries sent before that.
    public func cancel(consumerTag: String) async throws(ClientError) {
        let cancel = Method.Basic.Cancel(consumerTag: consumerTag)
        _ = try await self.call(.basic(.cancel(cancel)), replies: [.basicCancelOk])
    }

    /// basic.ack: settles the delivery (and, with `multiple`, every earlier one).
    public func ack(deliveryTag: UInt64, multiple: Bool = false) async throws(ClientError) {
        try await self.send(.basic(.ack(.init(deliveryTag: deliveryTag, multiple: multiple))))
    }

    /// basic.nack: refuses the delivery (and, with `multiple`, every earlier one); the
    /// broker requeues it when `requeue`, else drops or dead-letters it.
    public func nack(deliveryTag: UInt64, multiple: Bool = false, requeue: Bool = true) async throws(ClientError) {
        try await self.send(.basic(.nack(.init(deliveryTag: deliveryTag, multiple: multiple, requeue: requeue))))
    }

    /// basic.reject: refuses one delivery.
    public func reject(deliveryTag: UInt64, requeue: Bool = true) async throws(ClientError) {
        try await self.send(.basic(.reject(.init(deliveryTag: deliveryTag, requeue: requeue))))
    }

    /// basic.recover: every unacknowledged delivery of the channel goes back to its queue
    /// (requeue = true; RabbitMQ refuses false); returns once the broker answers.
    public func recover() async throws(ClientError) {
        _ = try await self.call(.basic(.recover(.init(requeue: true))), replies: [.basicRecoverOk])
    }

    /// basic.get: fetches one message, or nil when the queue is empty.
    public func get(queue: String, noAck: Bool = false) async throws(ClientError) -> GetResponse? {
        let get = Method.Basic.Get(queue: queue, noAck: noAck)
        let reply = try await self.call(.basic(.get(get)), replies: [.basicGetOk, .basicGetEmpty])
        switch reply {
        case .getOk(let getOk, let header, let body):
            return GetResponse(
                deliveryTag: getOk.deliveryTag,
                redelivered: getOk.redelivered,
                exchange: getOk.exchange,
                routingKey: getOk.routingKey,
                messageCount: getOk.messageCount,
                properties: header.properties,
                body: body.collected()
            )
        case .method(.basic(.getEmpty)):
            return nil
        case .method:
            preconditionFailure("basic.get answered with \(reply)")
        }
    }
}
