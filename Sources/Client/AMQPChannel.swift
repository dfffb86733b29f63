import AMQP
import NIOCore

/// An AMQP channel: declares, binds, publishes, consumes.
///
/// Safe to use from any task; every call hops to the connection's event loop, where the
/// channel's state lives. Calls on one channel are sent in the order they reach the event
/// loop. When the channel closes, for whatever reason, every call fails with that reason
/// (`channelClosedByServer` with the server's reply code and text, `channelClosed`,
/// or the connection's error).
public final class AMQPChannel: Sendable {
    /// The channel number on its connection.
    public let number: UInt16
    /// Mandatory messages the broker could not route (`basic.return`). Keeps the newest
    /// `returnsBufferedMax` unread ones; ends when the channel closes.
    public let returns: AsyncStream<ReturnedMessage>
    let core: NIOLoopBound<ChannelCore>
    private let closedFuture: EventLoopFuture<ClientError>

    init(_ opened: OpenedChannel) {
        self.number = opened.number
        self.returns = opened.returns
        self.core = opened.core
        self.closedFuture = opened.closed
    }

    /// The most unread returned messages kept.
    public static var returnsBufferedMax: Int {
        ChannelCore.returnsBufferedMax
    }

    /// Runs `body` on the event loop with the channel's state and waits for its future.
    func onLoop<Value: Sendable>(
        _ body: @escaping @Sendable (ChannelCore) -> EventLoopFuture<Value>
    ) async throws(ClientError) -> Value {
        let core = self.core
        return try await core.eventLoop.flatSubmit { body(core.value) }.clientValue()
    }

    /// Sends a synchronous method and waits for its reply.
    func call(_ method: Method, replies: [MethodID]) async throws(ClientError) -> RPCReply {
        try await self.onLoop { core in core.rpc(method, replies: replies) }
    }

    /// Sends a method that has no reply.
    func send(_ method: Method) async throws(ClientError) {
        try await self.onLoop { core in
            do {
                try core.send(method)
                return core.eventLoop.makeSucceededVoidFuture()
            } catch {
                return core.eventLoop.makeFailedFuture(error)
            }
        }
    }

    // MARK: Exchanges

    /// exchange.declare: creates the exchange, or checks an existing one is equivalent
    /// (the server closes the channel with 406 PRECONDITION_FAILED when not).
    public func exchangeDeclare(
        _ name: String,
        type: String = "direct",
        durable: Bool = false,
        autoDelete: Bool = false,
        internal: Bool = false,
        passive: Bool = false,
        arguments: FieldTable = [:]
    ) async throws(ClientError) {
        let declare = Method.Exchange.Declare(
            exchange: name,
            type: type,
            passive: passive,
            durable: durable,
            autoDelete: autoDelete,
            internal: `internal`,
            arguments: arguments
        )
        _ = try await self.call(.exchange(.declare(declare)), replies: [.exchangeDeclareOk])
    }

    /// exchange.delete.
    public func exchangeDelete(_ name: String, ifUnused: Bool = false) async throws(ClientError) {
        let delete = Method.Exchange.Delete(exchange: name, ifUnused: ifUnused)
        _ = try await self.call(.exchange(.delete(delete)), replies: [.exchangeDeleteOk])
    }

    /// exchange.bind: routes messages from `source` to `destination`.
    public func exchangeBind(
        destination: String,
        source: String,
        routingKey: String = "",
        arguments: FieldTable = [:]
    ) async throws(ClientError) {
        let bind = Method.Exchange.Bind(
            destination: destination,
            source: source,
            routingKey: routingKey,
            arguments: arguments
        )
        _ = try await self.call(.exchange(.bind(bind)), replies: [.exchangeBindOk])
    }

    /// exchange.unbind.
    public func exchangeUnbind(
        destination: String,
        source: String,
        routingKey: String = "",
        arguments: FieldTable = [:]
    ) async throws(ClientError) {
        let unbind = Method.Exchange.Unbind(
            destination: destination,
            source: source,
            routingKey: routingKey,
            arguments: arguments
        )
        _ = try await self.call(.exchange(.unbind(unbind)), replies: [.exchangeUnbindOk])
    }

    // MARK: Queues

