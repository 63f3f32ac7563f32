import ChainModel
import ClusterAPI
import DecisionEngine
import Foundation
import HTTPTypes
import Hummingbird

/// Checkpoint create, delete and revert from a VM's page (issue 24): what would happen first (the location rule's
/// files and verdict, or the checkpoint named), then the journaled operation on a protected form.
extension DashboardRoutes {
    func registerCheckpointActions(on router: Router<CoordinatorContext>) {
        page(router, .get, "/ui/vms/{vm}/checkpoint", checkpointForm)
        page(router, .post, "/ui/vms/{vm}/checkpoint", checkpointAction)
    }

    /// `?action=create&name=NAME[&memory=on]`, or `?action=delete|revert&checkpoint=ID`.
    @Sendable func checkpointForm(
        _ request: Request,
        context: CoordinatorContext,
        viewer: Viewer
    ) async throws
        -> Response
    {
        let (vm, view) = try coordinator.judged(try Self.parameter("vm", context))
        let query = request.uri.queryParameters
        let action = String(query.get("action") ?? "")
        let operations = CheckpointOperator(coordinator: coordinator, logger: logger)
        let vmHref = "/ui/vms/" + HTMLText.segment(vm.id.rawValue)
        let formAction = vmHref + "/checkpoint"
        let question: String
        let verdict: ConfirmPage.Verdict
        var fields: [ConfirmPage.Field] = [.init(name: "action", value: action)]
        switch action {
        case "create":
            let name = String(query.get("name") ?? "")
            if let problem = CheckpointRule.nameProblem(name) { throw APIError.badRequest(problem) }
            let memory = query.get("memory") == "on"
            let plan = CheckpointRule.create(vm, name: name, memory: memory, in: view)
            question =
                "Take checkpoint \(name) of \(vm.name) on \(vm.owner)\(memory ? ", with its memory" : "")? New files: "
                + plan.files.map(\.path).joined(separator: ", ")
            verdict = Self.verdict(
                plan.reasons,
                allowed: "Allowed: every new file is where each possible owner reads it."
            )
            fields += [.init(name: "name", value: name), .init(name: "memory", value: memory ? "on" : "off")]
        case "delete", "revert":
            let checkpoint = try operations.checkpoint(String(query.get("checkpoint") ?? ""), of: vm)
            question =
                action == "delete"
                ? "Delete checkpoint \(checkpoint.name) of \(vm.name), merging its differencing disks while it runs?"
                : "Revert \(vm.name) to checkpoint \(checkpoint.name)? The state it has now is kept on disk, and a "
                    + "disk-only checkpoint leaves it shut off."
            verdict = Self.verdict(
                CheckpointRule.common(vm, in: view),
                allowed: "Allowed by the coordinator; the owner "
                    + "checks again before it acts."
            )
            fields.append(.init(name: "checkpoint", value: checkpoint.id.rawValue))
        default:
            throw APIError.badRequest("action must be create, delete or revert")
        }
        return DashboardTemplates.render(
            "confirm",
            ConfirmPage(
                frame: frame("Checkpoint \(action): \(vm.name)", section: "/ui/vms", viewer, asOf: coordinator.now()),
                question: question,
                verdict: verdict,
                canProceed: verdict.reasons.isEmpty,
                action: formAction,
                fields: fields,
                button: "\(action.prefix(1).uppercased() + action.dropFirst()) checkpoint",
                cancelHref: vmHref
            )
        )
    }

    @Sendable func checkpointAction(
        _ request: Request,
        context: CoordinatorContext,
        viewer: Viewer
    ) async throws
        -> Response
    {
        let fields = try await gate.form(request, viewer: viewer)
        let (vm, view) = try coordinator.judged(try Self.parameter("vm", context))
        let operations = CheckpointOperator(coordinator: coordinator, logger: logger, requestedBy: Self.actor(viewer))
        let action = fields["action"] ?? ""
        let outcome: CheckpointResponse
        switch action {
        case "create":
            let request = CheckpointCreateRequest(name: fields["name"] ?? "", memory: fields["memory"] == "on")
            outcome = try await operations.create(vm, request, view: view)
        case "delete":
            outcome = try await operations.delete(vm, key: fields["checkpoint"] ?? "", children: false, view: view)
        case "revert":
            outcome = try await operations.revert(vm, key: fields["checkpoint"] ?? "", view: view)
        default:
            throw APIError.badRequest("action must be create, delete or revert")
        }
        coordinator.audits.refresh(coordinator)
        let vmHref = "/ui/vms/" + HTMLText.segment(vm.id.rawValue)
        let name = outcome.checkpoint?.name ?? fields["name"] ?? ""
        return DashboardTemplates.render(
            "result",
            ResultPage(
                frame: frame("Checkpoint \(action): \(vm.name)", section: "/ui/vms", viewer),
                tone: outcome.allowed ? "ok" : "critical",
                headline: outcome.allowed
                    ? "\(vm.name): checkpoint \(name) \(action == "create" ? "taken" : action == "delete" ? "deleted" : "reverted to")"
                    : "Refused: checkpoint \(name) of \(vm.name) was not \(action == "create" ? "taken" : action + "d")",
                detail: outcome.operationId.map { "Operation \($0), \(outcome.state ?? "")" },
                reasons: outcome.reasons,
                links: [
                    .init(href: vmHref, label: "Back to \(vm.name)"),
                    .init(href: Pager.url("/ui/history", [("vm", vm.id.rawValue)]), label: "History"),
                ]
            ),
            status: outcome.allowed ? .ok : .conflict
        )
    }

    static func verdict(_ reasons: [Reason], allowed: String) -> ConfirmPage.Verdict {
        let rows = reasons.map(ReasonJSON.init).map(ReasonRow.init)
        return ConfirmPage.Verdict(
            tone: reasons.isEmpty ? "ok" : "critical",
            headline: reasons.isEmpty ? allowed : "Refused: \(reasons.count) reason\(reasons.count == 1 ? "" : "s").",
            reasons: rows,
            hasReasons: !rows.isEmpty
        )
    }
}
