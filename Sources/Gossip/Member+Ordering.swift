extension SWIM.Status {
    /// Precedence between records of the same incarnation: alive < suspect < dead < left.
    var rank: Int {
        switch self {
        case .alive: return 0
        case .suspect: return 1
        case .dead: return 2
        case .left: return 3
        }
    }
}

extension SWIM.Member {
    /// Whether this record, heard about a node, replaces `current`, the record held for it.
    ///
    /// One rule: compare `(incarnation, rank)` and take the greater, where the rank of the
    /// status is alive < suspect < dead < left. Spelled out, as in the paper:
    /// - alive(i) overrides suspect(j) and alive(j) iff i > j;
    /// - suspect(i) overrides alive(j) iff i >= j, and suspect(j) iff i > j;
    /// - dead(i) overrides alive(j) and suspect(j) iff i >= j;
    /// - left(i) overrides alive(j), suspect(j) and dead(j) iff i >= j: left is final for
    ///   its life, and dead never replaces it.
    /// - Only a strictly higher incarnation replaces a tombstone (dead or left): a new life,
    ///   which only the node itself can start, since only it raises its incarnation.
    ///
    /// Deviation from the paper's "confirm overrides everything": a death at an incarnation
    /// below the one held does not apply. The only way a record reaches a higher incarnation
    /// is the node refuting, so such a death is stale news about a node known to be alive.
    public func supersedes(_ current: SWIM.Member) -> Bool {
        precondition(id == current.id, "comparing records of two nodes: \(self) and \(current)")
        if incarnation != current.incarnation { return incarnation > current.incarnation }
        return status.rank > current.status.rank
    }
}
