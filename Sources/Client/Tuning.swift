/// The limits a connection runs with, agreed in `connection.tune` / `connection.tune-ok`.
public struct Tuning: Hashable, Sendable {
    /// The highest channel number; never 0 once negotiated (no limit is 65535).
    public var channelMax: UInt16
    /// The largest frame in bytes, header and frame end included; 0 means no limit.
    public var frameMax: UInt32
    /// The heartbeat interval in seconds; 0 means heartbeats are off.
    public var heartbeatSeconds: UInt16

    public init(channelMax: UInt16, frameMax: UInt32, heartbeatSeconds: UInt16) {
        self.channelMax = channelMax
        self.frameMax = frameMax
        self.heartbeatSeconds = heartbeatSeconds
    }

    /// The frame-max to split bodies by: `frameMax`, or no practical limit for 0.
    var frameSizeMax: UInt32 {
        self.frameMax == 0 ? UInt32.max : self.frameMax
    }
}
