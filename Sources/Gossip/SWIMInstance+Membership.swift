// Membership: applying records by the incarnation rules, refuting suspicion of oneself,
// joining and leaving.
extension SWIMInstance {
    /// MUST be invoked to enter an existing cluster through any of `seeds` (peer
    /// addresses). Sends a join request with this node's record to the first seed, and to
    /// the next one each period until a join reply arrives; after each round of seeds that
    /// went unanswered, the wait between requests doubles, up to `joinRetryIntervalMaxMs`.
    /// Addresses that are this node's own are skipped; at most `membersMax` seeds are kept.
    public mutating func join(seeds: [SWIM.HostPort], now: SWIM.Millis) -> [SWIM.Directive] {
        _ = advance(to: now)
        guard !hasLeft else { return [] }
        joinSeeds = Array(seeds.filter { $0 != myself.addresses.peer && $0.isEncodable }.prefix(settings.membersMax))
        joinAttempts = 0
        joinTicksToSkip = 0
        joinRoundWaitPeriods = 1
        isJoined = joinSeeds.isEmpty
        return retryJoin()
    }

    /// MUST be invoked when a join request arrives. Adds (or renews) the joiner, which is
    /// then disseminated like any update, and answers with every member known, this node
    /// first (at most `membersMax`, which always fits one datagram).
    public mutating func onJoin(
        from sender: SWIM.NodeID, source: SWIM.HostPort, sequence: SWIM.SequenceNumber,
        joiner: SWIM.Member, now: SWIM.Millis
    ) -> [SWIM.Directive] {
        let now = advance(to: now)
        guard sender != myself.id, !hasLeft, joiner.id == sender, joiner.status == .alive else { return [] }
        var directives = apply([joiner], now: now)
        let live = ids(where: \.isLive)
        let tombstones = ids(where: { !$0.isLive })
        let members = [myself] + (live + tombstones).compactMap { table[$0]?.member }
        directives.append(.send(message(sequence, .joinReply(members: members)), to: source))
        return directives
    }

    /// MUST be invoked when a join reply arrives. Applies every member in it (a record of
    /// this node's previous life makes it raise its incarnation) and ends joining. The
    /// joiner then spreads its own record too: the seed that took it in may leave or crash
    /// before piggybacking it on anything, and a ping carries no sender's address, so the
    /// others would answer the joiner's pings and never learn where it is.
    public mutating func onJoinReply(
        from sender: SWIM.NodeID, sequence: SWIM.SequenceNumber, members: [SWIM.Member], now: SWIM.Millis
    ) -> [SWIM.Directive] {
        let now = advance(to: now)
        guard sender != myself.id, !hasLeft else { return [] }
        let firstReply = !isJoined
        isJoined = true
        joinSeeds = []
        let directives = apply(members, now: now)
        if firstReply { gossip.enqueue(myself) }
        return directives
    }

    /// MUST be invoked when this node leaves the cluster for good. Marks itself left, tells
    /// up to `leaveFanout` live members (chosen at random, alive ones first), who
    /// disseminate it, and stops probing. Afterwards the instance answers pings with its
    /// `left` record and ignores everything else; the shell may stop it at once or linger a
    /// few periods to help the news spread.
    public mutating func leave(now: SWIM.Millis) -> [SWIM.Directive] {
        _ = advance(to: now)
        guard !hasLeft else { return [] }
        myself.status = .left
        probe = nil
        relays = [:]
        joinSeeds = []
        var recipients = random.sample(ids(where: { $0 == .alive }), count: settings.leaveFanout)
        if recipients.count < settings.leaveFanout {
            recipients += random.sample(ids(where: { $0 == .suspect }), count: settings.leaveFanout - recipients.count)
        }
        return recipients.compactMap { id in
            guard let address = table[id]?.member.addresses.peer else { return nil }
            return .send(message(takeSequence(), .leave(myself)), to: address)
        }
    }

    /// This node's resource alarms are now `alarms`: its record says so at a higher
    /// incarnation, disseminated like a refutation, so that every member learns of them.
    /// A node that has left, or is at the last incarnation, changes nothing.
    public mutating func setAlarms(_ alarms: SWIM.Alarms, now: SWIM.Millis) -> [SWIM.Directive] {
        _ = advance(to: now)
        guard !hasLeft, alarms != myself.alarms, myself.incarnation < SWIM.incarnationMax else { return [] }
        myself.alarms = alarms
        myself.incarnation += 1
        gossip.enqueue(myself)
        return []
    }

    /// MUST be invoked when a leave announcement arrives: the sender is marked left (final
    /// for its life, and never reported dead) and the news disseminated.
    public mutating func onLeave(from sender: SWIM.NodeID, member: SWIM.Member, now: SWIM.Millis) -> [SWIM.Directive] {
        let now = advance(to: now)
        guard sender != myself.id, !hasLeft, member.id == sender, member.status == .left else { return [] }
        return apply([member], now: now)
    }

    // MARK: Applying records

