/// What a `Dispatcher.dispatch` call produced.
public struct DispatchOutput: Equatable, Sendable {
    /// To send, in order.
    public var deliveries: [Delivery] = []
    /// To propose: settles of no-ack deliveries, expiry of messages found expired.
    public var proposals: [BrokerCommand] = []
    /// The per-call bound was hit: call `dispatch` again.
    public var more = false

    public init() {}
}
