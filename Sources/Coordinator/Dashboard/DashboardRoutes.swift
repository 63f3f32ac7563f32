import ChainModel
import ClusterAPI
import ClusterStore
import DecisionEngine
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The dashboard (SPEC §7): server-rendered pages under `/ui` over the same read models as the JSON API, and forms
/// for migrate, drain and resume that show the verdict first (docs/dashboard.md).
struct DashboardRoutes: Sendable {
    let coordinator: Coordinator
    let logger: Logger
    var gate: DashboardGate {
        DashboardGate(
            sessions: coordinator.sessions,
            access: coordinator.access,
            tls: coordinator.config.tls != nil,
            logger: logger
        )
    }

    typealias Viewer = DashboardGate.Viewer
    typealias Handler = @Sendable (Request, CoordinatorContext, Viewer) async throws -> Response

    func register(on router: Router<CoordinatorContext>) {
        router.get("/ui/static/dashboard.css") { _, _ in Self.asset(DashboardAssets.css, type: "text/css") }
        router.get("/ui/static/dashboard.js") { _, _ in Self.asset(DashboardAssets.javascript, type: "text/javascript")
        }
        router.get("/ui/static/favicon.svg") { _, _ in Self.asset(DashboardAssets.favicon, type: "image/svg+xml") }
        registerLogin(on: router)

        page(router, .get, "/ui", overview)

        page(router, .get, "/ui/vms", vmList)

        page(router, .get, "/ui/vms/{vm}", vmPage)

        page(router, .get, "/ui/audit", auditPage)

        page(router, .get, "/ui/history", historyPage)

        page(router, .get, "/ui/whatif", whatIfPage)

        registerActions(on: router)
        registerCheckpointActions(on: router)
        registerRepairActions(on: router)
    }

    // MARK: - Plumbing

    /// A page or form handler behind the gate; refusals and API errors become pages.
    func page(
        _ router: Router<CoordinatorContext>,
        _ method: HTTPRequest.Method,
        _ path: RouterPath,
        _ handler: @escaping Handler
    ) {
        router.on(path, method: method) { request, context -> Response in
            let viewer: Viewer
            do {
                viewer = try gate.viewer(request, context)
            } catch let refusal as DashboardRefusal {
                return refused(refusal, viewer: nil)
            }
            do {
                return try await handler(request, context, viewer)
            } catch let refusal as DashboardRefusal {
                return refused(refusal, viewer: viewer)
            } catch let error as APIError {
                return errorPage(error.status, error.code, error.message, viewer: viewer)
            } catch let error as StoreError {
                return errorPage(error.status, error.code.rawValue, error.message, viewer: viewer)
            } catch {
                logger.error("dashboard \(request.method) \(request.uri.path) failed: \(error)")
                return errorPage(
                    .internalServerError,
                    "internal",
                    "the page could not be made: \(error)",
                    viewer: viewer
                )
            }
        }
    }

    func refused(_ refusal: DashboardRefusal, viewer: Viewer?) -> Response {
        switch refusal {
        case .logIn(let next):
            var headers = DashboardTemplates.securityHeaders
            headers[.location] = Pager.url("/ui/login", [("next", DashboardGate.safeNext(next))])
            return Response(status: .seeOther, headers: headers)
        case .forbidden(let message): return errorPage(.forbidden, "forbidden", message, viewer: viewer)
        case .badRequest(let message): return errorPage(.badRequest, "bad-request", message, viewer: viewer)
        case .tooLarge: return errorPage(.contentTooLarge, "too-large", "a form is limited to 16 KiB", viewer: viewer)
        }
    }

    func errorPage(_ status: HTTPResponse.Status, _ code: String, _ message: String, viewer: Viewer?) -> Response {
        let page = ErrorPage(
            frame: frame("\(status.code) \(status.reasonPhrase)", section: nil, viewer),
            code: code,
            message: message
        )
        return DashboardTemplates.render("error", page, status: status)
    }

    func frame(_ title: String, section: String?, _ viewer: Viewer?, asOf: Timestamp? = nil) -> Frame {
        frame(title, section: section, viewer, asOf: asOf, refreshing: false)
    }

    /// The frame of a page drawn from the cached audit: its time, and whether the cluster changed since.
    func frame(_ title: String, section: String, _ viewer: Viewer, audit: AuditCache.Entry) -> Frame {
        frame(
            title,
            section: section,
            viewer,
            asOf: audit.at,
            refreshing: audit.commits != coordinator.store.commits.value
        )
    }

