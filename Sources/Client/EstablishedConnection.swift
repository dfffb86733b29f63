import AMQP
import NIOCore

/// What a public `AMQPConnection` holds once the handshake is done.
struct EstablishedConnection: Sendable {
    var handler: NIOLoopBound<ConnectionHandler>
    var endpoint: Endpoint
    var tuning: Tuning
    var serverProperties: FieldTable
    var events: AsyncStream<ConnectionEvent>
    var status: ConnectionStatus
    var closed: EventLoopFuture<ClientError>
}
