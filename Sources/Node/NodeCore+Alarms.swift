import Gossip

/// Resource alarms are cluster-wide, as RabbitMQ's: a memory or disk alarm on any live
/// member blocks the publishers of every node. A node's own alarms come from its readings
/// (`ResourceMonitor`); the others' arrive in their gossip records, which each member
/// re-issues at a higher incarnation whenever its alarms change. A dead or departed member's
/// alarms no longer count: it holds nothing that grows.
extension NodeCore {
    /// Tries again the records a full disk refused, takes the readings, tells the other
    /// members when this node's alarms changed, and every connection when what blocks them did.
    func checkResources() {
        let store = group.machine.store
        if store.hasUnwritten {
            do { try store.retryUnwritten() } catch { fatalError("writing the message store failed; a node that cannot store a committed message must stop: \(error)") }
        }
        guard let changed = resources.check(diskRefusedWrite: driver.persistWaitsForRoom || store.hasUnwritten) else { return }
        gossip?.setAlarms(changed.gossip)
        alarmsMayHaveChanged()
    }

    /// Recomputes what blocks publishers here, after this node's alarms or a member's record
    /// changed; tells every connection when the reason did.
    func alarmsMayHaveChanged() {
        let members = gossipMembers.values.filter { $0.id != group.core.id && $0.status.isLive }
        let next = ResourceAlarms.blocking(own: resources.alarms, members: members.map(\.alarms))
        guard next != blockingAlarms else { return }
        let previous = blockingAlarms
        blockingAlarms = next
        let raisedElsewhere = members.filter { !$0.alarms.isEmpty }.map { "\($0.id): \($0.alarms)" }
        if next.isSet != previous.isSet || next.reason != previous.reason {
            if next.isSet, !raisedElsewhere.isEmpty {
                logger.warning("publishers are blocked: a member of the cluster has a resource alarm",
                               metadata: ["members": "\(raisedElsewhere.joined(separator: ", "))"])
            } else if !next.isSet, previous.isSet {
                logger.info("publishers are unblocked: no member has a resource alarm")
            }
            for watcher in Array(alarmWatchers.values) { watcher.resourceAlarm(next.reason) }
        }
    }

    /// A connection that is to hear of alarms; returns the current one.
    func watchAlarms(_ client: any CoreClient) -> String? {
        alarmWatchers[ObjectIdentifier(client)] = client
        return blockingAlarms.reason
    }

    func unwatchAlarms(_ client: any CoreClient) {
        alarmWatchers[ObjectIdentifier(client)] = nil
    }
}
