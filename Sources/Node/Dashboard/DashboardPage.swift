import Crypto
import FoundationEssentials
import Hummingbird
import NIOCore

/// The operator's live dashboard, `GET /` and `/index.html`: one static page
/// (`dashboard.html`, embedded in the binary as code so that no resource bundle has to travel
/// with it, and no Foundation `Bundle` is needed to find one) whose own script polls this
/// node's API.
///
/// The page is served without credentials, as RabbitMQ serves its UI: it holds no data, and
/// every request its script makes goes through the guard of the API, whose 401 with
/// `WWW-Authenticate` makes the browser ask for a user. Its Content-Security-Policy lets it
/// run only its own inline script and style (by their hashes) and fetch only from this origin.
enum DashboardPage {
    static let body = ByteBuffer(bytes: PackageResources.dashboard_html)

    static let contentSecurityPolicy: String = {
        let page = String(decoding: PackageResources.dashboard_html, as: UTF8.self)
        return [
            "default-src 'none'",
            "script-src '\(hash(ofInline: "script", in: page))'",
            "style-src '\(hash(ofInline: "style", in: page))'",
            "connect-src 'self'",
            "img-src data:",  // the empty favicon, so the browser asks for none
            "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
        ].joined(separator: "; ")
    }()

    static func response() -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8", .contentSecurityPolicy: contentSecurityPolicy,
                .xContentTypeOptions: "nosniff",
                // A node upgraded in place serves its new page at the next load.
                .cacheControl: "no-cache",
            ],
            body: ResponseBody(byteBuffer: body))
    }

    /// CSP's `'sha256-…'` source for the one `<tag>` element of the page, with no attributes.
    private static func hash(ofInline tag: String, in page: String) -> String {
        guard let open = page.firstRange(of: "<\(tag)>"), let close = page[open.upperBound...].firstRange(of: "</\(tag)>"),
            page[close.upperBound...].firstRange(of: "<\(tag)") == nil
        else { preconditionFailure("dashboard.html must hold exactly one <\(tag)> element, without attributes, for its CSP hash") }
        let digest = SHA256.hash(data: Array(page[open.upperBound..<close.lowerBound].utf8))
        return "sha256-" + Data(digest).base64EncodedString()
    }
}
