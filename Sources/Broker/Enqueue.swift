/// A batch of publishes. The node MUST validate each (`BrokerState.validatePublish`) and keep
/// batches within `BrokerLimits.commandMessagesMax`: the log format refuses anything beyond.
public struct Enqueue: Equatable, Sendable {
    /// The leader's clock when it proposed (ms since the epoch): enqueue time and TTL start.
    public var timestamp: Int64
    public var messages: [Publish]

    public init(timestamp: Int64, messages: [Publish]) {
        self.timestamp = timestamp
        self.messages = messages
    }
}
