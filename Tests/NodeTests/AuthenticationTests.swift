import Auth
import XCTest

@testable import Node

/// SASL responses and the user store.
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
        let users = UserStore()
        XCTAssertTrue(users.authenticate(name: "guest", password: "guest", fromLoopback: true))
        XCTAssertFalse(users.authenticate(name: "guest", password: "guest", fromLoopback: false))
    }

    func testPasswordsAreStoredSaltedAndChecked() {
        var users = UserStore()
        users.add(name: "carol", password: "pw")
        XCTAssertTrue(users.authenticate(name: "carol", password: "pw", fromLoopback: false))
        XCTAssertFalse(users.authenticate(name: "carol", password: "PW", fromLoopback: false))
        XCTAssertFalse(users.authenticate(name: "dave", password: "pw", fromLoopback: true))
        let one = UserStore.PasswordHash(password: "same")
        let two = UserStore.PasswordHash(password: "same")
        XCTAssertNotEqual(one.digest, two.digest, "each password gets its own salt")
        XCTAssertNotEqual(one.digest, Array("same".utf8))
    }
}
