import Log
import LogCrashSupport
import Node
import Raft
import XCTest

/// The storage writes a commit index lazily, except when it covers a membership change: a
/// node that applied a change must still know it after a restart, or it would count votes in
/// a membership the group has left behind (the simulator found two leaders' worth of that).
final class MembershipRestartTests: XCTestCase {
    func testAnAppliedMembershipChangeIsKnownRightAfterARestart() throws {
        let storage = MemoryStorage()
        let config = Config(id: 1, randomSeed: 9)
        let group = try RaftGroup(config: config, storage: storage, recovered: storage.recover(), snapshot: storage.snapshot, machine: ValueRuns(), bootstrapVoters: [1])
        XCTAssertTrue(try group.campaignAlone())
        let change = try group.proposeMembershipChange(.addLearner(2))
        try group.process()
        XCTAssertGreaterThanOrEqual(group.core.appliedIndex, change)
        XCTAssertEqual(group.core.membership.learners, [2])
        // Later entries move the commit index on without forcing it to disk.
        try group.propose([ValueRuns.payload(value: 1)])
        try group.process()

        let recovered = storage.recover()
        XCTAssertGreaterThanOrEqual(recovered.hardState.commit, change, "the commit index covering the change is durable")
        var restarted = try RaftNode(config: config, recovered: recovered)
        let ready = restarted.ready()
        restarted.advance(ready)
        XCTAssertEqual(restarted.membership.learners, [2], "the change is in force before any election")
    }
}