    func frame(_ title: String, section: String?, _ viewer: Viewer?, asOf: Timestamp?, refreshing: Bool) -> Frame {
        Frame(
            title: title,
            section: section,
            viewer: viewer.map {
                Frame.ViewerBox(
                    name: $0.name,
                    csrf: coordinator.sessions.csrfToken(for: $0.key),
                    canLogOut: $0.session != nil
                )
            },
            asOf: asOf,
            refreshing: refreshing
        )
    }

    /// A path parameter, percent-decoded (links carry ids and names percent-encoded).
    static func parameter(_ name: String, _ context: CoordinatorContext) throws -> String {
        let raw = try context.parameters.require(name)
        return raw.removingPercentEncoding ?? raw
    }

    static func asset(_ text: String, type: String) -> Response {
        var headers = DashboardTemplates.securityHeaders
        headers[.contentType] = type + "; charset=utf-8"
        headers[.cacheControl] = "private, max-age=300"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func redirect(_ location: String, cookie: String? = nil) -> Response {
        var headers = DashboardTemplates.securityHeaders
        headers[.location] = location
        if let cookie { headers[.setCookie] = cookie }
        return Response(status: .seeOther, headers: headers)
    }
}

extension DashboardRoutes {
    @Sendable func overview(_ _: Request, context: CoordinatorContext, viewer: Viewer) async throws -> Response {
        let audit = try coordinator.audits.current(coordinator)
        let view = try coordinator.placementView()
        let page = OverviewPage(
            frame: frame("Overview", section: "/ui", viewer, audit: audit),
            nodes: await coordinator.nodeRows(view),
            volumes: Coordinator.volumeRows(view),
            audit: audit
        )
        return DashboardTemplates.render("overview", page)
    }

    @Sendable func vmList(_ request: Request, context: CoordinatorContext, viewer: Viewer) async throws -> Response {
        let audit = try coordinator.audits.current(coordinator)
        let query = request.uri.queryParameters
        let page = VMListPage(
            frame: frame("VMs", section: "/ui/vms", viewer, audit: audit),
            vms: audit.summaries,
            nodes: audit.nodes,
            query: String(query.get("q") ?? ""),
            node: String(query.get("node") ?? ""),
            risk: String(query.get("risk") ?? ""),
            page: Int(query.get("page") ?? "1") ?? 1
        )
        return DashboardTemplates.render("vms", page)
    }

    @Sendable func vmPage(_ _: Request, context: CoordinatorContext, viewer: Viewer) async throws -> Response {
        let detail = try coordinator.vmDetail(try Self.parameter("vm", context))
        let nodes = try coordinator.store.nodes().map(\.name.rawValue).sorted()
        let page = VMPage(
            frame: frame(detail.name, section: "/ui/vms", viewer, asOf: coordinator.now()),
            detail: detail,
            nodes: nodes
        )
        return DashboardTemplates.render("vm", page)
    }

    @Sendable func auditPage(_ request: Request, context: CoordinatorContext, viewer: Viewer) async throws -> Response {
        let audit = try coordinator.audits.current(coordinator)
        let page = AuditPage(
            frame: frame("Audit", section: "/ui/audit", viewer, audit: audit),
            risks: audit.risks.map(RiskJSON.init),
            severity: String(request.uri.queryParameters.get("severity") ?? ""),
            page: Int(request.uri.queryParameters.get("page") ?? "1") ?? 1
        )
        return DashboardTemplates.render("audit", page)
    }

    @Sendable func historyPage(_ request: Request, context: CoordinatorContext, viewer: Viewer) async throws -> Response
    {
        let key = request.uri.queryParameters.get("vm").map { String($0) }
        var vm: VM?
        if let key, !key.isEmpty { vm = try coordinator.judged(key).vm }
        let page = HistoryPage(
            frame: frame("History", section: "/ui/history", viewer),
            entries: try coordinator.historyRows(vm: vm?.id, limit: 10_000),
            vmFilter: vm?.name,
            vmKey: vm?.id.rawValue,
            page: Int(request.uri.queryParameters.get("page") ?? "1") ?? 1
        )
        return DashboardTemplates.render("history", page)
    }

    @Sendable func whatIfPage(_ request: Request, context: CoordinatorContext, viewer: Viewer) async throws -> Response
    {
        let nodes = try coordinator.store.nodes().map(\.name.rawValue).sorted()
        let selected = request.uri.queryParameters.get("node").map { String($0) }.flatMap { $0.isEmpty ? nil : $0 }
        let plan = try selected.map { try coordinator.whatIf(NodeName($0)) }
        let page = WhatIfPage(
            frame: frame(
                selected.map { "What if \($0) failed" } ?? "What if",
                section: "/ui/whatif",
                viewer,
                asOf: coordinator.now()
            ),
            nodes: nodes,
            selected: selected ?? "",
            plan: plan
        )
        return DashboardTemplates.render("whatif", page)
    }
}
