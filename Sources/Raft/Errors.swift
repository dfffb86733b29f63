/// Why a proposal was refused. A refused proposal is not in the log; the caller decides
/// whether to retry (possibly elsewhere).
public enum ProposalError: Error, Equatable, Sendable {
    /// Only the leader takes proposals; `leader` is who this node believes leads, if anyone.
    case notLeader(leader: NodeID?)
    /// The leader is handing over leadership and takes no proposals until it is done.
    case leadershipTransferInProgress
    case emptyProposal
    case tooManyEntries(count: Int, max: Int)
    case entryTooLarge(bytes: Int, max: Int)
    /// Proposed but uncommitted bytes would pass `Config.uncommittedBytesMax`.
    case uncommittedBytesExceeded(pending: Int, proposed: Int, max: Int)
    /// A membership change is proposed but not yet applied (at `index`).
    case membershipChangePending(index: LogIndex)
    case invalidMembershipChange(String)
    /// A learner is promoted only once it holds everything committed.
    case learnerNotCaughtUp(match: LogIndex, commit: LogIndex)
}

public enum ReadError: Error, Equatable, Sendable {
    case noLeader
    case tooManyPendingReads(max: Int)
}

public enum TransferError: Error, Equatable, Sendable {
    case notLeader(leader: NodeID?)
    case notAVoter(NodeID)
}
