import AMQP
import NIOCore
import Synchronization

/// One method the peer received, with its content when it carried some.
struct ReceivedMethod: Sendable {
    var channel: UInt16
    var assembled: AssembledMethod

    var method: Method {
        switch self.assembled {
        case .method(let method): method
        case .content(let contentMethod, _, _): contentMethod.method
        }
    }
}

/// Everything a peer received.
struct PeerLog: Sendable {
    var connectionsAccepted = 0
    /// Every frame, in order, across connections.
    var frames: [Frame] = []
    /// Every method, with content assembled, in order, across connections.
    var methods: [ReceivedMethod] = []
    /// Decoding errors (a frame the codec rejected).
    var errors: [String] = []

    var heartbeatsReceived: Int {
        self.frames.count { $0 == .heartbeat }
    }

    /// The methods named `name` (e.g. "basic.ack").
    func methods(named name: String) -> [ReceivedMethod] {
        self.methods.filter { $0.method.name == name }
    }

    func count(_ name: String) -> Int {
        self.methods(named: name).count
    }
}

/// What a peer shares between its connections' event loops and the test.
final class PeerShared: Sendable {
    struct State {
        var log = PeerLog()
        var sessions: [NIOLoopBound<PeerSession>] = []
    }

    let state = Mutex(State())
}
