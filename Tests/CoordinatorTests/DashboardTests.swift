import ClusterAPI
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@testable import Coordinator

/// Issue 11: the dashboard's escaping, its gate and its pages over live HTTP.
///
/// The gate: log-in, sessions, form tokens, cross-site refusals. `ClusterEndToEndTests.theDashboardInAHeadlessBrowser`
/// drives the same pages in Chromium.
@Suite struct DashboardTests {
    static let pages = ["/ui", "/ui/vms", "/ui/vms/web01", "/ui/audit", "/ui/history", "/ui/whatif?node=node1"]

    @Test func escapingIsScalarByScalarSoACombiningMarkCannotHideAQuote() {
        #expect(HTMLText.escape(#"<a href="x">'&`"#) == "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#96;")
        // `"` + U+0301 is one Character; swift-mustache's own escaping compares Characters and would let it through.
        let combining = "\"\u{301} autofocus onfocus=alert(1) x=\""
        #expect(!HTMLText.escape(combining).unicodeScalars.contains("\""))
        let controls = "a\u{0}b\u{1B}c\td"
        let replaced = "a\u{FFFD}b\u{FFFD}c\td"
        #expect(HTMLText.escape(controls) == replaced)
        #expect(HTMLText.segment("a/b?c#d e%.~") == "a%2Fb%3Fc%23d%20e%25.~")
    }

    @Test func everyTemplateEscapesEvenInPartialsAndNoneOptsOut() throws {
        for (name, text) in DashboardTemplates.sources {
            #expect(!text.contains("{{{") && !text.contains("{{&"), "template \(name) writes a value unescaped")
        }
        let quoteAndMark = "\"\u{301}"
        let hostile = quoteAndMark + "<script>alert(1)</script>"
        let escaped = "&quot;\u{301}&lt;script&gt;"
        // The title goes through the `head` partial, the message through the page itself.
        let page = ErrorPage(frame: Frame(title: hostile, section: nil, viewer: nil), code: "x", message: hostile)
        let html = DashboardTemplates.html("error", page)
        #expect(!html.contains("<script>alert"))
        #expect(!html.contains(quoteAndMark))
        #expect(html.contains(escaped))
    }

    @Test func onlyDashboardPathsAreFollowedAfterLogIn() {
        #expect(DashboardGate.safeNext("/ui/vms?risk=stranded") == "/ui/vms?risk=stranded")
        let hostile: [String?] = [
            "//evil.example/ui", "https://evil.example/ui", "/uievil", "/ui\\..\\x", "/ui/\u{0}", "/v1/backup",
            "/ui/../v1/backup", nil,
        ]
        for hostile in hostile {
            #expect(DashboardGate.safeNext(hostile) == "/ui", "\(hostile ?? "nil")")
        }
    }

    @Test func withoutAnAdminEveryPageRedirectsOrRefuses() async throws {
        let live = try LiveCoordinator()
        try await live.test { client in
            try await Self.seed(client)
            for page in Self.pages {
                let anonymous = try await LiveCoordinator.get(page, token: nil, client: client)
                #expect(anonymous.status == .seeOther, "\(page)")
                #expect(anonymous.headers[.location]?.hasPrefix("/ui/login?next=%2Fui") == true, "\(page)")
                let agent = try await LiveCoordinator.get(
                    page,
                    token: LiveCoordinator.agentToken("node1"),
                    client: client
                )
                #expect(agent.status == .forbidden, "\(page): an agent credential is not an admin")
                let admin = try await LiveCoordinator.get(page, client: client)
                #expect(admin.status == .ok, "\(page): \(String(buffer: admin.body))")
                #expect(admin.headers[.contentType] == "text/html; charset=utf-8")
                #expect(admin.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
            }
            let wrong = try await LiveCoordinator.get("/ui", token: "wrong-token", client: client)
            #expect(wrong.status == .unauthorized)
            let post = try await Self.form("/ui/logout", ["csrf": "x"], client: client)
            #expect(post.status == .forbidden, "a post without a session is refused, not redirected")
            #expect(try await LiveCoordinator.get("/ui/static/dashboard.css", token: nil, client: client).status == .ok)
            let unknown = try await LiveCoordinator.get("/ui/vms/no-such-vm", client: client)
            #expect(unknown.status == .notFound)
            #expect(String(buffer: unknown.body).contains("no VM is named or identified"))
        }
    }

