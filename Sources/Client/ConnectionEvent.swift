/// Something the server told the connection that is not an answer to a call.
public enum ConnectionEvent: Hashable, Sendable {
    /// The server stopped reading publishes (`connection.blocked`), e.g. on a resource
    /// alarm. Publishes wait in the socket until `unblocked`.
    case blocked(reason: String)
    /// The server reads publishes again (`connection.unblocked`).
    case unblocked
}
