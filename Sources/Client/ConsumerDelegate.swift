import NIOCore

/// Relays the consumer's demand to the connection's event loop.
struct ConsumerDelegate: NIOAsyncSequenceProducerDelegate {
    let connection: NIOLoopBound<ConnectionHandler>
    let channelNumber: UInt16
    let consumerTag: String
    let sinkID: UInt64

    func produceMore() {
        let connection = self.connection
        let sinkID = self.sinkID
        connection.eventLoop.execute {
            connection.value.resumeReading(for: sinkID)
        }
    }

    func didTerminate() {
        let connection = self.connection
        let (channel, tag, sinkID) = (self.channelNumber, self.consumerTag, self.sinkID)
        connection.eventLoop.execute {
            connection.value.consumerTerminated(channel: channel, consumerTag: tag, sinkID: sinkID)
        }
    }
}
