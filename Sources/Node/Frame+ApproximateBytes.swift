import AMQP

extension Frame {
    /// About what the frame takes in memory, for the bound on frames waiting for a leader.
    var approximateBytes: Int {
        if case .body(_, let body) = self { return body.readableBytes + 8 }
        return 64
    }
}
