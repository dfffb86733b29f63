// Failure detection (SWIM §3.1, §4.3): one probe per period, round-robin; ping-requests
// through k members when the direct ping times out; suspicion when the period ends without
// an ack; death when the suspicion times out.
extension SWIMInstance {
    /// MUST be invoked every `Settings.probeIntervalMs`, starting any time after init.
    ///
    /// Ends the period that is closing: its target, if no ack came, becomes suspect;
    /// suspects whose suspicion timed out become dead. Then starts the next period: pings
    /// the next member of the round (with a timeout of `probeTimeoutMs`), and while joining,
    /// sends the join request again to the next seed.
    ///
    /// Besides the round, two untracked pings, each carrying the recipient's record first
    /// (the buddy system): one a period to a suspect (round-robin), so that it hears of its
    /// suspicion and its ack clears it here, even if the refutation's dissemination missed
    /// this node; and one every `deadProbeIntervalMs` to a dead member, so that a member
    /// wrongly declared dead (cut off for longer than the suspicion timeout) can come back.
    public mutating func onPeriodicTick(now: SWIM.Millis) -> [SWIM.Directive] {
        let now = advance(to: now)
        guard !hasLeft else { return [] }
        var directives = retryJoin()
        directives += concludeProbe(now: now)
        directives += expireSuspicions(now: now)
        expireRelays(now: now)
        directives += startProbe()
        sideProbes = []
        directives += pingASuspect()
        directives += pingTheDead(now: now)
        return directives
    }

    /// MUST be invoked when a timeout asked for by `Directive.scheduleTimeout` fires.
    ///
    /// For this period's probe still unanswered: sends ping-requests to up to
    /// `indirectProbeCount` alive members other than the target. For a ping sent on someone
    /// else's request: sends them a nack. Anything else (answered, or from an earlier
    /// period) is ignored.
    public mutating func onTimeout(sequence: SWIM.SequenceNumber, now: SWIM.Millis) -> [SWIM.Directive] {
        _ = advance(to: now)
        guard !hasLeft else { return [] }
        if var probe, probe.sequence == sequence {
            guard !probe.acked, !probe.indirect else { return [] }
            probe.indirect = true
            self.probe = probe
            return sendPingRequests(probe)
        }
        if let relay = relays.removeValue(forKey: sequence) {
            let nack = message(relay.originSequence, .nack(target: relay.target, updates: piggyback(for: relay.origin)))
            return [.send(nack, to: relay.originAddress)]
        }
        return []
    }

    /// MUST be invoked when a ping arrives. Applies its updates and answers with an ack
    /// carrying this node's incarnation (raised first, if an update suspected it).
    /// Once left, answers with its `left` record so the news keeps spreading.
    public mutating func onPing(
        from sender: SWIM.NodeID, source: SWIM.HostPort, sequence: SWIM.SequenceNumber,
        updates: [SWIM.Member], now: SWIM.Millis
    ) -> [SWIM.Directive] {
        let now = advance(to: now)
        guard sender != myself.id else { return [] }
        if hasLeft {
            let ack = message(sequence, .ack(target: myself.id, incarnation: myself.incarnation, updates: [myself]))
            return [.send(ack, to: source)]
        }
        var directives = apply(updates, now: now)
        let ack = message(sequence, .ack(target: myself.id, incarnation: myself.incarnation, updates: piggyback(for: sender)))
        directives.append(.send(ack, to: source))
        return directives
    }

    /// MUST be invoked when a ping-request arrives. Applies its updates, then pings the
    /// target on the sender's behalf (with a timeout of `probeTimeoutMs`); the target's ack
    /// is relayed, its silence answered with a nack. With `membersMax` relays in flight it
    /// answers with a nack at once.
    public mutating func onPingRequest(
        from sender: SWIM.NodeID, source: SWIM.HostPort, sequence: SWIM.SequenceNumber,
        target: SWIM.NodeID, targetAddress: SWIM.HostPort, updates: [SWIM.Member], now: SWIM.Millis
    ) -> [SWIM.Directive] {
        let now = advance(to: now)
        guard sender != myself.id, !hasLeft else { return [] }
        var directives = apply(updates, now: now)
        if target == myself.id {
            let ack = message(sequence, .ack(target: myself.id, incarnation: myself.incarnation, updates: piggyback(for: sender)))
            directives.append(.send(ack, to: source))
            return directives
        }
        guard relays.count < settings.membersMax else {
            counters.relaysRefused += 1
            directives.append(.send(message(sequence, .nack(target: target, updates: piggyback(for: sender))), to: source))
            return directives
        }
        let relaySequence = takeSequence()
        relays[relaySequence] = Relay(origin: sender, originAddress: source, originSequence: sequence, target: target, sentAt: now)
        directives.append(.send(message(relaySequence, .ping(updates: piggyback(for: target))), to: targetAddress))
        directives.append(.scheduleTimeout(sequence: relaySequence, delayMs: settings.probeTimeoutMs))
        return directives
    }

