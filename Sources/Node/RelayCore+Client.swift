import AMQP

extension RelayCore {
    /// MUST be invoked with every frame of the client on a channel other than 0. Throws what
    /// the client's connection or channel is refused for; nothing is asked of the shell then.
    mutating func onClientFrame(_ frame: Frame) throws(Refusal) -> [Directive] {
        defer { output = [] }
        try clientFrame(frame)
        return output
    }

    private mutating func clientFrame(_ frame: Frame) throws(Refusal) {
        let number = frame.channel
        switch frame {
        case .method(_, let method):
            if channels[number] == nil {
                if case .channel(.closeOk) = method, crossedCloses.remove(number) != nil { return }
                guard case .channel(.open) = method else {
                    throw Refusal(code: .channelError, text: "CHANNEL_ERROR - expected 'channel.open'", method: nil, closesConnection: true)
                }
                crossedCloses.remove(number)
                channels[number] = RelayedChannel()
            }
            channels[number]?.droppingOversizedBody = false
            guard var channel = channels[number] else { return }
            if channel.incoming != nil, channel.closing == nil {
                throw Refusal(AMQPError.unexpectedFrame(.methodDuringContent(method.id), channel: number))
            }
            switch channel.closing {
            case .locally?, .byServer?:
                // Only the close-ok the client owes matters now, or its own close, crossing ours.
                let forward = channel.closing == .byServer && channel.openedUpstream
                switch method {
                case .channel(.closeOk):
                    channels[number] = nil
                    if forward { relay([frame]) }
                case .channel(.close):
                    // As the leader answers a crossed close: close-ok, and the close-ok the
                    // client may still send for ours is not an error. The leader gets the
                    // close-ok it is owed.
                    channels[number] = nil
                    crossedCloses.insert(number)
                    if forward { relay([.method(channel: number, .channel(.closeOk))]) }
                    sendToClient(.method(channel: number, .channel(.closeOk)), flush: true)
                default:
                    break
                }
                return
            case .byClient?, nil:
                break
            }
            switch method {
            case .basic(.publish):
                channel.incoming = GatheredContent(method: frame)
                channels[number] = channel
            case _ where method.contentMethod != nil:
                // As the leader answers it: only publish carries content from a client.
                throw Refusal.commandInvalid("\(method.name) from a client", method: method.id)
            case .channel(.close):
                channel.closing = .byClient
                channels[number] = channel
                if channel.openedUpstream || channel.awaiting != nil || isWaitingFor(channel: number) {
                    relay([frame])
                } else {
                    // Never reached a leader: nothing to close there.
                    channels[number] = nil
                    sendToClient(.method(channel: number, .channel(.closeOk)), flush: true)
                }
            default:
                relay([frame])
            }
        case .header, .body:
            // After a channel.close, sent or received, the channel's content is dropped
            // unread, as the leader drops it.
            if let closing = channels[number]?.closing, closing != .byClient { return }
            // The leader refused the message from its header and drops its body unread.
            if case .body = frame, channels[number]?.droppingOversizedBody == true { return }
            guard var channel = channels[number] else {
                throw Refusal(code: .channelError, text: "CHANNEL_ERROR - expected 'channel.open'", method: nil, closesConnection: true)
            }
            guard var content = channel.incoming else {
                let misplaced: AMQPError.UnexpectedFrame = if case .header = frame { .contentHeaderWithoutMethod } else { .contentBodyWithoutHeader }
                throw Refusal(AMQPError.unexpectedFrame(misplaced, channel: number))
            }
            do { try content.add(frame) } catch { throw Refusal(error) }
            channel.incoming = content
            channels[number] = channel
            if case .header(_, let header) = frame, header.bodySize > settings.messageSizeMax {
                // Over the size limit: the leader refuses it from its header (closing the
                // channel, as RabbitMQ), and its body is not held here meanwhile.
                channels[number]?.incoming = nil
                channels[number]?.droppingOversizedBody = true
                relay(content.frames)
                return
            }
            if content.isComplete { completeIncoming(number) }
        case .heartbeat:
            break
        }
    }

    private mutating func completeIncoming(_ number: UInt16) {
        guard var channel = channels[number], let content = channel.incoming else { return }
        channel.incoming = nil
        if channel.confirmModeForClient { channel.publishesFromClient += 1 }
        channels[number] = channel
        relay(content.frames)
    }

    /// Whether a frame sent by the client for this channel still waits for a leader.
    private func isWaitingFor(channel number: UInt16) -> Bool {
        pending.contains { $0.first?.channel == number }
    }

    /// Sends a unit now, or queues it behind the ones waiting for a leader.
    private mutating func relay(_ unit: Unit) {
        if case .method(_, .confirm(.select)) = unit.first, let number = unit.first?.channel {
            channels[number]?.confirmModeForClient = true
        }
        if case .open = state, pending.isEmpty {
            let frames = framesForLeader(unit)
            if !frames.isEmpty { output.append(.writeToSession(frames)) }
            return
        }
        pending.append(unit)
        pendingBytes += unit.reduce(0) { $0 + $1.approximateBytes }
        if pendingBytes > settings.pendingBytesMax { pauseClientReading(true) }
    }

    /// What to write to the session for a unit, keeping the record that a new session is
    /// restored from: the unit in the session's numbering, or nothing for an ack of a
    /// delivery of an earlier session.
    mutating func framesForLeader(_ unit: Unit) -> Unit {
        guard let first = unit.first else { return [] }
        let number = first.channel
        if case .method(_, let method) = first, var channel = channels[number] {
            switch method {
            case .channel(.open):
                channel.awaiting = method
            case .basic(.publish):
                if channel.confirmSelected { channel.publishesSent += 1 }
                if channel.transactional { channel.transactionHasWork = true }
            case .basic(.ack(let ack)):
                guard let tag = channel.leaderTag(ack.deliveryTag, multiple: ack.multiple) else { return [] }
                if channel.transactional { channel.transactionHasWork = true }
                channels[number] = channel
                return [.method(channel: number, .basic(.ack(.init(deliveryTag: tag, multiple: ack.multiple))))]
            case .basic(.nack(let nack)):
                guard let tag = channel.leaderTag(nack.deliveryTag, multiple: nack.multiple) else { return [] }
                if channel.transactional { channel.transactionHasWork = true }
                channels[number] = channel
                return [.method(channel: number, .basic(.nack(.init(deliveryTag: tag, multiple: nack.multiple, requeue: nack.requeue))))]
            case .basic(.reject(let reject)):
                guard let tag = channel.leaderTag(reject.deliveryTag, multiple: false) else { return [] }
                if channel.transactional { channel.transactionHasWork = true }
                channels[number] = channel
                return [.method(channel: number, .basic(.reject(.init(deliveryTag: tag, requeue: reject.requeue))))]
            case .basic(.qos(let qos)):
                channel.qos[qos.global] = qos
                channel.awaiting = method
            case .confirm(.select(let select)):
                channel.confirmSelected = true
                if !select.noWait { channel.awaiting = method }
            case .basic(.consume(let consume)):
                if consume.noWait { channel.consumers[consume.consumerTag] = consume } else { channel.awaiting = method }
            case .basic(.cancel(let cancel)):
                channel.consumers[cancel.consumerTag] = nil
                if !cancel.noWait { channel.awaiting = method }
            default:
                if method.awaitsReply { channel.awaiting = method }
            }
            channels[number] = channel
        }
        return unit
    }
}
