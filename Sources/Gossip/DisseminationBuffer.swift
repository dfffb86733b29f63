/// Membership updates waiting to be piggybacked (SWIM §4.1): at most one per member (a
/// newer record replaces an older one), each sent at most the dissemination limit times,
/// the least-sent and then the most recent first. Bounded by `Settings.membersMax` because
/// it only holds updates about members in the table.
struct DisseminationBuffer: Sendable {
    struct Entry: Sendable {
        var member: SWIM.Member
        var sends: Int
        /// When it was enqueued, in enqueue order: later is more recent.
        var order: UInt64
    }

    private(set) var entries: [SWIM.NodeID: Entry] = [:]
    private var nextOrder: UInt64 = 0

    var count: Int { entries.count }

    /// Queues `member` to be disseminated afresh, replacing any older update about it.
    mutating func enqueue(_ member: SWIM.Member) {
        nextOrder += 1
        entries[member.id] = Entry(member: member, sends: 0, order: nextOrder)
    }

    mutating func remove(_ id: SWIM.NodeID) {
        entries[id] = nil
    }

    func sends(of id: SWIM.NodeID) -> Int? { entries[id]?.sends }

    /// Counts one piggyback of the update about `id`, if there is one, and drops it once it
    /// reached `limit`.
    mutating func noteSent(_ id: SWIM.NodeID, limit: Int) {
        guard var entry = entries[id] else { return }
        entry.sends += 1
        entries[id] = entry.sends >= limit ? nil : entry
    }

    /// Up to `max` updates to piggyback, least-sent first, then most recent; each counts as
    /// sent once. `skipping` is left out (already in the message).
    mutating func take(max: Int, limit: Int, skipping: SWIM.NodeID?) -> [SWIM.Member] {
        guard max > 0, !entries.isEmpty else { return [] }
        // Sorting by (sends, order) is total, so dictionary order never leaks into output.
        let chosen = entries.values
            .filter { $0.member.id != skipping }
            .sorted { ($0.sends, $1.order) < ($1.sends, $0.order) }
            .prefix(max)
            .map(\.member)
        for member in chosen { noteSent(member.id, limit: limit) }
        return chosen
    }
}
