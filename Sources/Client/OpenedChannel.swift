import NIOCore

/// What a public `AMQPChannel` holds once its channel is open.
struct OpenedChannel: Sendable {
    var core: NIOLoopBound<ChannelCore>
    var number: UInt16
    var returns: AsyncStream<ReturnedMessage>
    var closed: EventLoopFuture<ClientError>
}