    /// Counts periods rather than milliseconds, so a tick that fires a little early or late
    /// never skips or doubles a request.
    mutating func retryJoin() -> [SWIM.Directive] {
        guard !isJoined, !joinSeeds.isEmpty else { return [] }
        guard joinTicksToSkip == 0 else {
            joinTicksToSkip -= 1
            return []
        }
        let seed = joinSeeds[joinAttempts % joinSeeds.count]
        joinAttempts += 1
        if joinAttempts % joinSeeds.count == 0 {
            let periodsMax = max(1, Int(settings.joinRetryIntervalMaxMs / settings.probeIntervalMs))
            joinRoundWaitPeriods = min(joinRoundWaitPeriods * 2, periodsMax)
            joinTicksToSkip = joinRoundWaitPeriods - 1
        }
        return [.send(message(takeSequence(), .join(myself)), to: seed)]
    }

    /// Applies records heard from others, in order, and returns the membership events.
    mutating func apply(_ records: [SWIM.Member], now: SWIM.Millis) -> [SWIM.Directive] {
        records.flatMap { apply($0, now: now) }
    }

    /// One record, by the rule of `Member.supersedes`. What changes the table is queued to
    /// be disseminated further.
    mutating func apply(_ record: SWIM.Member, now: SWIM.Millis) -> [SWIM.Directive] {
        // Decoded messages never carry these; records built by hand might.
        guard record.id != 0, record.incarnation <= SWIM.incarnationMax, record.addresses.peer.isEncodable,
            record.addresses.amqp.isEncodable, record.addresses.http.isEncodable
        else { return [] }
        if record.id == myself.id {
            refute(record)
            return []
        }
        guard let current = table[record.id] else { return insert(record, now: now) }
        guard record.supersedes(current.member) else {
            // Stale news: whoever sent it missed the newer record, which has maybe stopped
            // spreading. Spread it afresh: it goes first in the next message, which for a
            // ping is the ack to that very sender.
            if current.member.supersedes(record) { gossip.enqueue(current.member) }
            return []
        }
        let previous = current.member.status
        changes += 1
        table[record.id] = MemberState(member: record, suspectSince: record.status == .suspect ? now : nil, changed: changes)
        gossip.enqueue(record)
        if record.status.isLive, !previous.isLive { schedule.insert(record.id, random: &random) }
        if let event = Self.event(from: previous, to: record) { return [.event(event)] }
        return record.alarms != current.member.alarms && record.status.isLive ? [.event(.alarmsChanged(record))] : []
    }

    private mutating func insert(_ record: SWIM.Member, now: SWIM.Millis) -> [SWIM.Directive] {
        guard makeRoom() else {
            counters.membersRejected += 1
            return []
        }
        changes += 1
        table[record.id] = MemberState(member: record, suspectSince: record.status == .suspect ? now : nil, changed: changes)
        gossip.enqueue(record)
        guard record.status.isLive else { return [] }
        schedule.insert(record.id, random: &random)
        return [.event(.joined(record))]
    }

    /// Whether the table has room for one more member, evicting the tombstone that changed
    /// longest ago if it is full.
    private mutating func makeRoom() -> Bool {
        if table.count < settings.membersMax - 1 { return true }
        let oldest = table.values.filter { !$0.member.status.isLive }.min { $0.changed < $1.changed }
        guard let oldest else { return false }
        table[oldest.member.id] = nil
        gossip.remove(oldest.member.id)
        schedule.remove(oldest.member.id)
        return true
    }

    /// A record about this node that is not "alive at my incarnation" is refuted: the
    /// incarnation rises past it (if it is not already past it) and the alive record is
    /// disseminated afresh (SWIM §4.2). A node that has left refutes nothing.
    private mutating func refute(_ record: SWIM.Member) {
        guard !hasLeft else { return }
        if record == myself { return }
        if record.incarnation >= myself.incarnation {
            // At incarnationMax nothing can be raised; the record stands.
            guard record.incarnation < SWIM.incarnationMax else { return }
            myself.incarnation = record.incarnation + 1
            counters.refutations += 1
        }
        gossip.enqueue(myself)
    }

    /// The event a change of status reports, if any.
    static func event(from previous: SWIM.Status, to record: SWIM.Member) -> SWIM.MembershipEvent? {
        switch (previous, record.status) {
        case (.alive, .alive), (.suspect, .suspect), (.dead, .dead), (.left, .left):
            return nil
        case (.alive, .suspect):
            return .suspected(record)
        case (.suspect, .alive):
            return .aliveAgain(record)
        case (.alive, .dead), (.suspect, .dead):
            return .confirmedDead(record)
        case (.alive, .left), (.suspect, .left), (.dead, .left):
            return .left(record)
        case (.dead, .alive), (.dead, .suspect), (.left, .alive), (.left, .suspect):
            return .joined(record)
        case (.left, .dead):
            // A later life that we never saw alive has ended: nothing to report.
            return nil
        }
    }
}
