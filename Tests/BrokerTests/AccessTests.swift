import XCTest

@testable import Broker

/// Users and permissions as replicated state: what each command changes, what it refuses,
/// and that a snapshot carries them.
final class AccessTests: XCTestCase {
    static let hash = PasswordHash(salt: [9, 9, 9, 9], digest: Array(repeating: 7, count: 32))

    func testAFreshStateHasGuestAsAdministratorWithEveryPermissionOnTheDefaultVHost() {
        let state = BrokerState()
        XCTAssertEqual(state.allUsers.map(\.name), ["guest"])
        XCTAssertEqual(state.user("guest")?.tags, ["administrator"])
        XCTAssertEqual(state.permission(vhost: "/", user: "guest"), .all)
        XCTAssertFalse(state.usersSeeded)
    }

    func testPutUserAddsOrReplacesAndDeleteUserTakesItsPermissionsWithIt() {
        var h = Harness()
        h.apply(.declareVHost(name: "prod"))
        XCTAssertEqual(reply(h.apply(.putUser(User(name: "ops", passwordHash: Self.hash, tags: ["monitoring"])))), .userPut)
        XCTAssertEqual(reply(h.apply(.putUser(User(name: "ops", passwordHash: nil, tags: ["administrator"])))), .userPut)
        XCTAssertEqual(h.state.user("ops"), User(name: "ops", passwordHash: nil, tags: ["administrator"]))
        XCTAssertEqual(reply(h.apply(.setPermission(vhost: "prod", user: "ops", .all))), .permissionSet)
        XCTAssertEqual(reply(h.apply(.setPermission(vhost: "/", user: "ops", Permission(configure: "", write: "x", read: "y")))), .permissionSet)
        XCTAssertEqual(h.state.allPermissions.map { "\($0.vhost) \($0.user)" }, ["/ guest", "/ ops", "prod ops"])

        XCTAssertEqual(reply(h.apply(.deleteUser(name: "ops"))), .userDeleted)
        XCTAssertNil(h.state.user("ops"))
        XCTAssertEqual(h.state.allPermissions.map { "\($0.vhost) \($0.user)" }, ["/ guest"])
        XCTAssertEqual(failure(h.apply(.deleteUser(name: "ops"))), BrokerError(.notFound, "no user 'ops'"))
    }

    func testAPermissionNeedsItsUserAndVHostAndValidPatterns() {
        var h = Harness()
        XCTAssertEqual(failure(h.apply(.setPermission(vhost: "nope", user: "guest", .all))), BrokerError(.notFound, "no vhost 'nope'"))
        XCTAssertEqual(failure(h.apply(.setPermission(vhost: "/", user: "nobody", .all))), BrokerError(.notFound, "no user 'nobody'"))
        let broken = Permission(configure: "(", write: ".*", read: ".*")
        XCTAssertEqual(failure(h.apply(.setPermission(vhost: "/", user: "guest", broken)))?.code, .preconditionFailed)
        XCTAssertThrowsError(try h.state.validate(.setPermission(vhost: "/", user: "guest", broken)), "refused before it is proposed")
        XCTAssertEqual(h.state.permission(vhost: "/", user: "guest"), .all, "nothing changed")
        XCTAssertEqual(reply(h.apply(.clearPermission(vhost: "/", user: "guest"))), .permissionCleared)
        XCTAssertEqual(failure(h.apply(.clearPermission(vhost: "/", user: "guest")))?.code, .notFound)
    }

    func testDeletingAVHostTakesItsPermissions() {
        var h = Harness()
        h.apply(.declareVHost(name: "prod"))
        h.apply(.setPermission(vhost: "prod", user: "guest", .all))
        let before = h.state.accessChangedAt
        h.apply(.deleteVHost(name: "prod"))
        XCTAssertNil(h.state.permission(vhost: "prod", user: "guest"))
        XCTAssertGreaterThan(h.state.accessChangedAt, before, "caches of what was allowed are stale")
        h.apply(.declareVHost(name: "prod"))
        XCTAssertNil(h.state.permission(vhost: "prod", user: "guest"), "a new vhost of the same name grants nothing")
    }

