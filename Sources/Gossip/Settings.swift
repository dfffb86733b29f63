extension SWIM {
    /// Everything an instance needs to run, with every bound named and checked by
    /// `validate()`. Durations are milliseconds (`Millis`).
    public struct Settings: Sendable, Equatable {
        /// Seeds the probe order, the choice of intermediaries and of leave recipients.
        /// Different nodes should get different seeds.
        public var randomSeed: UInt64
        /// The protocol period: `onPeriodicTick` MUST be invoked this often. Each period
        /// probes one member.
        public var probeIntervalMs: Millis = 1000
        /// How long a direct ping waits for its ack before ping-requests go out; also how
        /// long an intermediary waits for the target before answering with a nack.
        public var probeTimeoutMs: Millis = 300
        /// k: how many members are asked to ping a target that missed its direct probe.
        public var indirectProbeCount: Int = 3
        /// How long a member stays suspect before it is confirmed dead, unless it refutes.
        public var suspicionTimeoutMs: Millis = 6000
        /// How often one dead member (round-robin) is pinged besides the period's probe. A
        /// member wrongly declared dead (cut off for longer than the suspicion timeout)
        /// hears its death first in such a ping, refutes, and the two sides find each other
        /// again; a really dead one just costs a datagram.
        public var deadProbeIntervalMs: Millis = 3000
        /// Most updates piggybacked on one ping, ping-request, ack or nack.
        public var piggybackUpdatesMax: Int = 8
        /// λ: the dissemination limit is λ·⌈log₂(n + 1)⌉ piggybacks per update, where n is
        /// the number of live members (this node included).
        public var disseminationMultiplier: Int = 3
        /// Most members an instance knows, itself and tombstones included. Also bounds the
        /// dissemination buffer (one update per member), the ping-requests served at once,
        /// and a join reply (which carries every member, so it must fit in one datagram).
        public var membersMax: Int = 64
        /// How many members a leaving node tells directly; they disseminate it.
        public var leaveFanout: Int = 3
        /// The longest wait between join requests while no seed answers. A joiner asks its
        /// seeds one a period; after each unanswered round it waits twice as long, up to this.
        public var joinRetryIntervalMaxMs: Millis = 5000

        public init(randomSeed: UInt64) {
            self.randomSeed = randomSeed
        }

        /// Far beyond any sensible period or timeout; keeps `now + duration` far from overflow.
        public static let durationMsMax: Millis = 24 * 60 * 60 * 1000
        /// Far beyond any sensible λ.
        public static let disseminationMultiplierMax = 64

        public struct Invalid: Error, Equatable, CustomStringConvertible {
            public var description: String
        }

        /// Throws naming the first bound that is out of range and why it matters.
        public func validate() throws(Invalid) {
            func require(_ condition: Bool, _ why: String) throws(Invalid) {
                if !condition { throw Invalid(description: why) }
            }
            let membersCap = Wire.membersPerMessageMax
            try require(membersMax >= 3 && membersMax <= membersCap,
                        "membersMax must be between 3 and \(membersCap): a join reply carries every member in one datagram, and probing needs a target and an intermediary")
            try require(probeIntervalMs > 0 && probeIntervalMs <= Self.durationMsMax,
                        "probeIntervalMs must be between 1 and \(Self.durationMsMax)")
            try require(probeTimeoutMs > 0 && probeTimeoutMs <= probeIntervalMs / 3,
                        "probeTimeoutMs must be positive and at most a third of probeIntervalMs: the direct ping, the intermediaries' pings and the relayed acks must all fit in one period")
            try require(indirectProbeCount >= 1 && indirectProbeCount <= membersMax - 2,
                        "indirectProbeCount must be between 1 and membersMax - 2 (neither this node nor the target relays)")
            try require(suspicionTimeoutMs >= probeIntervalMs && suspicionTimeoutMs <= Self.durationMsMax,
                        "suspicionTimeoutMs must be between probeIntervalMs and \(Self.durationMsMax): a suspect needs at least a period to hear of it and refute")
            try require(deadProbeIntervalMs >= probeIntervalMs && deadProbeIntervalMs <= Self.durationMsMax,
                        "deadProbeIntervalMs must be between probeIntervalMs and \(Self.durationMsMax)")
            try require(piggybackUpdatesMax >= 1 && piggybackUpdatesMax <= membersMax,
                        "piggybackUpdatesMax must be between 1 and membersMax: there is at most one update per member")
            try require(disseminationMultiplier >= 1 && disseminationMultiplier <= Self.disseminationMultiplierMax,
                        "disseminationMultiplier must be between 1 and \(Self.disseminationMultiplierMax)")
            try require(leaveFanout >= 1 && leaveFanout <= membersMax,
                        "leaveFanout must be between 1 and membersMax")
            try require(joinRetryIntervalMaxMs >= probeIntervalMs && joinRetryIntervalMaxMs <= Self.durationMsMax,
                        "joinRetryIntervalMaxMs must be between probeIntervalMs and \(Self.durationMsMax): join requests go out on period ticks")
        }

        /// The dissemination limit for `liveMembers` live members (this node included):
        /// λ·⌈log₂(n + 1)⌉ piggybacks per update.
        public func disseminationLimit(liveMembers: Int) -> Int {
            precondition(liveMembers >= 1, "this node is always counted")
            // ⌈log₂(n + 1)⌉ is the bit width of n.
            let log2 = UInt64.bitWidth - UInt64(liveMembers).leadingZeroBitCount
            return disseminationMultiplier * log2
        }
    }
}
