/// Round-robin over a shuffled list of the live members (SWIM §4.3): every member is
/// probed once per round, and the order changes each round. A member added mid-round goes
/// to a random place among those not yet probed; one that dies stays in the list and is
/// skipped when its turn comes.
struct ProbeSchedule: Sendable {
    private(set) var order: [SWIM.NodeID] = []
    private(set) var position = 0

    /// The next member to probe, for which `isLive` holds; nil when none is live. Starts a
    /// new, freshly shuffled round from `live` (sorted, so the seed alone decides the
    /// order) when this one is used up.
    mutating func next(
        live: () -> [SWIM.NodeID], isLive: (SWIM.NodeID) -> Bool, random: inout SeededGenerator
    ) -> SWIM.NodeID? {
        // Bounded: what is left of this round, then at most one fresh round, all of which
        // is live.
        for _ in 0..<2 {
            while position < order.count {
                let candidate = order[position]
                position += 1
                if isLive(candidate) { return candidate }
            }
            order = live()
            position = 0
            random.shuffle(&order)
            if order.isEmpty { return nil }
        }
        return nil
    }

    /// A member became live: it takes a random place among those still to be probed this
    /// round, unless it is already among them.
    mutating func insert(_ id: SWIM.NodeID, random: inout SeededGenerator) {
        if order[position...].contains(id) { return }
        let place = position + random.below(order.count - position + 1)
        order.insert(id, at: place)
    }

    /// Drops a member for good (evicted from the table).
    mutating func remove(_ id: SWIM.NodeID) {
        while let index = order.firstIndex(of: id) {
            order.remove(at: index)
            if index < position { position -= 1 }
        }
    }
}