    func testOnlyTheFirstSeedAddsUsersSoADeletedUserStaysDeleted() {
        var h = Harness()
        let app = User(name: "app", passwordHash: Self.hash, tags: ["administrator"])
        XCTAssertEqual(reply(h.apply(.seedUsers([app, BrokerState.guest]))), .usersSeeded(added: ["app"]), "guest was there already")
        XCTAssertEqual(h.state.permission(vhost: "/", user: "app"), .all)
        XCTAssertTrue(h.state.usersSeeded)
        h.apply(.deleteUser(name: "app"))
        XCTAssertEqual(reply(h.apply(.seedUsers([app]))), .usersSeeded(added: []), "another node's seed, after the first")
        XCTAssertNil(h.state.user("app"))
    }

    func testUserBoundsAreKept() {
        var limits = BrokerLimits()
        limits.usersMax = 2
        limits.userTagsMax = 1
        var h = Harness(limits: limits)
        XCTAssertEqual(reply(h.apply(.putUser(User(name: "one", passwordHash: nil)))), .userPut)
        XCTAssertEqual(failure(h.apply(.putUser(User(name: "two", passwordHash: nil))))?.code, .preconditionFailed, "guest counts")
        // More tags than the log format takes: refused before it is proposed.
        XCTAssertThrowsError(try h.state.validate(.putUser(User(name: "one", passwordHash: nil, tags: ["a", "b"]))))
        XCTAssertEqual(failure(h.apply(.putUser(User(name: "", passwordHash: nil))))?.code, .preconditionFailed)
        XCTAssertEqual(failure(h.apply(.seedUsers([User(name: "x", passwordHash: nil), User(name: "y", passwordHash: nil)])))?.code, .preconditionFailed)
        XCTAssertFalse(h.state.usersSeeded, "a refused seed leaves the cluster unseeded")
    }

    func testASnapshotCarriesUsersPermissionsAndTheSeed() throws {
        var h = Harness()
        h.apply(.declareVHost(name: "prod"))
        h.apply(.seedUsers([User(name: "app", passwordHash: Self.hash, tags: ["administrator"])]))
        h.apply(.putUser(User(name: "reader", passwordHash: nil, tags: [])))
        h.apply(.setPermission(vhost: "prod", user: "reader", Permission(configure: "", write: "", read: "^logs\\.")))
        let data = h.state.snapshotData()
        var restored = BrokerState()
        try restored.restore(from: data)
        XCTAssertEqual(restored.allUsers, h.state.allUsers)
        XCTAssertEqual(restored.allPermissions.map(\.permission), h.state.allPermissions.map(\.permission))
        XCTAssertTrue(restored.usersSeeded)
        XCTAssertEqual(restored.snapshotData(), data)
    }

    // MARK: Limits

    func testALimitIsSetOnAnExistingSubjectThatTakesItAndGoesWithIt() {
        var h = Harness()
        h.apply(.declareVHost(name: "prod"))
        h.apply(.putUser(User(name: "ops", passwordHash: nil)))
        XCTAssertEqual(reply(h.apply(.setLimit(.vhost("prod"), .maxConnections, value: 10))), .limitSet)
        XCTAssertEqual(reply(h.apply(.setLimit(.user("ops"), .maxChannels, value: -7))), .limitSet)
        XCTAssertEqual(h.state.limit(.maxConnections, of: .vhost("prod")), 10)
        XCTAssertNil(h.state.limit(.maxChannels, of: .user("ops")), "negative: no limit")
        XCTAssertEqual(h.state.allResourceLimits.map(\.subject), [.vhost("prod"), .user("ops")])
        XCTAssertEqual(h.state.allResourceLimits.last?.limits, [.maxChannels: -1], "kept as RabbitMQ's -1")

        XCTAssertEqual(failure(h.apply(.setLimit(.vhost("prod"), .maxChannels, value: 1)))?.code, .preconditionFailed)
        XCTAssertThrowsError(try h.state.validate(.setLimit(.user("ops"), .maxQueues, value: 1)), "refused before it is proposed")
        XCTAssertEqual(failure(h.apply(.setLimit(.vhost("nope"), .maxQueues, value: 1))), BrokerError(.notFound, "no vhost 'nope'"))
        XCTAssertEqual(failure(h.apply(.setLimit(.user("nobody"), .maxConnections, value: 1))), BrokerError(.notFound, "no user 'nobody'"))

        XCTAssertEqual(reply(h.apply(.clearLimit(.user("ops"), .maxChannels))), .limitCleared)
        XCTAssertEqual(failure(h.apply(.clearLimit(.user("ops"), .maxChannels)))?.code, .notFound)
        h.apply(.setLimit(.user("ops"), .maxConnections, value: 1))
        h.apply(.deleteUser(name: "ops"))
        h.apply(.deleteVHost(name: "prod"))
        XCTAssertTrue(h.state.allResourceLimits.isEmpty, "a deleted vhost's and user's limits go with them")
    }

