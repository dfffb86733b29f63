import AMQP
import NIOCore

/// A synchronous method sent on a channel, waiting for its reply. Replies on a channel
/// come in the order of the requests, so pending calls form a FIFO queue.
struct PendingRPC {
    /// The request's name, for errors.
    var name: String
    /// The replies that answer it (two for basic.get: get-ok and get-empty).
    var replies: [MethodID]
    /// When the call fails with `timedOut` and the channel is closed.
    var deadline: NIODeadline
    var promise: EventLoopPromise<RPCReply>
}
