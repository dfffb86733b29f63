import Auth
import Broker
import FoundationEssentials
import XCTest

@testable import Node

/// SASL responses, password hashes, the users file and permission checks.
final class AuthenticationTests: XCTestCase {
    func testPlainResponseGivesUserAndPassword() {
        let response: [UInt8] = [0] + Array("alice".utf8) + [0] + Array("s3cret".utf8)
        let parsed = Credentials.parse(mechanism: "PLAIN", response: response)
        XCTAssertEqual(parsed?.name, "alice")
        XCTAssertEqual(parsed?.password, "s3cret")
    }

    func testAMQPlainResponseGivesUserAndPassword() {
        // Field table entries without the table's length: name, 'S', long string.
        func entry(_ name: String, _ value: String) -> [UInt8] {
            [UInt8(name.utf8.count)] + Array(name.utf8) + [UInt8(ascii: "S")] + withUnsafeBytes(of: UInt32(value.utf8.count).bigEndian, Array.init)
                + Array(value.utf8)
        }
        let parsed = Credentials.parse(mechanism: "AMQPLAIN", response: entry("LOGIN", "bob") + entry("PASSWORD", "hunter2"))
        XCTAssertEqual(parsed?.name, "bob")
        XCTAssertEqual(parsed?.password, "hunter2")
    }

    func testMalformedResponsesAreRefusedNotCrashed() {
        XCTAssertNil(Credentials.parse(mechanism: "PLAIN", response: Array("no separators".utf8)))
        XCTAssertNil(Credentials.parse(mechanism: "AMQPLAIN", response: [200, 1, 2]))
        XCTAssertNil(Credentials.parse(mechanism: "AMQPLAIN", response: [5] + Array("LOGIN".utf8) + [UInt8(ascii: "S"), 0, 0, 0, 99]))
        XCTAssertNil(Credentials.parse(mechanism: "EXTERNAL", response: []))
    }

    func testGuestMayConnectOnlyFromLoopback() {
        let state = BrokerState()
        XCTAssertEqual(AccessControl.authenticate(state, name: "guest", password: "guest", fromLoopback: true)?.name, "guest")
        XCTAssertNil(AccessControl.authenticate(state, name: "guest", password: "guest", fromLoopback: false))
    }

    func testPasswordsAreStoredSaltedAndChecked() {
        var state = BrokerState()
        _ = state.apply(.putUser(User(name: "carol", passwordHash: PasswordHashing.hash("pw"))), at: 1, reader: NoRecords())
        _ = state.apply(.putUser(User(name: "erin", passwordHash: nil)), at: 2, reader: NoRecords())
        XCTAssertNotNil(AccessControl.authenticate(state, name: "carol", password: "pw", fromLoopback: false))
        XCTAssertNil(AccessControl.authenticate(state, name: "carol", password: "PW", fromLoopback: false))
        XCTAssertNil(AccessControl.authenticate(state, name: "dave", password: "pw", fromLoopback: true))
        XCTAssertNil(AccessControl.authenticate(state, name: "erin", password: "", fromLoopback: true), "no hash: no password logs in")
        let one = PasswordHashing.hash("same")
        let two = PasswordHashing.hash("same")
        XCTAssertNotEqual(one.digest, two.digest, "each password gets its own salt")
        XCTAssertNotEqual(one.digest, Array("same".utf8))
        XCTAssertTrue(PasswordHashing.matches(one, "same"))
    }

    /// RabbitMQ's `rabbit_password_hashing_sha256`, checked against a hash it would make:
    /// base64 "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR" is salt 908dc60a, then
    /// SHA-256 of the salt and "test12".
    func testAHashInRabbitMQsFormatIsAccepted() throws {
        let bytes = try XCTUnwrap(Data(base64Encoded: "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR")).map { $0 }
        let hash = try XCTUnwrap(PasswordHash(saltedDigest: bytes))
        XCTAssertTrue(PasswordHashing.matches(hash, "test12"))
        XCTAssertFalse(PasswordHashing.matches(hash, "test13"))
        XCTAssertEqual(hash.saltedDigest, bytes)
    }

