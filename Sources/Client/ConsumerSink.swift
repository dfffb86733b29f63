/// The channel's end of a consumer: where deliveries are yielded. Event-loop confined.
final class ConsumerSink {
    let consumerTag: String
    let noAck: Bool
    /// Identifies the consumer to the connection's read back-pressure.
    let sinkID: UInt64
    let source: AMQPConsumer.Producer.Source
    /// The application stopped iterating; basic.cancel was sent.
    var abandoned = false

    init(consumerTag: String, noAck: Bool, sinkID: UInt64, source: AMQPConsumer.Producer.Source) {
        self.consumerTag = consumerTag
        self.noAck = noAck
        self.sinkID = sinkID
        self.source = source
    }
}
