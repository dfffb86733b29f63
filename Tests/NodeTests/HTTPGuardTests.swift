import Auth
import Foundation
@testable import Node
import XCTest

/// The parts of the HTTP guard that read headers, without a server.
final class HTTPGuardTests: XCTestCase {
    func testTheHostMustBeAnAddressLocalhostOrTheListeningHost() {
        let guarding = HTTPGuard(listeningHost: "node1.internal")
        for named in ["127.0.0.1:15672", "10.0.0.2", "[::1]:15672", "::1", "localhost", "LocalHost:15672", "node1.internal:15672"] {
            XCTAssertTrue(guarding.namesThisNode(named), named)
        }
        for other in ["attacker.example", "attacker.example:15672", "127.0.0.1.attacker.example", "node2.internal:15672", ""] {
            XCTAssertFalse(guarding.namesThisNode(other), other)
        }
    }

    func testBasicCredentialsSplitAtTheFirstColon() {
        let header = "Basic " + Data("ops:pa:ss".utf8).base64EncodedString()
        XCTAssertEqual(HTTPGuard.basicCredentials(header)?.name, "ops")
        XCTAssertEqual(HTTPGuard.basicCredentials(header)?.password, "pa:ss")
        XCTAssertNil(HTTPGuard.basicCredentials("Bearer abc"))
        XCTAssertNil(HTTPGuard.basicCredentials("Basic !!!"))
        XCTAssertNil(HTTPGuard.basicCredentials("Basic " + Data("nocolon".utf8).base64EncodedString()))
        XCTAssertNil(HTTPGuard.basicCredentials(nil))
    }
}
