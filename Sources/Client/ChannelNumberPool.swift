/// Hands out channel numbers 1 through `channelMax` (a pure state machine).
///
/// Allocation continues after the last number handed out, wrapping around, so a number
/// just released is the last to be reused: a late frame for a closed channel is then
/// unlikely to meet a new channel of the same number.
struct ChannelNumberPool {
    let channelMax: UInt16
    private var inUse: Set<UInt16> = []
    private var last: UInt16 = 0

    init(channelMax: UInt16) {
        precondition(channelMax > 0, "channel-max must be at least 1")
        self.channelMax = channelMax
    }

    var countInUse: Int {
        self.inUse.count
    }

    /// The next free number, now in use; nil when all are in use.
    mutating func allocate() -> UInt16? {
        guard self.inUse.count < Int(self.channelMax) else {
            return nil
        }
        var candidate = self.last
        repeat {
            candidate = candidate >= self.channelMax ? 1 : candidate + 1
        } while self.inUse.contains(candidate)
        self.inUse.insert(candidate)
        self.last = candidate
        return candidate
    }

    /// Makes `number` free again.
    mutating func release(_ number: UInt16) {
        let removed = self.inUse.remove(number)
        precondition(removed != nil, "channel \(number) released but not in use")
    }
}
