import AMQP

/// A channel's methods take effect in the order the client sent them, as on RabbitMQ: a
/// `basic.get` after a `basic.publish` sees the message, a purge or a delete counts it, a
/// publish after a `queue.bind` is routed by it. Publishes are stored and metadata commands
/// decided through Raft, so their effect comes a commit later; a method that could observe
/// them is held until they are applied, and every later method of the channel behind it;
/// so is one after a requeue (a nack, a reject, a recover), which a get must see, and a get
/// while any channel's requeue is not yet applied.
/// Publishes after publishes, and acknowledgements, go on at once: their order in the log
/// is their order on the channel.
extension ChannelSession {
    /// Whether `method` must wait for what the channel sent before it to be applied.
    func mustWait(_ method: AssembledMethod) -> Bool {
        switch method {
        case .content:
            return commandsUnanswered > 0
        case .method(.basic(.ack)), .method(.basic(.nack)), .method(.basic(.reject)):
            return false
        case .method:
            return commandsUnanswered > 0 || publishesUnanswered > 0
        }
    }

    /// The first held method, when it need wait no longer.
    var releasable: AssembledMethod? {
        guard !closing, let next = held.first, !mustWait(next) else { return nil }
        return next
    }
}

extension AMQPConnectionHandler {
    /// Handles a channel's method now, or holds it behind what it must wait for.
    func order(_ channel: UInt16, _ assembled: AssembledMethod) throws {
        if case .method(.basic(.get)) = assembled, channels[channel]?.held.isEmpty == true, core.requeuesInFlight {
            // Another channel's requeue, sent before this get, is seen by it.
            awaitProposals(channel)
        }
        guard let mustHold = channels[channel].map({ !$0.held.isEmpty || $0.mustWait(assembled) }) else { return }
        if mustHold {
            channels[channel]!.held.append(assembled)
            heldMethods += 1
            updateHeldBackPressure()
            return
        }
        try run(channel, assembled)
    }

    /// A publish of the channel was answered by the core (stored, refused or returned).
    func publishAnswered(_ channel: UInt16) {
        guard channels[channel] != nil else { return }
        channels[channel]!.publishesUnanswered = max(0, channels[channel]!.publishesUnanswered - 1)
        releaseHeld(channel)
    }

    /// A metadata command of the channel was applied, or refused.
    func commandAnswered(_ channel: UInt16) {
        guard channels[channel] != nil else { return }
        channels[channel]!.commandsUnanswered = max(0, channels[channel]!.commandsUnanswered - 1)
        releaseHeld(channel)
    }

    /// A closed channel's held methods go with it.
    func dropHeld(_ channel: UInt16) {
        guard let count = channels[channel]?.held.count, count > 0 else { return }
        channels[channel]?.held.removeAll()
        heldMethods -= count
        updateHeldBackPressure()
    }

    /// Handles the held methods that need wait no longer, in order.
    private func releaseHeld(_ channel: UInt16) {
        // A method released here may be answered at once (a refused command): the loop
        // below goes on with it rather than a nested one.
        guard !releasingHeld else { return }
        releasingHeld = true
        defer { releasingHeld = false }
        var released = false
        while phase == .open, let next = channels[channel]?.releasable {
            channels[channel]!.held.removeFirst()
            heldMethods -= 1
            released = true
            do {
                try run(channel, next)
            } catch let refusal as Refusal {
                failConnection(refusal)
            } catch {
                failConnection(Refusal(code: .internalError, text: "INTERNAL_ERROR - \(error)", method: nil, closesConnection: true))
            }
        }
        guard released else { return }
        updateHeldBackPressure()
        scheduleFlush()
    }

    /// Runs one method; a refusal that closes only the channel closes it here.
    private func run(_ channel: UInt16, _ assembled: AssembledMethod) throws {
        do {
            try handleChannel(channel, assembled)
        } catch let refusal as Refusal {
            guard !refusal.closesConnection else { throw refusal }
            closeChannel(channel, refusal)
        }
    }

    /// Past `heldMethodsMax` held methods the socket is no longer read, until half of them
    /// have gone.
    private func updateHeldBackPressure() {
        if !pausedForHeldMethods, heldMethods >= settings.heldMethodsMax {
            pausedForHeldMethods = true
            updateReading()
        } else if pausedForHeldMethods, heldMethods <= settings.heldMethodsMax / 2 {
            pausedForHeldMethods = false
            updateReading()
        }
    }
}