    @Test func aSessionFromAnAdminTokenAndFormsOnlyFromItsOwnPages() async throws {
        let live = try LiveCoordinator()
        try await live.test { client in
            try await Self.seed(client)
            let refused = try await Self.form(
                "/ui/login",
                ["token": LiveCoordinator.agentToken("node1")],
                client: client
            )
            #expect(refused.status == .unauthorized)
            #expect(refused.headers[.setCookie] == nil)
            let crossSite = try await Self.form(
                "/ui/login",
                ["token": LiveCoordinator.adminToken],
                headers: [.origin: "http://evil.example"],
                client: client
            )
            #expect(crossSite.status == .forbidden, "a log-in posted from another site")

            let login = try await Self.form(
                "/ui/login",
                ["token": LiveCoordinator.adminToken, "next": "/ui/audit"],
                client: client
            )
            #expect(login.status == .seeOther)
            #expect(login.headers[.location] == "/ui/audit")
            let setCookie = try #require(login.headers[.setCookie])
            for flag in ["Path=/ui", "HttpOnly", "SameSite=Strict"] {
                #expect(setCookie.contains(flag), "\(setCookie)")
            }
            #expect(!setCookie.contains("Secure"), "plain HTTP here; with TLS the cookie is Secure")
            let cookie = String(setCookie.prefix { $0 != ";" })

            let page = try await client.execute(uri: "/ui", method: .get, headers: [.cookie: cookie])
            #expect(page.status == .ok)
            let html = String(buffer: page.body)
            let csrf = try #require(
                html.firstMatch(of: /name="csrf" value="([0-9a-f]{64})"/).map { String($0.output.1) }
            )

            // node1 is up, so resume answers 409 not-draining: the form got through the gate.
            let resume = "/ui/nodes/node1/resume"
            #expect(try await Self.form(resume, [:], cookie: cookie, client: client).status == .forbidden)
            // One hex digit changed (a token that starts with 0 gets a 1: "0" + rest would be the token itself).
            let tampered = (csrf.hasPrefix("0") ? "1" : "0") + csrf.dropFirst()
            #expect(
                try await Self.form(resume, ["csrf": tampered], cookie: cookie, client: client).status == .forbidden
            )
            let foreignOrigin = try await Self.form(
                resume,
                ["csrf": csrf],
                cookie: cookie,
                headers: [.origin: "http://evil.example"],
                client: client
            )
            #expect(foreignOrigin.status == .forbidden)
            let crossSitePost = try await Self.form(
                resume,
                ["csrf": csrf],
                cookie: cookie,
                headers: [HTTPField.Name.secFetchSite: "cross-site"],
                client: client
            )
            #expect(crossSitePost.status == .forbidden)
            let accepted = try await Self.form(
                resume,
                ["csrf": csrf],
                cookie: cookie,
                headers: [HTTPField.Name.secFetchSite: "same-origin"],
                client: client
            )
            #expect(accepted.status == .conflict, "\(String(buffer: accepted.body))")
            #expect(String(buffer: accepted.body).contains("not-draining"))

