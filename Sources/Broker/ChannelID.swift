/// A client channel as the dispatcher knows it: its connection (the same opaque id that owns
/// exclusive queues, e.g. "node-1/conn-17") and its channel number.
public struct ChannelID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var connection: String
    public var number: UInt16

    public init(connection: String, number: UInt16) {
        self.connection = connection
        self.number = number
    }

    public static func < (a: ChannelID, b: ChannelID) -> Bool {
        (a.connection, a.number) < (b.connection, b.number)
    }

    public var description: String { "\(connection)#\(number)" }
}
