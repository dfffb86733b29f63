import XCTest

@testable import Node

/// The dashboard's page as a node serves it: its policy names its one inline script and its
/// one inline style by hash (the page's shape makes the node compute them at its first
/// request), and nothing from another origin.
final class DashboardPageTests: XCTestCase {
    func testThePolicyAllowsThePagesOwnScriptAndStyleByHashAndNoOtherOrigin() throws {
        let policy = DashboardPage.contentSecurityPolicy
        let directives = Dictionary(uniqueKeysWithValues: policy.split(separator: ";").map { directive in
            let words = directive.split(separator: " ")
            return (String(words[0]), words.dropFirst().map(String.init))
        })
        XCTAssertEqual(directives["default-src"], ["'none'"])
        XCTAssertEqual(directives["connect-src"], ["'self'"])
        for kind in ["script-src", "style-src"] {
            let sources = try XCTUnwrap(directives[kind], kind)
            XCTAssertEqual(sources.count, 1, "\(kind): one source, the page's own element")
            XCTAssertTrue(sources[0].hasPrefix("'sha256-") && sources[0].count == "'sha256-'".count + 44, "\(kind): \(sources[0])")
        }
        XCTAssertFalse(policy.contains("unsafe"), policy)
        XCTAssertFalse(policy.contains("http"), "no other origin: \(policy)")
    }
}
