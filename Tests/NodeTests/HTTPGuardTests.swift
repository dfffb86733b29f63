import Auth
import Foundation
import Hummingbird
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

    func testAChangeIsTakenFromThisNodesOwnOriginByHTTPOrHTTPSAndNoOther() {
        let guarding = HTTPGuard(listeningHost: "127.0.0.1")
        func request(origin: String? = nil, fetchSite: String? = nil) -> Request {
            var head = HTTPRequest(method: .delete, scheme: nil, authority: "127.0.0.1:15671", path: "/api/users/ops")
            if let origin { head.headerFields[.origin] = origin }
            if let fetchSite { head.headerFields[.init("Sec-Fetch-Site")!] = fetchSite }
            return Request(head: head, body: RequestBody(buffer: ByteBuffer()))
        }
        XCTAssertNil(guarding.crossSiteRefusal(of: request()), "no Origin: a tool, not a page")
        XCTAssertNil(guarding.crossSiteRefusal(of: request(origin: "http://127.0.0.1:15671")))
        XCTAssertNil(guarding.crossSiteRefusal(of: request(origin: "https://127.0.0.1:15671")), "the page came over HTTPS")
        XCTAssertNotNil(guarding.crossSiteRefusal(of: request(origin: "https://attacker.example")))
        XCTAssertNotNil(guarding.crossSiteRefusal(of: request(origin: "https://127.0.0.1:15671.attacker.example")))
        XCTAssertNotNil(guarding.crossSiteRefusal(of: request(fetchSite: "cross-site")))
        XCTAssertNil(guarding.crossSiteRefusal(of: request(fetchSite: "same-origin")))
    }
}
