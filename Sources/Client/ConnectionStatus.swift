import Synchronization

/// What any thread may read about a connection without hopping to its event loop.
final class ConnectionStatus: Sendable {
    /// The reason of the server's `connection.blocked`, while blocked.
    let blockedReason = Mutex<String?>(nil)
}
