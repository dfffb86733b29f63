extension SWIM {
    /// What an instance did, counted since it started: for metrics and for tests.
    public struct Counters: Hashable, Sendable {
        /// Periods that pinged a member.
        public var probesStarted = 0
        /// Probes that ended their period without any ack, direct or relayed.
        public var probesFailed = 0
        /// Probes whose direct ping timed out, so ping-requests went out.
        public var indirectProbes = 0
        /// Extra pings to suspects, one a period, so they hear of their suspicion.
        public var suspectProbes = 0
        /// Pings sent to dead members (see `Settings.deadProbeIntervalMs`).
        public var deadProbes = 0
        /// Nacks heard from intermediaries about this node's probes.
        public var nacksReceived = 0
        /// Times this node raised its incarnation to refute a record about itself.
        public var refutations = 0
        /// Ping-requests answered at once with a nack because `membersMax` were in flight.
        public var relaysRefused = 0
        /// Records about unknown nodes dropped because the table was full of live members.
        public var membersRejected = 0
    }
}