    /// queue.declare: creates the queue (named by the server when `name` is empty), or
    /// checks an existing one is equivalent.
    @discardableResult
    public func queueDeclare(
        _ name: String = "",
        durable: Bool = false,
        exclusive: Bool = false,
        autoDelete: Bool = false,
        passive: Bool = false,
        arguments: FieldTable = [:]
    ) async throws(ClientError) -> QueueDeclareOk {
        let declare = Method.Queue.Declare(
            queue: name,
            passive: passive,
            durable: durable,
            exclusive: exclusive,
            autoDelete: autoDelete,
            arguments: arguments
        )
        let reply = try await self.call(.queue(.declare(declare)), replies: [.queueDeclareOk])
        guard case .method(.queue(.declareOk(let ok))) = reply else {
            preconditionFailure("queue.declare answered with \(reply)")
        }
        return QueueDeclareOk(queue: ok.queue, messageCount: ok.messageCount, consumerCount: ok.consumerCount)
    }

    /// queue.bind.
    public func queueBind(
        queue: String,
        exchange: String,
        routingKey: String = "",
        arguments: FieldTable = [:]
    ) async throws(ClientError) {
        let bind = Method.Queue.Bind(queue: queue, exchange: exchange, routingKey: routingKey, arguments: arguments)
        _ = try await self.call(.queue(.bind(bind)), replies: [.queueBindOk])
    }

    /// queue.unbind.
    public func queueUnbind(
        queue: String,
        exchange: String,
        routingKey: String = "",
        arguments: FieldTable = [:]
    ) async throws(ClientError) {
        let unbind = Method.Queue.Unbind(queue: queue, exchange: exchange, routingKey: routingKey, arguments: arguments)
        _ = try await self.call(.queue(.unbind(unbind)), replies: [.queueUnbindOk])
    }

    /// queue.purge; returns how many messages were removed.
    @discardableResult
    public func queuePurge(_ name: String) async throws(ClientError) -> UInt32 {
        let reply = try await self.call(.queue(.purge(.init(queue: name))), replies: [.queuePurgeOk])
        guard case .method(.queue(.purgeOk(let ok))) = reply else {
            preconditionFailure("queue.purge answered with \(reply)")
        }
        return ok.messageCount
    }

    /// queue.delete; returns how many messages were deleted with it.
    @discardableResult
    public func queueDelete(_ name: String, ifUnused: Bool = false, ifEmpty: Bool = false) async throws(ClientError)
        -> UInt32
    {
        let delete = Method.Queue.Delete(queue: name, ifUnused: ifUnused, ifEmpty: ifEmpty)
        let reply = try await self.call(.queue(.delete(delete)), replies: [.queueDeleteOk])
        guard case .method(.queue(.deleteOk(let ok))) = reply else {
            preconditionFailure("queue.delete answered with \(reply)")
        }
        return ok.messageCount
    }

    // MARK: Quality of service

    /// basic.qos: at most `prefetchCount` unacknowledged deliveries (0: no limit), per
    /// consumer, or per channel when `global` (RabbitMQ's reading of the flag).
    public func qos(prefetchCount: UInt16, global: Bool = false) async throws(ClientError) {
        let qos = Method.Basic.Qos(prefetchSize: 0, prefetchCount: prefetchCount, global: global)
        _ = try await self.call(.basic(.qos(qos)), replies: [.basicQosOk])
    }

    // MARK: Transactions

    /// tx.select: publishes and acks from now on take effect at `txCommit()`.
    public func txSelect() async throws(ClientError) {
        _ = try await self.call(.tx(.select), replies: [.txSelectOk])
    }

    /// tx.commit.
    public func txCommit() async throws(ClientError) {
        _ = try await self.call(.tx(.commit), replies: [.txCommitOk])
    }

    /// tx.rollback.
    public func txRollback() async throws(ClientError) {
        _ = try await self.call(.tx(.rollback), replies: [.txRollbackOk])
    }

    // MARK: Closing

    /// Closes the channel (channel.close 200) and waits for the server's close-ok, at
    /// most the connection's `rpcTimeout`. Unconfirmed publishes become indeterminate;
    /// consumers end normally. Returns at once when already closed.
    public func close() async {
        let core = self.core
        _ = try? await core.eventLoop.flatSubmit { core.value.close() }.get()
    }

    /// Waits until the channel is closed and returns why.
    public func closed() async -> ClientError {
        (try? await self.closedFuture.get()) ?? .connectionLost
    }
}
