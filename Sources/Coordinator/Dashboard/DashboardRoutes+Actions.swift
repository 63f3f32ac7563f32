import ChainModel
import ClusterAPI
import ClusterStore
import DecisionEngine
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Log-in, log-out, and the actions: each shows what would happen first (GET), then acts on a protected form (POST).
extension DashboardRoutes {
    func registerLogin(on router: Router<CoordinatorContext>) {
        router.get("/ui/login") { request, _ -> Response in
            let next = DashboardGate.safeNext(request.uri.queryParameters.get("next").map { String($0) })
            return DashboardTemplates.render(
                "login",
                LoginPage(frame: frame("Log in", section: nil, nil), error: nil, next: next)
            )
        }

        router.post("/ui/login") { request, _ -> Response in
            do {
                try gate.requireSameOrigin(request)
                let fields = try await DashboardGate.fields(of: request)
                let next = DashboardGate.safeNext(fields["next"])
                guard let digest = coordinator.access.access.adminDigest(of: fields["token"] ?? "") else {
                    logger.warning("refused a dashboard log-in: not an admin token")
                    // Slows guessing; tokens are long and random anyway.
                    try await Task.sleep(for: .seconds(1))
                    return DashboardTemplates.render(
                        "login",
                        LoginPage(
                            frame: frame("Log in", section: nil, nil),
                            error: "That is not an admin token of this coordinator.",
                            next: next
                        ),
                        status: .unauthorized
                    )
                }
                let id = coordinator.sessions.open(tokenDigest: digest)
                logger.notice("dashboard session opened")
                return Self.redirect(next, cookie: gate.cookie(id))
            } catch let refusal as DashboardRefusal {
                return refused(refusal, viewer: nil)
            }
        }

        page(router, .post, "/ui/logout", logout)
    }

    func registerActions(on router: Router<CoordinatorContext>) {
        page(router, .get, "/ui/vms/{vm}/migrate", migrateForm)

        page(router, .post, "/ui/vms/{vm}/migrate", migrate)

        page(router, .get, "/ui/nodes/{node}/drain", drainForm)

        page(router, .post, "/ui/nodes/{node}/drain", drain)

        page(router, .get, "/ui/nodes/{node}/resume", resumeForm)

        page(router, .post, "/ui/nodes/{node}/resume", resume)
    }

    /// Who the journal records as having asked.
    static func actor(_ viewer: Viewer) -> String { "\(viewer.name) (dashboard)" }
}

extension DashboardRoutes {
    @Sendable func logout(_ request: Request, context: CoordinatorContext, viewer: Viewer) async throws -> Response {
        _ = try await gate.form(request, viewer: viewer)
        if let session = viewer.session { coordinator.sessions.close(session) }
        return Self.redirect("/ui/login", cookie: gate.cookie(nil))
    }

    @Sendable func migrateForm(_ request: Request, context: CoordinatorContext, viewer: Viewer) async throws -> Response
    {
        let (vm, view) = try coordinator.judged(try Self.parameter("vm", context))
        let target = String(request.uri.queryParameters.get("to") ?? "")
        guard view.nodes[NodeName(target)] != nil else {
            throw APIError.notFound("no node is named '\(target)'")
        }
        let check = CheckResponse(StrandRule.check(vm, to: NodeName(target), in: view))
        return DashboardTemplates.render(
            "confirm",
            ConfirmPage(
                frame: frame(
                    "Migrate \(vm.name) to \(target)?",
                    section: "/ui/vms",
                    viewer,
                    asOf: coordinator.now()
                ),
                question: "Move \(vm.name) and its whole snapshot chain from \(vm.owner) to \(target)?",
                verdict: ConfirmPage.verdict(check),
                canProceed: check.allowed,
                action: "/ui/vms/\(HTMLText.segment(vm.id.rawValue))/migrate",
                fields: [.init(name: "to", value: target)],
                button: "Migrate \(vm.name) to \(target)",
                cancelHref: "/ui/vms/" + HTMLText.segment(vm.id.rawValue)
            )
        )
    }

    @Sendable func migrate(_ request: Request, context: CoordinatorContext, viewer: Viewer) async throws -> Response {
        let fields = try await gate.form(request, viewer: viewer)
        let (vm, view) = try coordinator.judged(try Self.parameter("vm", context))
        let target = fields["to"] ?? ""
        guard view.nodes[NodeName(target)] != nil else {
            throw APIError.notFound("no node is named '\(target)'")
        }
        let outcome = try await Migrator(coordinator: coordinator, logger: logger)
            .migrate(vm, to: NodeName(target), view: view, requestedBy: Self.actor(viewer))
        coordinator.audits.refresh(coordinator)
        let vmHref = "/ui/vms/" + HTMLText.segment(vm.id.rawValue)
        return DashboardTemplates.render(
            "result",
            ResultPage(
                frame: frame("Migrate \(vm.name)", section: "/ui/vms", viewer),
                tone: outcome.allowed && outcome.state == "committed" ? "ok" : "critical",
                headline: outcome.allowed
                    ? "\(vm.name): \(outcome.state ?? "unknown") (epoch \(outcome.epoch.map(String.init) ?? "?"))"
                    : "Refused: \(vm.name) stays on \(vm.owner)",
                detail: outcome.migrationId.map { "Migration \($0)" },
                reasons: outcome.reasons,
                links: [
                    .init(href: vmHref, label: "Back to \(vm.name)"),
                    .init(href: Pager.url("/ui/history", [("vm", vm.id.rawValue)]), label: "History"),
                ]
            ),
            status: outcome.allowed ? .ok : .conflict
        )
    }

