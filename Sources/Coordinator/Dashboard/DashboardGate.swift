import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Who may see the dashboard, and which form posts it accepts.
///
/// A viewer is an administrator proved by a bearer token, an admin client certificate, or a session cookie from
/// `/ui/login`. A page requested without one redirects to the log-in form. A post is accepted only when the browser
/// says it comes from the coordinator's own pages (`Sec-Fetch-Site`, `Origin`) and it carries the viewer's form token;
/// the session cookie is SameSite=Strict besides, so another site's form never even sends it.
struct DashboardGate: Sendable {
    /// The administrator looking at a page.
    struct Viewer: Sendable {
        /// Shown in the page head and recorded as who asked for an action.
        let name: String
        /// What the form token is bound to: the session, the certificate, or the bearer token.
        let key: String
        /// The session id when the viewer came with the cookie (then the page offers to log out).
        let session: String?
    }

    let sessions: DashboardSessions
    let access: AccessHolder
    let tls: Bool
    let logger: Logger

    static func isDashboard(_ path: String) -> Bool { path == "/ui" || path.hasPrefix("/ui/") }

    /// The viewer of `request`, or a refusal: a redirect to the log-in form for a page, 403 for a post.
    func viewer(_ request: Request, _ context: CoordinatorContext) throws -> Viewer {
        switch context.identity {
        case .admin:
            let credential = context.credential ?? "admin"
            let name =
                credential.hasPrefix("certificate:") ? String(credential.dropFirst("certificate:".count)) : "admin"
            return Viewer(name: name, key: credential, session: nil)
        case .agent(let node):
            throw DashboardRefusal.forbidden("\(node)'s agent credential cannot open the dashboard; log in as an admin")
        case nil:
            if let id = request.cookies[DashboardSessions.cookieName]?.value,
                let session = sessions.session(id, stillAccepted: { access.access.acceptsAdmin(digest: $0) })
            {
                return Viewer(name: "admin", key: "session:" + session.id, session: session.id)
            }
            if request.method == .get || request.method == .head {
                throw DashboardRefusal.logIn(next: request.uri.description)
            }
            logger.warning("refused \(request.method) \(request.uri.path): no dashboard session")
            throw DashboardRefusal.forbidden("your dashboard session has ended; log in again")
        }
    }

    /// Refuses a post that a browser marks as coming from another site, or whose `Origin` is not this coordinator.
    func requireSameOrigin(_ request: Request) throws {
        if let site = request.headers[.secFetchSite], site != "same-origin", site != "none" {
            logger.warning("refused \(request.method) \(request.uri.path): a cross-site form post (\(site))")
            throw DashboardRefusal.forbidden("a form posted from another site is refused")
        }
        if let origin = request.headers[.origin] {
            let host = request.head.authority ?? ""
            guard origin == (tls ? "https://" : "http://") + host else {
                logger.warning(
                    "refused \(request.method) \(request.uri.path): Origin \(origin) is not this coordinator"
                )
                throw DashboardRefusal.forbidden("a form posted from another origin is refused")
            }
        }
    }

    /// A dashboard form post: same origin, and the viewer's form token; returns the form's fields.
    func form(_ request: Request, viewer: Viewer) async throws -> [String: String] {
        try requireSameOrigin(request)
        let fields = try await Self.fields(of: request)
        guard let token = fields["csrf"], sessions.checkCSRF(token, for: viewer.key) else {
            logger.warning("refused \(request.method) \(request.uri.path): the form token is missing or wrong")
            throw DashboardRefusal.forbidden(
                "the form has expired or did not come from this dashboard; reload the page"
            )
        }
        return fields
    }

    /// The fields of an `application/x-www-form-urlencoded` body (16 KiB at most).
    static func fields(of request: Request) async throws -> [String: String] {
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true else {
            throw DashboardRefusal.badRequest("expected a form (application/x-www-form-urlencoded)")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: 16 * 1024)
        } catch {
            throw DashboardRefusal.tooLarge
        }
        var fields: [String: String] = [:]
        for pair in String(buffer: body).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String? {
                String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
            }
            guard let name = decode(parts[0]), let value = parts.count > 1 ? decode(parts[1]) : "" else {
                throw DashboardRefusal.badRequest("the form is not validly encoded")
            }
            fields[name] = value
        }
        return fields
    }

    /// Where to go after logging in: a dashboard path of this coordinator, never another site.
    static func safeNext(_ next: String?) -> String {
        guard let next, isDashboard(String(next.prefix { $0 != "?" })), !next.contains("//"), !next.contains("\\"),
            !next.contains(".."),
            !next.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else { return "/ui" }
        return next
    }

    /// The session cookie (HttpOnly, SameSite=Strict, for `/ui` only; Secure with TLS), or its removal.
    func cookie(_ id: String?) -> String {
        var cookie = "\(DashboardSessions.cookieName)=\(id ?? "")"
        cookie += "; Path=/ui; HttpOnly; SameSite=Strict"
        cookie += id == nil ? "; Max-Age=0" : "; Max-Age=\(Int(sessions.lifetime.components.seconds))"
        if tls { cookie += "; Secure" }
        return cookie
    }
}

/// Why the dashboard did not serve a request.
enum DashboardRefusal: Error {
    case logIn(next: String)
    case forbidden(String)
    case badRequest(String)
    case tooLarge
}
