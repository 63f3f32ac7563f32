import HTTPTypes
import Hummingbird
import Mustache
import NIOCore

/// The dashboard's Mustache templates, compiled once, every one escaping with `HTMLText`.
///
/// Templates are Swift strings (no files to install beside the binary); each is given the content-type pragma here,
/// so no template can forget it, and none may use `{{{…}}}` or `{{&…}}` (a test checks).
enum DashboardTemplates {
    static var sources: [String: String] { layout.merging(pages) { a, _ in a }.merging(actions) { a, _ in a } }

    static let library: MustacheLibrary = {
        HTMLText.registered
        var library = MustacheLibrary()
        for (name, text) in sources {
            do {
                try library.register("{{% CONTENT_TYPE: \(HTMLText.contentTypeName)}}" + text, named: name)
            } catch {
                preconditionFailure("dashboard template \(name) does not parse: \(error)")
            }
        }
        return library
    }()

    /// A page as an HTML response, with the headers every dashboard page carries.
    static func render(_ name: String, _ page: Any, status: HTTPResponse.Status = .ok) -> Response {
        let html = html(name, page)
        var headers = securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// A page as HTML text.
    static func html(_ name: String, _ page: Any) -> String {
        library.render(page, withTemplate: name) ?? "missing template \(name)"
    }

    /// No script, style or frame from anywhere but the coordinator, forms posting only to it, nothing cached.
    static var securityHeaders: HTTPFields {
        var headers = HTTPFields()
        headers[.contentSecurityPolicy] =
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
            + "frame-ancestors 'none'; base-uri 'none'"
        headers[.xContentTypeOptions] = "nosniff"
        // Not no-referrer: under it browsers send `Origin: null` with a form post, and the gate checks `Origin`.
        headers[.referrerPolicy] = "same-origin"
        headers[.cacheControl] = "no-store"
        headers[.xFrameOptions] = "DENY"
        return headers
    }
}

extension HTTPField.Name {
    /// Header names swift-http-types does not define; each literal is a valid token, so the fallback never happens.
    static let referrerPolicy = Self("Referrer-Policy") ?? .cacheControl
    static let xFrameOptions = Self("X-Frame-Options") ?? .cacheControl
    static let secFetchSite = Self("Sec-Fetch-Site") ?? .origin
}
