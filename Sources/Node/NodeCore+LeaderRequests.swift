import Broker
import FoundationEssentials
import NIOCore
import PeerWire
import Raft
import StatusAPI

/// What a node's HTTP API asks of the leader. Only the leader proposes, and only its
/// dispatcher knows what is out at consumers: a follower that took the request (and
/// authenticated its user, from the replicated users) asks the leader over their
/// authenticated peer link and answers with what the leader said. Neither the user's
/// credentials nor what a change carries (a password hash) cross the network outside the
/// link's TLS.
extension NodeCore {
    /// What became of a change.
    enum ChangeOutcome: Sendable {
        case done
        case refused(BrokerError)
        /// No leader took it: none is known, it is out of reach, or it did not answer in time.
        case unavailable(String)
    }

    /// A leader's (or member's) answer to what this node asked of it.
    enum PeerAnswer {
        case outcome(ProposalOutcome)
        case counts(LeaderCounts?)
        case connections([UInt8]?)
        case connectionClosed(found: Bool)
    }

    /// A request sent to the leader (or to the member that holds a client's connection),
    /// awaiting its answer.
    struct AskedOfPeer {
        let peer: NodeID
        let timeout: Scheduled<Void>
        /// nil: no answer came (in time, or before this node stopped).
        let answered: (PeerAnswer?) -> Void
    }

    /// How long a follower waits for the leader's outcome of a change it passed on (a
    /// change waits for its entry to commit).
    static let changeOutcomeTimeout = TimeAmount.seconds(10)
    /// How long a follower waits for the leader's counts: a status read answers within a
    /// client's usual timeout, without the counts if the leader is out of reach.
    static let countsAnswerTimeout = TimeAmount.seconds(1)

    /// Makes `command` on the leader: proposed here if this node leads, passed to the
    /// leader if not. `completion` runs on the loop once the outcome is known.
    func change(_ command: BrokerCommand, completion: @escaping (ChangeOutcome) -> Void) {
        guard !isLeading else {
            execute(withLeaderFacts(command)) { result in
                switch result {
                case .success: completion(.done)
                case .failure(let error): completion(.refused(error))
                }
            }
            return
        }
        let bound = NIOLoopBound(self, eventLoop: loop)
        ask({ .proposal(group: Self.groupID, request: $0, command: command.encoded()) }, timeout: Self.changeOutcomeTimeout) { answer, leader in
            switch answer {
            case .outcome(.applied(let index))?:
                // Read-your-writes through this node: answer once this replica has it too
                // (bounded: a replica cut off answers after the wait, the change being made).
                bound.value.whenApplied(through: index, waitingAtMost: Self.changeOutcomeTimeout) { completion(.done) }
            case .outcome(.refused(let code, let text))?:
                completion(.refused(BrokerError(ReplyCode(rawValue: code) ?? .internalError, text)))
            case .outcome(.notLeading)?:
                completion(.unavailable("node \(leader.map { "\($0)" } ?? "?") no longer leads; try again"))
            case .counts?, .connections?, .connectionClosed?, nil:
                completion(.unavailable(leader.map { "node \($0), the leader, did not answer in time; the change may have been made" }
                    ?? "no leader is known to take the change; try again"))
            }
        }
    }

    /// What only the leader knows (each queue's ready and unacknowledged messages and
    /// consumers, the cluster's connections and channels): counted here if this node leads,
    /// else asked of the leader; nil if no leader answers.
    func leaderCounts(completion: @escaping (LeaderCounts?) -> Void) {
        guard !isLeading else { return completion(countsHere) }
        ask({ .countsQuery(group: Self.groupID, request: $0) }, timeout: Self.countsAnswerTimeout) { answer, _ in
            guard case .counts(let counts)? = answer else { return completion(nil) }
            completion(counts)
        }
    }

    /// The cluster's client connections, channels and consumers: the leader's own, a
    /// follower's from the leader (nil if it is out of reach or does not answer in time).
    func leaderClientConnections(completion: @escaping (ClientConnections?) -> Void) {
        guard !isLeading else { return completion(clientConnectionsHere) }
        ask({ .connectionsQuery(group: Self.groupID, request: $0) }, timeout: Self.countsAnswerTimeout) { answer, _ in
            guard case .connections(let json?)? = answer else { return completion(nil) }
            completion(try? JSONDecoder().decode(ClientConnections.self, from: Data(json)))
        }
    }

    /// Closes the client connection named `name` (its management API name) on `node`, the
    /// node the client is connected to: here, or there over the peer link. `completion` hears
    /// whether it was found (nil: the node did not answer in time).
    func closeClientConnection(named name: String, on node: NodeID, reason: String, completion: @escaping (Bool?) -> Void) {
        guard node != group.core.id else { return completion(closeClientSocket(named: name, reason: reason)) }
        ask(of: node, { .closeConnection(request: $0, name: name, reason: reason) }, timeout: Self.countsAnswerTimeout) { answer, _ in
            guard case .connectionClosed(let found)? = answer else { return completion(nil) }
            completion(found)
        }
    }

    /// Closes the client socket of that name, if this node has it, with 320 CONNECTION_FORCED
    /// as RabbitMQ closes one through its management API.
    private func closeClientSocket(named name: String, reason: String) -> Bool {
        // Every client socket watches the alarms, whether its channels are served here or relayed.
        guard let client = alarmWatchers.values.first(where: { $0.socketName == name }) else { return false }
        client.closeForced(reason)
        return true
    }

