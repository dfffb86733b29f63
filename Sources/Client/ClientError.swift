import AMQP

/// Everything the client's operations fail with.
///
/// Closed on purpose, so callers can `switch` over it. The distinction that matters most
/// to a publisher is between `confirmNacked` (the broker refused the message: it is not
/// stored), a plain close or I/O error on a publish that was never sent (not stored
/// either), and `confirmIndeterminate` (the message was sent but its confirm never came:
/// it may or may not be stored; publish it again if duplicates are acceptable).
public enum ClientError: Error, Hashable, Sendable {
    /// Connecting failed on every host: one entry per host, in the order tried.
    case connectFailed([HostFailure])
    /// The server closed the connection with `connection.close`.
    case connectionClosedByServer(CloseReason)
    /// The server closed the channel with `channel.close`.
    case channelClosedByServer(channel: UInt16, CloseReason)
    /// This client closed the connection (`AMQPConnection.close()`).
    case connectionClosed
    /// This client closed the channel (`AMQPChannel.close()`).
    case channelClosed(channel: UInt16)
    /// The socket closed without the close handshake.
    case connectionLost
    /// A socket error (connection refused, reset, …), with its description.
    case io(String)
    /// No frame arrived from the server within twice the negotiated heartbeat interval.
    case heartbeatTimeout(intervalSeconds: UInt16)
    /// An operation's reply did not arrive in time; names what timed out.
    case timedOut(String)
    /// The broker answered a publish with `basic.nack`: it did not take the message.
    case confirmNacked(deliveryTag: UInt64)
    /// The publish was sent but its confirm did not arrive: the channel or connection
    /// closed (`cause`), or the confirm timeout passed (`cause` is `timedOut`). The broker
    /// may or may not have the message.
    indirect case confirmIndeterminate(deliveryTag: UInt64, cause: ClientError)
    /// The server cancelled the consumer (`basic.cancel`), e.g. because its queue was
    /// deleted or its node went away.
    case consumerCancelledByServer(consumerTag: String)
    /// The server broke the protocol; the connection was closed with the reply code given.
    case protocolViolation(ReplyCode, String)
    /// The server offers no SASL mechanism this client speaks (it speaks PLAIN).
    case authenticationMechanismUnsupported(offered: String)
    /// An argument cannot be sent, e.g. a name longer than 255 bytes.
    case invalidArgument(String)
    /// `PublishConfirmation.confirmed()` on a publish made outside confirm mode.
    case confirmsNotSelected
    /// A bound was reached: every channel number is in use, or too many operations wait.
    case limitReached(String)
}

extension ClientError {
    /// Maps any error to a `ClientError`: itself when it is one, else `io` with its
    /// description (a socket or event loop error).
    static func wrapping(_ error: any Error) -> ClientError {
        if let error = error as? ClientError {
            return error
        }
        return .io(String(describing: error))
    }
}
