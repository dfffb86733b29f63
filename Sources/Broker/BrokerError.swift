/// A refusal the client is told about: a reply code and RabbitMQ's text for it. Bad input
/// from a client is always one of these, never a crash.
public struct BrokerError: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    public var code: ReplyCode
    /// The text without the code's name, e.g. "no queue 'q' in vhost '/'".
    public var message: String

    public init(_ code: ReplyCode, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The reply-text to send: "NOT_FOUND - no queue 'q' in vhost '/'".
    public var replyText: String { "\(code.name) - \(message)" }

    public var description: String { "\(code.rawValue) \(replyText)" }

    // MARK: RabbitMQ's texts

    public static func queueNotFound(_ name: QueueName) -> BrokerError {
        BrokerError(.notFound, "no \(name)")
    }

    static func exchangeNotFound(_ name: ExchangeName) -> BrokerError {
        BrokerError(.notFound, "no \(name)")
    }

    static func vhostNotFound(_ vhost: String) -> BrokerError {
        BrokerError(.notFound, "no vhost '\(vhost)'")
    }

    static func userNotFound(_ name: String) -> BrokerError {
        BrokerError(.notFound, "no user '\(name)'")
    }

    static let defaultExchangeRefused = BrokerError(.accessRefused, "operation not permitted on the default exchange")

    static func reservedPrefix(kind: String, _ name: String) -> BrokerError {
        BrokerError(.accessRefused, "\(kind) name '\(name)' contains reserved prefix 'amq.*'")
    }

    static func exclusiveLocked(_ name: QueueName) -> BrokerError {
        BrokerError(
            .resourceLocked,
            "cannot obtain exclusive access to locked \(name). It could be originally declared on another "
                + "connection or the exclusive property value does not match that of the original declaration.")
    }

    /// `received`/`current` are already printed the way RabbitMQ prints them.
    static func inequivalent(_ key: String, of resource: String, received: String, current: String) -> BrokerError {
        BrokerError(.preconditionFailed, "inequivalent arg '\(key)' for \(resource): received \(received) but current is \(current)")
    }

    static func invalidArgument(_ key: String, for name: QueueName, _ reason: String) -> BrokerError {
        BrokerError(.preconditionFailed, "invalid arg '\(key)' for \(name): \(reason)")
    }

    static func nameTooLong(kind: String, bytesMax: Int) -> BrokerError {
        BrokerError(.preconditionFailed, "\(kind) name is longer than \(bytesMax) bytes")
    }

    /// What the node sends when a consumer kept a delivery unacknowledged past its timeout.
    public static func deliveryAcknowledgementTimedOut(channel: UInt16, timeoutMs: Int64) -> BrokerError {
        BrokerError(
            .preconditionFailed,
            "delivery acknowledgement on channel \(channel) timed out. Timeout value used: \(timeoutMs) ms. "
                + "This timeout value can be configured, see consumers doc guide to learn more")
    }
}
