/// Why the server's `connection.tune` cannot be accepted.
enum TuningRejection: Error, Hashable, Sendable {
    /// A frame-max below the spec's minimum of 4096 bytes.
    case frameMaxBelowMinimum(UInt32)
}