    func testAUsersFileGivesAdministratorsAndRefusesWhatItCannotRead() throws {
        let users = try UsersFile.parse("# seeded users\napp:pa:ss\n\n  \nops:x\r\n")
        XCTAssertEqual(users.map(\.name), ["app", "ops"])
        XCTAssertEqual(users.map(\.tags), [["administrator"], ["administrator"]])
        XCTAssertTrue(PasswordHashing.matches(try XCTUnwrap(users[0].passwordHash), "pa:ss"), "split at the first colon")
        XCTAssertTrue(PasswordHashing.matches(try XCTUnwrap(users[1].passwordHash), "x"), "a CRLF line end is not part of the password")
        XCTAssertThrowsError(try UsersFile.parse("nocolon\n")) { XCTAssertEqual(($0 as? UsersFile.Invalid)?.line, 1) }
        XCTAssertThrowsError(try UsersFile.parse("a:1\n:2\n")) { XCTAssertEqual(($0 as? UsersFile.Invalid)?.line, 2) }
        XCTAssertThrowsError(try UsersFile.parse("a:\n"))
        XCTAssertThrowsError(try UsersFile.parse("a:1\na:2\n"))
    }

    // MARK: Permissions

    /// A state where "bob" has the given permission on "/".
    private func state(bob permission: Permission) -> BrokerState {
        var state = BrokerState()
        _ = state.apply(.putUser(User(name: "bob", passwordHash: nil)), at: 1, reader: NoRecords())
        _ = state.apply(.setPermission(vhost: "/", user: "bob", permission), at: 2, reader: NoRecords())
        return state
    }

    func testPatternsAreSearchedUnanchoredAndAnEmptyOneAllowsNothing() {
        let state = state(bob: Permission(configure: "^app\\.", write: "orders", read: ""))
        var checker = PermissionChecker(user: "bob", vhost: "/")
        XCTAssertTrue(checker.allows(.configure, .queue("app.jobs"), in: state))
        XCTAssertFalse(checker.allows(.configure, .queue("my.app.jobs"), in: state), "anchored by the pattern's own ^")
        XCTAssertTrue(checker.allows(.write, .exchange("new-orders-v2"), in: state), "unanchored: found anywhere in the name")
        XCTAssertFalse(checker.allows(.read, .queue(""), in: state), "an empty pattern allows nothing, not even the empty name")
        XCTAssertFalse(checker.allows(.read, .queue("app.jobs"), in: state))
    }

    func testTheDefaultExchangeIsCheckedAsAmqDefault() {
        var checker = PermissionChecker(user: "bob", vhost: "/")
        XCTAssertTrue(checker.allows(.write, .exchange(""), in: state(bob: Permission(configure: "", write: "^amq\\.default$", read: ""))))
        var other = PermissionChecker(user: "bob", vhost: "/")
        let refusal = other.refusal(.write, .exchange(""), in: state(bob: Permission(configure: "", write: "^$", read: "")))
        XCTAssertEqual(refusal, "access to exchange 'amq.default' in vhost '/' refused for user 'bob'")
    }

    func testAChangedPermissionIsSeenThroughTheCache() {
        var state = state(bob: .all)
        var checker = PermissionChecker(user: "bob", vhost: "/")
        XCTAssertTrue(checker.allows(.read, .queue("q"), in: state))
        _ = state.apply(.setPermission(vhost: "/", user: "bob", Permission(configure: "", write: "", read: "^other$")), at: 3, reader: NoRecords())
        XCTAssertFalse(checker.allows(.read, .queue("q"), in: state))
        _ = state.apply(.deleteUser(name: "bob"), at: 4, reader: NoRecords())
        XCTAssertFalse(checker.allows(.read, .queue("other"), in: state), "a deleted user may do nothing")
        XCTAssertFalse(AccessControl.mayOpen(state, vhost: "/", user: "bob"))
    }
}

/// No message is ever read back in these tests.
private struct NoRecords: MessageReader {
    func record(at location: RecordLocation) -> [UInt8] { preconditionFailure("no records") }
}
