import AMQP

extension Tuning {
    /// What the client answers to the server's `connection.tune`, given what it asked for
    /// (`requested`, where 0 means "no limit" for channel-max and frame-max).
    ///
    /// - channel-max and frame-max: the smaller of the two where 0 means no limit, so
    ///   the server's limits are always honoured. channel-max "no limit" becomes 65535.
    /// - heartbeat: 0 requested turns heartbeats off; otherwise the smaller of the two,
    ///   or the client's when the server proposes 0.
    ///
    /// Pure: the same inputs give the same outputs.
    static func negotiate(
        requested: Tuning,
        offered: Method.Connection.Tune
    ) -> Result<Tuning, TuningRejection> {
        if offered.frameMax != 0, offered.frameMax < Frame.sizeMin {
            return .failure(.frameMaxBelowMinimum(offered.frameMax))
        }
        let channelMax = Self.smallerLimit(requested.channelMax, offered.channelMax)
        let frameMax = Self.smallerLimit(requested.frameMax, offered.frameMax)
        let heartbeat: UInt16 =
            switch (requested.heartbeatSeconds, offered.heartbeat) {
            case (0, _): 0
            case (let client, 0): client
            case (let client, let server): min(client, server)
            }
        return .success(
            Tuning(
                channelMax: channelMax == 0 ? UInt16.max : channelMax,
                frameMax: frameMax,
                heartbeatSeconds: heartbeat
            )
        )
    }

    /// The smaller of two limits where 0 means "no limit".
    private static func smallerLimit<Limit: FixedWidthInteger>(_ lhs: Limit, _ rhs: Limit) -> Limit {
        switch (lhs, rhs) {
        case (0, let other), (let other, 0): other
        default: min(lhs, rhs)
        }
    }
}