    @Sendable func drainForm(_ _: Request, context: CoordinatorContext, viewer: Viewer) async throws -> Response {
        let node = NodeName(try Self.parameter("node", context))
        let view = try coordinator.placementView()
        guard let stored = view.nodes[node] else { throw APIError.notFound("no node is named '\(node)'") }
        let vms = try coordinator.store.vms(ownedBy: node)
        let plan = FailoverPlanner.plan(failing: node, vms: vms, in: view, purpose: .drain)
        var stays = plan.blocked.map {
            ConfirmPage.Stay(vm: $0.vmName, reasons: $0.reasons.map { ReasonRow(ReasonJSON($0)) })
        }
        for vm in vms where !view.isHighlyAvailable(vm) {
            stays.append(
                .init(
                    vm: vm.name,
                    reasons: [
                        ReasonRow(
                            ReasonJSON(code: "not-highly-available", message: "\(vm.name) is not highly available")
                        )
                    ]
                )
            )
        }
        let canDrain = stored.state == .up || stored.state == .draining
        return DashboardTemplates.render(
            "confirm",
            ConfirmPage(
                frame: frame("Drain \(node)?", section: "/ui", viewer, asOf: coordinator.now()),
                question: canDrain
                    ? "Mark \(node) draining and move its highly available VMs off it, one at a time, with the "
                        + "same rules as a failover. VMs that cannot move stay, with their reasons."
                    : "\(node) is \(stored.state.rawValue); only an up node can drain.",
                verdict: nil,
                moves: plan.moves.map { .init(vm: $0.vmName, target: $0.target.rawValue) },
                stays: stays,
                canProceed: canDrain,
                action: "/ui/nodes/\(HTMLText.segment(node.rawValue))/drain",
                button: "Drain \(node)",
                cancelHref: "/ui"
            )
        )
    }

    @Sendable func drain(_ request: Request, context: CoordinatorContext, viewer: Viewer) async throws -> Response {
        _ = try await gate.form(request, viewer: viewer)
        let node = NodeName(try Self.parameter("node", context))
        let result = try await coordinator.drain(node, actor: Self.actor(viewer), logger: logger)
        coordinator.audits.refresh(coordinator)
        let rows =
            result.moved.map {
                ResultPage.Row(vm: $0.vm, outcome: "moved to \($0.target)", reasons: [], hasReasons: false)
            }
            + result.stayed.map {
                ResultPage.Row(
                    vm: $0.vm,
                    outcome: "stayed",
                    reasons: $0.reasons.map(ReasonRow.init),
                    hasReasons: true
                )
            }
        return DashboardTemplates.render(
            "result",
            ResultPage(
                frame: frame("Drain \(node)", section: "/ui", viewer),
                tone: result.stayed.isEmpty ? "ok" : "critical",
                headline: "\(node) is draining: \(result.moved.count) moved, \(result.stayed.count) stayed",
                rows: rows,
                links: [.init(href: "/ui", label: "Overview")]
            )
        )
    }

    @Sendable func resumeForm(_ _: Request, context: CoordinatorContext, viewer: Viewer) async throws -> Response {
        let node = NodeName(try Self.parameter("node", context))
        guard let stored = try coordinator.store.node(named: node) else {
            throw APIError.notFound("no node is named '\(node)'")
        }
        return DashboardTemplates.render(
            "confirm",
            ConfirmPage(
                frame: frame("Resume \(node)?", section: "/ui", viewer),
                question: stored.state == .draining
                    ? "End the drain: \(node) takes VMs again (failover and placement may choose it)."
                    : stored.state == .quarantined
                        ? "End the quarantine: \(node) flapped; it takes VMs again. Fix its link first."
                        : "\(node) is \(stored.state.rawValue), not draining; there is nothing to resume.",
                verdict: nil,
                canProceed: stored.state == .draining || stored.state == .quarantined,
                action: "/ui/nodes/\(HTMLText.segment(node.rawValue))/resume",
                button: "Resume \(node)",
                cancelHref: "/ui"
            )
        )
    }

    @Sendable func resume(_ request: Request, context: CoordinatorContext, viewer: Viewer) async throws -> Response {
        _ = try await gate.form(request, viewer: viewer)
        let node = NodeName(try Self.parameter("node", context))
        let answer = try await coordinator.resume(node, actor: Self.actor(viewer))
        coordinator.audits.refresh(coordinator)
        return DashboardTemplates.render(
            "result",
            ResultPage(
                frame: frame("Resume \(node)", section: "/ui", viewer),
                tone: "ok",
                headline: answer.message,
                links: [.init(href: "/ui", label: "Overview")]
            )
        )
    }
}