    /// This leader's counts.
    private var countsHere: LeaderCounts {
        let queues = state.allQueueNames.map { name in
            let counts = counts(of: name)
            return QueueCount(vhost: name.vhost, name: name.name, ready: UInt64(counts.messages),
                              unacknowledged: UInt64(messagesOut(of: name).count), consumers: UInt32(counts.consumers), messages: messageStats(of: name))
        }
        return LeaderCounts(connections: UInt32(clientCount), channels: UInt32(channelCount), queues: queues, messages: messageStats)
    }

    /// Sends the leader (or `member`) the frame `request` makes with a fresh request number,
    /// and hands its answer to `answered` with the node asked; nil if there is none to ask
    /// or no answer came.
    private func ask(
        of member: NodeID? = nil, _ request: (UInt64) -> PeerFrame, timeout: TimeAmount, answered: @escaping (PeerAnswer?, NodeID?) -> Void
    ) {
        guard !stopped, let peer = member ?? leader, peer != group.core.id, let transport else { return answered(nil, nil) }
        nextPeerRequest += 1
        let number = nextPeerRequest
        guard transport.send(request(number), to: peer) else { return answered(nil, peer) }
        let bound = NIOLoopBound(self, eventLoop: loop)
        let deadline = loop.scheduleTask(in: timeout) {
            guard let unanswered = bound.value.askedOfPeers.removeValue(forKey: number) else { return }
            unanswered.answered(nil)
        }
        askedOfPeers[number] = AskedOfPeer(peer: peer, timeout: deadline) { answered($0, peer) }
    }

    /// A peer's request or answer on its own authenticated link.
    func requestArrived(_ frame: PeerFrame, from peer: NodeID) {
        guard !stopped else { return }
        switch frame {
        case .leave(let requested):
            leaveRequested(by: peer, group: requested)
        case .proposal(let requested, let request, let bytes):
            changeAsked(by: peer, group: requested, request: request, command: bytes)
        case .countsQuery(let requested, let request):
            transport?.send(.counts(request: request, requested == Self.groupID && isLeading ? countsHere : nil), to: peer)
        case .outcome(let request, let outcome):
            peerAnswered(request, .outcome(outcome), by: peer)
        case .counts(let request, let counts):
            peerAnswered(request, .counts(counts), by: peer)
        case .connectionsQuery(let requested, let request):
            let json = requested == Self.groupID ? clientConnectionsHere.flatMap { try? JSONEncoder().encode($0) }.map(Array.init) : nil
            transport?.send(.connections(request: request, json: json), to: peer)
        case .connections(let request, let json):
            peerAnswered(request, .connections(json), by: peer)
        case .closeConnection(let request, let name, let reason):
            transport?.send(.connectionClosed(request: request, found: closeClientSocket(named: name, reason: reason)), to: peer)
        case .connectionClosed(let request, let found):
            peerAnswered(request, .connectionClosed(found: found), by: peer)
        case .hello, .proof, .raft, .sessionReady:
            break
        }
    }

    /// On the leader: a member passes on a change one of its HTTP clients asked for.
    private func changeAsked(by peer: NodeID, group requested: UInt64, request: UInt64, command bytes: [UInt8]) {
        guard requested == Self.groupID, isLeading else {
            transport?.send(.outcome(request: request, .notLeading), to: peer)
            return
        }
        let command: BrokerCommand
        do {
            command = try BrokerCommand(decoding: bytes, limits: state.limits)
        } catch {
            logger.warning("a member passed on a change that does not decode", metadata: ["member": "\(peer)", "error": "\(error)"])
            transport?.send(.outcome(request: request, .refused(code: ReplyCode.commandInvalid.rawValue, text: "\(error)")), to: peer)
            return
        }
        let bound = NIOLoopBound(self, eventLoop: loop)
        execute(withLeaderFacts(command)) { result in
            let outcome: ProposalOutcome =
                switch result {
                case .success: .applied(index: bound.value.group.core.appliedIndex)
                case .failure(let error): .refused(code: error.code.rawValue, text: error.message)
                }
            bound.value.transport?.send(.outcome(request: request, outcome), to: peer)
        }
    }

    /// A change from the HTTP API with what the leader decides filled in: its clock, and
    /// what its dispatcher has out at consumers (a deletion or purge keeps those messages
    /// settled by their consumers, as one through AMQP does).
    private func withLeaderFacts(_ command: BrokerCommand) -> BrokerCommand {
        switch command {
        case .declareQueue(var declaration):
            declaration.timestamp = now
            return .declareQueue(declaration)
        case .enqueue(var enqueue):
            enqueue.timestamp = now
            return .enqueue(enqueue)
        case .deleteQueue(var deletion):
            let queue = QueueName(vhost: deletion.vhost, deletion.name)
            deletion.inUse = isInUse(queue)
            deletion.outstanding = messagesOut(of: queue)
            return .deleteQueue(deletion)
        case .purge(var purge):
            purge.keeping = messagesOut(of: purge.queue)
            return .purge(purge)
        default:
            return command
        }
    }

    private func peerAnswered(_ request: UInt64, _ answer: PeerAnswer, by peer: NodeID) {
        guard let asked = askedOfPeers[request], asked.peer == peer else { return }
        askedOfPeers[request] = nil
        asked.timeout.cancel()
        asked.answered(answer)
    }

    /// At `stop()`: nothing more will answer.
    func abandonLeaderRequests() {
        let abandoned = askedOfPeers
        askedOfPeers = [:]
        for asked in abandoned.values {
            asked.timeout.cancel()
            asked.answered(nil)
        }
    }
}
