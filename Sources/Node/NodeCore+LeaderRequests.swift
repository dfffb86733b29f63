import Broker
import NIOCore
import PeerWire
import Raft

/// Changes asked of the cluster through a node's HTTP API. Only the leader proposes: a
/// follower that took the request (and authenticated its user, from the replicated users)
/// sends the command to the leader over its authenticated peer link and answers with the
/// leader's outcome. Neither the user's credentials nor what the change carries (a password
/// hash) cross the network outside the link's TLS.
extension NodeCore {
    /// What became of a change.
    enum ChangeOutcome: Sendable {
        case done
        case refused(BrokerError)
        /// No leader took it: none is known, it is out of reach, or it did not answer in time.
        case unavailable(String)
    }

    /// A change sent to the leader, awaiting its outcome.
    struct ForwardedChange {
        let leader: NodeID
        let timeout: Scheduled<Void>
        let completion: (ChangeOutcome) -> Void
    }

    /// How long a follower waits for the leader's outcome of a change it passed on.
    static let forwardedChangeTimeout = TimeAmount.seconds(10)

    /// Makes `command` on the leader: proposed here if this node leads, passed to the
    /// leader if not. `completion` runs on the loop once the outcome is known.
    func change(_ command: BrokerCommand, completion: @escaping (ChangeOutcome) -> Void) {
        guard !isLeading else {
            execute(command) { result in
                switch result {
                case .success: completion(.done)
                case .failure(let error): completion(.refused(error))
                }
            }
            return
        }
        guard !stopped, let leader, leader != group.core.id, let transport else {
            return completion(.unavailable("no leader is known to take the change; try again"))
        }
        nextForwardedChange += 1
        let request = nextForwardedChange
        guard transport.send(.proposal(group: Self.groupID, request: request, command: command.encoded()), to: leader) else {
            return completion(.unavailable("node \(leader) leads, but this node has no link to it now; try again"))
        }
        let bound = NIOLoopBound(self, eventLoop: loop)
        let timeout = loop.scheduleTask(in: Self.forwardedChangeTimeout) {
            guard let unanswered = bound.value.forwardedChanges.removeValue(forKey: request) else { return }
            unanswered.completion(.unavailable("node \(leader), the leader, did not answer in time; the change may have been made"))
        }
        forwardedChanges[request] = ForwardedChange(leader: leader, timeout: timeout, completion: completion)
    }

    /// A peer's request or answer on its own authenticated link.
    func requestArrived(_ frame: PeerFrame, from peer: NodeID) {
        guard !stopped else { return }
        switch frame {
        case .leave(let requested):
            leaveRequested(by: peer, group: requested)
        case .proposal(let requested, let request, let bytes):
            changeAsked(by: peer, group: requested, request: request, command: bytes)
        case .outcome(let request, let outcome):
            changeAnswered(request, outcome, by: peer)
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
        execute(command) { result in
            let outcome: ProposalOutcome =
                switch result {
                case .success: .applied
                case .failure(let error): .refused(code: error.code.rawValue, text: error.message)
                }
            bound.value.transport?.send(.outcome(request: request, outcome), to: peer)
        }
    }

    /// On the follower: the leader's outcome of a change passed on.
    private func changeAnswered(_ request: UInt64, _ outcome: ProposalOutcome, by peer: NodeID) {
        guard let forwarded = forwardedChanges[request], forwarded.leader == peer else { return }
        forwardedChanges[request] = nil
        forwarded.timeout.cancel()
        switch outcome {
        case .applied:
            forwarded.completion(.done)
        case .refused(let code, let text):
            forwarded.completion(.refused(BrokerError(ReplyCode(rawValue: code) ?? .internalError, text)))
        case .notLeading:
            forwarded.completion(.unavailable("node \(peer) no longer leads; try again"))
        }
    }

    /// At `stop()`: nothing more will answer.
    func abandonForwardedChanges() {
        let abandoned = forwardedChanges
        forwardedChanges = [:]
        for change in abandoned.values {
            change.timeout.cancel()
            change.completion(.unavailable("this node is shutting down"))
        }
    }
}