    func testAVHostsMaxQueuesRefusesOneMoreQueueInThatVHostOnly() {
        var h = Harness()
        h.apply(.declareVHost(name: "prod"))
        h.apply(.setLimit(.vhost("/"), .maxQueues, value: 1))
        XCTAssertNotNil(reply(h.apply(.declareQueue(QueueDeclaration(name: "one", owner: h.owner, timestamp: h.now)))))
        XCTAssertNotNil(reply(h.apply(.declareQueue(QueueDeclaration(name: "one", owner: h.owner, timestamp: h.now)))), "redeclaring is not one more")
        XCTAssertEqual(failure(h.apply(.declareQueue(QueueDeclaration(name: "two", owner: h.owner, timestamp: h.now)))),
                       BrokerError(.preconditionFailed, "cannot declare queue 'two': queue limit in vhost '/' (1) is reached"))
        XCTAssertNotNil(reply(h.apply(.declareQueue(QueueDeclaration(vhost: "prod", name: "two", owner: h.owner, timestamp: h.now)))))
        h.apply(.setLimit(.vhost("prod"), .maxQueues, value: 0))
        XCTAssertEqual(failure(h.apply(.declareQueue(QueueDeclaration(vhost: "prod", name: "three", owner: h.owner, timestamp: h.now))))?.code,
                       .preconditionFailed, "0 allows none")
        h.apply(.clearLimit(.vhost("/"), .maxQueues))
        XCTAssertNotNil(reply(h.apply(.declareQueue(QueueDeclaration(name: "two", owner: h.owner, timestamp: h.now)))))
    }

    func testASnapshotCarriesTheLimits() throws {
        var h = Harness()
        h.apply(.declareVHost(name: "prod"))
        h.apply(.putUser(User(name: "ops", passwordHash: nil)))
        h.apply(.setLimit(.vhost("prod"), .maxQueues, value: 5))
        h.apply(.setLimit(.vhost("prod"), .maxConnections, value: -1))
        h.apply(.setLimit(.user("ops"), .maxChannels, value: 3))
        let data = h.state.snapshotData()
        var restored = BrokerState()
        try restored.restore(from: data)
        XCTAssertEqual(restored.allResourceLimits.map(\.subject), h.state.allResourceLimits.map(\.subject))
        XCTAssertEqual(restored.allResourceLimits.map(\.limits), h.state.allResourceLimits.map(\.limits))
        XCTAssertEqual(restored.snapshotData(), data)
    }

    func testAVersion3SnapshotRestoresWithoutLimits() throws {
        var h = Harness()
        h.apply(.putUser(User(name: "ops", passwordHash: nil)))
        var data = h.state.snapshotData()
        // Version 3 ended after the seed flag: no list of limits, nor the (empty) delayed
        // section of version 5.
        data.removeLast(3)
        data[0] = 3
        var restored = BrokerState()
        try restored.restore(from: data)
        XCTAssertEqual(restored.allUsers, h.state.allUsers)
        XCTAssertTrue(restored.allResourceLimits.isEmpty)
    }

    func testAVersion2SnapshotRestoresWithAFreshStatesUsers() throws {
        var data = BrokerState().snapshotData()
        // Version 2 ended after the vhosts: without users, permissions and the seed flag.
        data.removeLast(data.count - Self.accessStart(of: data))
        data[0] = 2
        var restored = BrokerState()
        try restored.restore(from: data)
        XCTAssertEqual(restored.allUsers.map(\.name), ["guest"])
        XCTAssertEqual(restored.permission(vhost: "/", user: "guest"), .all)
        XCTAssertFalse(restored.usersSeeded)
    }

    /// Where a fresh state's snapshot's users begin: the bytes after are users, permissions,
    /// seed, the (empty) list of limits and the (empty) delayed section.
    private static func accessStart(of data: [UInt8]) -> Int {
        var w = ByteWriter(capacity: 64)
        let state = BrokerState()
        w.array(state.allUsers) { $0.user($1) }
        w.array(state.allPermissions) { w, entry in
            w.string(entry.vhost)
            w.string(entry.user)
            w.permission(entry.permission)
        }
        let seedNoLimitsNoDelayed = 4
        return data.count - w.bytes.count - seedNoLimitsNoDelayed
    }
}