    /// MUST be invoked when an ack arrives. Applies its updates. An ack for this period's
    /// probe (direct, or relayed by an intermediary) ends the probe: the target is alive at
    /// the ack's incarnation. An ack for a ping sent on someone's request is relayed to them.
    public mutating func onAck(
        from sender: SWIM.NodeID, sequence: SWIM.SequenceNumber, target: SWIM.NodeID,
        incarnation: SWIM.Incarnation, updates: [SWIM.Member], now: SWIM.Millis
    ) -> [SWIM.Directive] {
        let now = advance(to: now)
        guard sender != myself.id, !hasLeft else { return [] }
        var directives = apply(updates, now: now)
        if var probe, probe.sequence == sequence, probe.target == target {
            probe.acked = true
            self.probe = probe
            directives += confirmAlive(target, incarnation: incarnation, now: now)
        } else if sideProbes.contains(where: { $0.sequence == sequence && $0.target == target }) {
            directives += confirmAlive(target, incarnation: incarnation, now: now)
        } else if let relay = relays[sequence], relay.target == target {
            relays[sequence] = nil
            directives += confirmAlive(target, incarnation: incarnation, now: now)
            let ack = message(relay.originSequence, .ack(target: target, incarnation: incarnation, updates: piggyback(for: relay.origin)))
            directives.append(.send(ack, to: relay.originAddress))
        }
        return directives
    }

    /// MUST be invoked when a nack arrives. Applies its updates and counts it: the
    /// intermediary is reachable even if the target is not. Changes no one's status.
    public mutating func onNack(
        from sender: SWIM.NodeID, sequence: SWIM.SequenceNumber, target: SWIM.NodeID,
        updates: [SWIM.Member], now: SWIM.Millis
    ) -> [SWIM.Directive] {
        let now = advance(to: now)
        guard sender != myself.id, !hasLeft else { return [] }
        if let probe, probe.sequence == sequence, probe.target == target {
            counters.nacksReceived += 1
        }
        return apply(updates, now: now)
    }

    // MARK: Steps

    private mutating func concludeProbe(now: SWIM.Millis) -> [SWIM.Directive] {
        guard let probe else { return [] }
        self.probe = nil
        guard !probe.acked else { return [] }
        counters.probesFailed += 1
        guard let held = table[probe.target]?.member, held.status == .alive else { return [] }
        return apply(held.with(status: .suspect), now: now)
    }

    private mutating func expireSuspicions(now: SWIM.Millis) -> [SWIM.Directive] {
        let timeout = settings.suspicionTimeoutMs
        let expired = table.values.filter { state in
            guard state.member.status == .suspect, let since = state.suspectSince else { return false }
            return now - since >= timeout
        }.map(\.member).sorted { $0.id < $1.id }
        return expired.flatMap { apply($0.with(status: .dead), now: now) }
    }

    /// Drops relays whose timeout the shell never delivered, so they cannot pile up.
    private mutating func expireRelays(now: SWIM.Millis) {
        let period = settings.probeIntervalMs
        relays = relays.filter { now - $0.value.sentAt < period }
    }

    private mutating func startProbe() -> [SWIM.Directive] {
        let table = self.table
        let live = ids(where: \.isLive)
        guard let target = schedule.next(
            live: { live }, isLive: { table[$0]?.member.status.isLive == true }, random: &random
        ), let address = table[target]?.member.addresses.peer else { return [] }
        let sequence = takeSequence()
        probe = Probe(target: target, sequence: sequence)
        counters.probesStarted += 1
        return [
            .send(message(sequence, .ping(updates: piggyback(for: target))), to: address),
            .scheduleTimeout(sequence: sequence, delayMs: settings.probeTimeoutMs),
        ]
    }

    /// One untracked ping to the suspect after the one pinged last (by id, wrapping), unless
    /// it is this period's probe target already.
    private mutating func pingASuspect() -> [SWIM.Directive] {
        let suspects = ids(where: { $0 == .suspect }).filter { $0 != probe?.target }
        guard let target = suspects.first(where: { $0 > lastSuspectPinged }) ?? suspects.first else { return [] }
        lastSuspectPinged = target
        counters.suspectProbes += 1
        return sidePing(target)
    }

    /// One untracked ping to the dead member after the one pinged last (by id, wrapping),
    /// at most every `deadProbeIntervalMs`.
    private mutating func pingTheDead(now: SWIM.Millis) -> [SWIM.Directive] {
        if let lastDeadProbeAt, now - lastDeadProbeAt < settings.deadProbeIntervalMs { return [] }
        let dead = ids(where: { $0 == .dead })
        guard let target = dead.first(where: { $0 > lastDeadPinged }) ?? dead.first else { return [] }
        lastDeadPinged = target
        lastDeadProbeAt = now
        counters.deadProbes += 1
        return sidePing(target)
    }

    private mutating func sidePing(_ target: SWIM.NodeID) -> [SWIM.Directive] {
        guard let address = table[target]?.member.addresses.peer else { return [] }
        let sequence = takeSequence()
        sideProbes.append(Probe(target: target, sequence: sequence))
        return [.send(message(sequence, .ping(updates: piggyback(for: target))), to: address)]
    }

    private mutating func sendPingRequests(_ probe: Probe) -> [SWIM.Directive] {
        guard let target = table[probe.target]?.member else { return [] }
        let candidates = ids(where: { $0 == .alive }).filter { $0 != probe.target }
        let intermediaries = random.sample(candidates, count: settings.indirectProbeCount)
        guard !intermediaries.isEmpty else { return [] }
        counters.indirectProbes += 1
        return intermediaries.compactMap { id in
            guard let address = table[id]?.member.addresses.peer else { return nil }
            let request = message(probe.sequence, .pingRequest(
                target: target.id, targetAddress: target.addresses.peer, updates: piggyback(for: id)))
            return .send(request, to: address)
        }
    }

    /// The target answered at `incarnation`: an alive record at that incarnation, which
    /// clears a suspicion only if the target refuted it (a higher incarnation).
    private mutating func confirmAlive(_ id: SWIM.NodeID, incarnation: SWIM.Incarnation, now: SWIM.Millis) -> [SWIM.Directive] {
        guard let held = table[id]?.member else { return [] }
        return apply(held.with(status: .alive, incarnation: incarnation), now: now)
    }
}