            // Dropping the admin token from the configuration (a SIGHUP reload) ends its sessions.
            var config = live.coordinator.config
            config.adminTokens = ["a-new-admin-token"]
            live.coordinator.reloadTokens(from: config)
            let after = try await client.execute(uri: "/ui", method: .get, headers: [.cookie: cookie])
            #expect(after.status == .seeOther)
        }
    }

    @Test func logOutEndsTheSession() async throws {
        let live = try LiveCoordinator()
        try await live.test { client in
            let login = try await Self.form("/ui/login", ["token": LiveCoordinator.adminToken], client: client)
            let cookie = String((login.headers[.setCookie] ?? "").prefix { $0 != ";" })
            let html = String(
                buffer: try await client.execute(uri: "/ui", method: .get, headers: [.cookie: cookie]).body
            )
            let csrf = html.firstMatch(of: /name="csrf" value="([0-9a-f]{64})"/).map { String($0.output.1) } ?? ""
            let out = try await Self.form("/ui/logout", ["csrf": csrf], cookie: cookie, client: client)
            #expect(out.status == .seeOther)
            #expect(out.headers[.setCookie]?.contains("Max-Age=0") == true)
            let after = try await client.execute(uri: "/ui", method: .get, headers: [.cookie: cookie])
            #expect(after.status == .seeOther)
        }
    }

    /// Checkpoint actions from the VM page (issue 24): the location rule's files and verdict first, then a protected
    /// form; a name that would break a file name is refused before anything else.
    @Test func checkpointActionsShowTheLocationRuleFirst() async throws {
        let live = try LiveCoordinator()
        try await live.test { client in
            try await Self.seed(client)
            let login = try await Self.form("/ui/login", ["token": LiveCoordinator.adminToken], client: client)
            let cookie = String(try #require(login.headers[.setCookie]).prefix { $0 != ";" })
            let vmPage = try await client.execute(uri: "/ui/vms/web01", method: .get, headers: [.cookie: cookie])
            let html = String(buffer: vmPage.body)
            #expect(html.contains("/checkpoint\">"), "the VM page offers a new checkpoint")
            let confirm = try await client.execute(
                uri: "/ui/vms/web01/checkpoint?action=create&name=c9&memory=on",
                method: .get,
                headers: [.cookie: cookie]
            )
            #expect(confirm.status == .ok)
            let text = String(buffer: confirm.body)
            #expect(text.contains("web01.c9.vmrs") && text.contains("Allowed"), "\(text)")
            let csrf = try #require(
                text.firstMatch(of: /name="csrf" value="([0-9a-f]{64})"/).map { String($0.output.1) }
            )
            let badName = try await client.execute(
                uri: "/ui/vms/web01/checkpoint?action=create&name=..%2Fx",
                method: .get,
                headers: [.cookie: cookie]
            )
            #expect(badName.status == .badRequest)
            let unknown = try await Self.form(
                "/ui/vms/web01/checkpoint",
                ["csrf": csrf, "action": "delete", "checkpoint": "no-such-checkpoint"],
                cookie: cookie,
                headers: [HTTPField.Name.secFetchSite: "same-origin"],
                client: client
            )
            #expect(unknown.status == .notFound)
            let forged = try await Self.form(
                "/ui/vms/web01/checkpoint",
                ["action": "delete", "checkpoint": "cp1"],
                cookie: cookie,
                client: client
            )
            #expect(forged.status == .forbidden, "no form token")
        }
    }

    /// `repair` from a stranded VM's page (issue 25): the button names the volume, the confirmation lists every move
    /// and the verdict, and the form is protected like every other action.
    @Test func aStrandedVMsPageOffersTheRepairBehindAConfirmation() async throws {
        let live = try LiveCoordinator()
        try await live.test { client in
            let all = LiveCoordinator.nodes
            for node in all + all {
                let vms = node == "node1" ? [LiveCoordinator.vm("web01", node: node, local: 0)] : []
                let response = try await LiveCoordinator.post(
                    LiveCoordinator.report(node, vms: vms, read: all),
                    as: LiveCoordinator.agentToken(node),
                    client: client
                )
                #expect(response.status == .ok)
            }
            let login = try await Self.form("/ui/login", ["token": LiveCoordinator.adminToken], client: client)
            let cookie = String(try #require(login.headers[.setCookie]).prefix { $0 != ";" })
            let vmPage = try await client.execute(uri: "/ui/vms/web01", method: .get, headers: [.cookie: cookie])
            let html = String(buffer: vmPage.body)
            #expect(html.contains("/repair\">") && html.contains("move the stranded files to csv1"), "\(html)")
            let confirm = try await client.execute(
                uri: "/ui/vms/web01/repair?volume=csv1",
                method: .get,
                headers: [.cookie: cookie]
            )
            #expect(confirm.status == .ok)
            let text = String(buffer: confirm.body)
            #expect(
                text.contains("/srv/local/") && text.contains("/mnt/csv1/web01/") && text.contains("Allowed"),
                "\(text)"
            )
            let forged = try await Self.form("/ui/vms/web01/repair", ["volume": "csv1"], cookie: cookie, client: client)
            #expect(forged.status == .forbidden, "no form token")
            let unknown = try await client.execute(
                uri: "/ui/vms/web01/repair?volume=nowhere",
                method: .get,
                headers: [.cookie: cookie]
            )
            #expect(unknown.status == .notFound)
        }
    }

    /// Three nodes on csv1, web01 on node1.
    static func seed(_ client: some TestClientProtocol) async throws {
        let all = LiveCoordinator.nodes
        for node in all + all {
            let vms = node == "node1" ? [LiveCoordinator.vm("web01", node: node)] : []
            let response = try await LiveCoordinator.post(
                LiveCoordinator.report(node, vms: vms, read: all),
                as: LiveCoordinator.agentToken(node),
                client: client
            )
            #expect(response.status == .ok)
        }
    }

    static func form(
        _ uri: String,
        _ fields: [String: String],
        cookie: String? = nil,
        headers extra: HTTPFields = [:],
        client: some TestClientProtocol
    ) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let cookie { headers[.cookie] = cookie }
        headers.append(contentsOf: extra)
        let body = fields.map { "\($0.key)=\(HTMLText.query($0.value))" }.joined(separator: "&")
        return try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body))
    }
}
