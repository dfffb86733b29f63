import NIOCore

/// The deliveries of one consumer, in the order the broker sent them.
///
/// Single-use: iterate it once. The sequence ends (returns nil) after the consumer is
/// cancelled with `AMQPChannel.cancel(consumerTag:)` or its channel or connection is
/// closed by this client; it throws a `ClientError` when the server cancels the consumer
/// (`consumerCancelledByServer`) or the channel or connection fails.
///
/// Back-pressure: at most `deliveryBufferMax` deliveries wait unread here. When the
/// buffer is full the connection stops reading its socket (all its channels wait, and
/// the server's TCP window closes) until the consumer catches up; a few more deliveries
/// may still come from bytes already read. Set `basic.qos` prefetch as well, so the
/// broker does not push more than the application can take. Do not wait on something
/// the same connection must read (a publish confirm, a reply) while not draining a full
/// consumer.
///
/// Ending the iteration early (breaking out of the loop, or cancelling the task) cancels
/// the consumer on the server; deliveries arriving until it confirms are rejected with
/// requeue. Deliveries that were buffered but never read stay unacknowledged until the
/// channel closes, when the broker requeues them.
public struct AMQPConsumer: AsyncSequence, Sendable {
    public typealias Element = Delivery
    public typealias Failure = ClientError

    typealias Producer = NIOThrowingAsyncSequenceProducer<
        Delivery,
        any Error,
        NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark,
        ConsumerDelegate
    >

    /// The consumer's tag on its channel.
    public let consumerTag: String
    private let producer: Producer

    init(consumerTag: String, producer: Producer) {
        self.consumerTag = consumerTag
        self.producer = producer
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: self.producer.makeAsyncIterator())
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Element = Delivery
        public typealias Failure = ClientError

        private var base: Producer.AsyncIterator

        init(base: Producer.AsyncIterator) {
            self.base = base
        }

        public mutating func next() async throws(ClientError) -> Delivery? {
            do {
                return try await self.base.next()
            } catch {
                throw ClientError.wrapping(error)
            }
        }
    }
}
