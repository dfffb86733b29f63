import AMQP
import NIOCore
import Raft

extension RelayCore {
    /// MUST be invoked with every frame the session of `generation` reads from the leader.
    mutating func onLeaderFrame(_ frame: Frame, generation: UInt64, now: NIODeadline) -> [Directive] {
        guard generation == self.generation, !closed else { return [] }
        readFromSessionSinceBeat = true
        switch state {
        case .opening(let leader, _):
            handshakeFromLeader(frame, leader: leader, now: now)
        case .open:
            if frame.channel == 0 { connectionFrameFromLeader(frame, now: now) } else { channelFrameFromLeader(frame, now: now) }
        case .down:
            break
        }
        return takeOutput()
    }

    private mutating func channelFrameFromLeader(_ frame: Frame, now: NIODeadline) {
        let number = frame.channel
        guard var channel = channels[number] else { return }
        switch frame {
        case .method(_, let method):
            if method.isReply {
                if channel.repliesToSwallow > 0 {
                    // The answer to a method the relay sent to restore the channel.
                    channel.repliesToSwallow -= 1
                    channels[number] = channel
                    return
                }
                channel.replied(method)
                if case .channel(.closeOk) = method {
                    channels[number] = nil
                    sendToClient(frame, flush: true)
                    return
                }
            }
            switch method {
            case .basic(.deliver(var deliver)):
                deliver.deliveryTag = channel.clientTag(deliver.deliveryTag)
                channel.outgoing = GatheredContent(method: .method(channel: number, .basic(.deliver(deliver))))
                channels[number] = channel
                return
            case .basic(.getOk(var getOk)):
                getOk.deliveryTag = channel.clientTag(getOk.deliveryTag)
                channel.outgoing = GatheredContent(method: .method(channel: number, .basic(.getOk(getOk))))
                channels[number] = channel
                return
            case .basic(.return):
                channel.outgoing = GatheredContent(method: frame)
                channels[number] = channel
                return
            case .basic(.ack(var ack)):
                // A publisher confirm, in the client's numbering.
                ack.deliveryTag += channel.publishOffset
                channels[number] = channel
                sendToClient(.method(channel: number, .basic(.ack(ack))), flush: false)
                return
            case .basic(.nack(var nack)):
                nack.deliveryTag += channel.publishOffset
                channels[number] = channel
                sendToClient(.method(channel: number, .basic(.nack(nack))), flush: false)
                return
            case .basic(.cancel(let cancel)):
                channel.consumers[cancel.consumerTag] = nil
            case .channel(.close):
                channel.closing = .byServer
            default:
                break
            }
            channels[number] = channel
            sendToClient(frame, flush: false)
        case .header, .body:
            // A content frame out of place: the session is in a state the relay cannot
            // explain; start over with a new one.
            guard var content = channel.outgoing, (try? content.add(frame)) != nil else { return sessionLost(now: now) }
            channel.outgoing = content
            channels[number] = channel
            if content.isComplete { completeOutgoing(number) }
        case .heartbeat:
            break
        }
    }

    private mutating func completeOutgoing(_ number: UInt16) {
        guard var channel = channels[number], let content = channel.outgoing else { return }
        channel.outgoing = nil
        channels[number] = channel
        output.append(.sendToClient(content.frames, flush: false))
    }

    private mutating func connectionFrameFromLeader(_ frame: Frame, now: NIODeadline) {
        guard case .method(_, .connection(let method)) = frame else { return }
        switch method {
        case .close(let close):
            output.append(.writeToSession([.method(channel: 0, .connection(.closeOk))]))
            leaderClosed(close, now: now)
        case .closeOk:
            finishUpstreamClose()
        case .blocked, .unblocked:
            sendToClient(frame, flush: true)
        default:
            break
        }
    }

    /// The leader closed the session: 320 means it no longer serves (it stepped down or is
    /// stopping), and another leader takes over; any other code is the client's doing.
    private mutating func leaderClosed(_ close: Method.Connection.Close, now: NIODeadline) {
        if close.replyCode == .connectionForced {
            sessionLost(now: now)
        } else {
            output.append(.closeClient(Refusal(code: close.replyCode, text: close.replyText,
                                               method: MethodID(classID: close.classID, methodID: close.methodID), closesConnection: true)))
        }
    }

    /// The AMQP handshake of the session, as a client.
    private mutating func handshakeFromLeader(_ frame: Frame, leader: NodeID, now: NIODeadline) {
        guard case .method(_, .connection(let method)) = frame else { return }
        switch method {
        case .start:
            let startOk = Method.Connection.StartOk(clientProperties: handshake.properties, mechanism: "EXTERNAL", response: [], locale: "en_US")
            output.append(.writeToSession([.method(channel: 0, .connection(.startOk(startOk)))]))
        case .tune(let tune):
            let tuneOk = Method.Connection.TuneOk(
                channelMax: tune.channelMax == 0 ? handshake.channelMax : min(tune.channelMax, handshake.channelMax),
                frameMax: tune.frameMax == 0 ? handshake.frameSizeMax : min(tune.frameMax, handshake.frameSizeMax),
                heartbeat: settings.sessionHeartbeatSeconds)
            output.append(.writeToSession([.method(channel: 0, .connection(.tuneOk(tuneOk))),
                                           .method(channel: 0, .connection(.open(.init(virtualHost: handshake.vhost))))]))
        case .openOk:
            sessionOpened(leader: leader)
        case .close(let close):
            output.append(.writeToSession([.method(channel: 0, .connection(.closeOk))]))
            leaderClosed(close, now: now)
        default:
            // Unexpected in the handshake: start over with a new session.
            sessionLost(now: now)
        }
    }

    /// Restores every channel, resends what had no reply, then sends what waited.
    private mutating func sessionOpened(leader: NodeID) {
        state = .open(leader: leader, generation: generation)
        waitingSince = nil
        if !clientOpened {
            clientOpened = true
            sendToClient(.method(channel: 0, .connection(.openOk(.init()))), flush: true)
        }
        startSessionHeartbeat()
        var frames: [Frame] = []
        for number in channels.keys.sorted() {
            guard var channel = channels[number], channel.closing == nil, channel.openedUpstream else { continue }
            var restore: [Method] = [.channel(.open(.init()))]
            restore += channel.qos.keys.sorted { !$0 && $1 }.compactMap { channel.qos[$0] }.map { .basic(.qos($0)) }
            if channel.confirmSelected { restore.append(.confirm(.select(.init(noWait: true)))) }
            if channel.transactional { restore.append(.tx(.select)) }
            for tag in channel.consumers.keys.sorted() {
                var consume = channel.consumers[tag]!
                consume.noWait = true
                restore.append(.basic(.consume(consume)))
            }
            channel.repliesToSwallow = restore.filter(\.awaitsReply).count
            channels[number] = channel
            frames += restore.map { .method(channel: number, $0) }
        }
        // A request sent to the old leader without a reply goes again, in channel order.
        for number in channels.keys.sorted() {
            guard let channel = channels[number], channel.closing == nil, let awaiting = channel.awaiting else { continue }
            if case .channel(.open) = awaiting {} else if !channel.openedUpstream { continue }
            frames += framesForLeader([.method(channel: number, awaiting)])
        }
        while let unit = pending.popFirst() { frames += framesForLeader(unit) }
        pendingBytes = 0
        output.append(.writeToSession(frames))
        pauseClientReading(false)
    }
}
