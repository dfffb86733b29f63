import AMQP
import NIOCore
import Raft

extension RelayCore {
    /// What the core asks of its shell. Every event returns them in order; the shell MUST
    /// carry out each one before the next, switching exhaustively. A directive for the
    /// session when there is none (it closed meanwhile) is a no-op.
    enum Directive: Equatable {
        /// Write `frames` to the client, in order, and flush after the last when `flush`
        /// (otherwise by the end of the loop's turn).
        case sendToClient([Frame], flush: Bool)
        /// Close the client's connection with the refusal's code and text. The client
        /// tears down and invokes `onClose`, at once or later.
        case closeClient(Refusal)
        /// Stop reading the client's socket: frames waiting for a leader are over
        /// `Settings.pendingBytesMax`, or the session backs up.
        case pauseReadingClient
        /// Read the client's socket again.
        case resumeReadingClient
        /// Read the session's socket (`true`) or stop reading it while the client's backs up.
        case readSession(Bool)

        /// Connect a client session to `leader` over the peer port, its frames marked with
        /// `generation`, and invoke `onSessionConnected` or `onSessionFailed` with it.
        case dial(NodeID, generation: UInt64)
        /// Invoke `onOpeningTimeout(generation:)` once `after` has passed. Never needs
        /// cancelling: the core ignores it once the session opened or was abandoned.
        case scheduleOpeningTimeout(generation: UInt64, after: TimeAmount)
        /// The connection of `generation` just dialled is the session: keep it, and start its
        /// AMQP handshake with the protocol header. The leader's frames come to
        /// `onLeaderFrame`, its close to `onSessionClosed`, its writability to
        /// `onSessionWritability`, all with `generation`.
        case adoptSession(generation: UInt64)
        /// Write `frames` to the session, in order, flushed by the end of the loop's turn: the
        /// shell sends a turn's writes as one.
        case writeToSession([Frame])
        /// Invoke `onHeartbeatTimer(generation:now:)` every `every`, until `closeSession`.
        case startHeartbeat(generation: UInt64, every: TimeAmount)
        /// Close the session (if there is one) and stop its heartbeat. Its generation is over:
        /// whatever it still reports is ignored.
        case closeSession

        /// Invoke `onRetryTimer(leader:now:)` once `after` has passed, with the leader this
        /// node knows of then. At most one is scheduled at a time.
        case scheduleRetry(after: TimeAmount)
        /// Cancel the timer of `scheduleRetry`, if one is scheduled: the relay is closed.
        case cancelRetry
        /// Invoke `onUpstreamCloseTimer` once `after` has passed. Never needs cancelling.
        case scheduleUpstreamCloseTimer(after: TimeAmount)
        /// The client's connection.close is done upstream (the leader answered close-ok, or
        /// there is no session, or the wait ran out): answer the client with close-ok.
        case finishUpstreamClose
        /// The relay is closed: stop telling it of leader changes.
        case stopWatchingLeader
    }
}
