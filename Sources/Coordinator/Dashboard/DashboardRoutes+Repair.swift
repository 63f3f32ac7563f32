import ChainModel
import ClusterAPI
import DecisionEngine
import Foundation
import HTTPTypes
import Hummingbird

/// `repair` from a stranded VM's page (issue 25): the plan first (every file, where it goes, and the verdict), then the
/// journaled repair on a protected form.
extension DashboardRoutes {
    func registerRepairActions(on router: Router<CoordinatorContext>) {
        page(router, .get, "/ui/vms/{vm}/repair", repairForm)
        page(router, .post, "/ui/vms/{vm}/repair", repairAction)
    }

    /// The volume a form names (by name or id), else the one a repair would suggest.
    func repairVolume(_ named: String?, _ vm: VM, _ view: ClusterView) throws -> VolumeID {
        if let named, !named.isEmpty {
            guard let volume = view.volumes.values.first(where: { $0.id.rawValue == named || $0.name == named }) else {
                throw APIError.notFound("no volume is named or identified '\(named)'")
            }
            return volume.id
        }
        guard let suggested = RepairRule.suggestedVolume(vm, in: view) else {
            throw APIError.notFound("no volume is reachable from every possible owner of \(vm.name)")
        }
        return suggested
    }

    /// `?volume=NAME`.
    @Sendable func repairForm(_ request: Request, context: CoordinatorContext, viewer: Viewer) async throws -> Response
    {
        let (vm, view) = try coordinator.judged(try Self.parameter("vm", context))
        let volume = try repairVolume(request.uri.queryParameters.get("volume").map { String($0) }, vm, view)
        let plan = RepairRule.plan(vm, to: volume, in: view)
        let name = view.volumes[volume]?.name ?? volume.rawValue
        let vmHref = "/ui/vms/" + HTMLText.segment(vm.id.rawValue)
        let moves = plan.copies.map { "\($0.from) → \($0.to)" }
        return DashboardTemplates.render(
            "confirm",
            ConfirmPage(
                frame: frame("Repair: \(vm.name)", section: "/ui/vms", viewer, asOf: coordinator.now()),
                question: moves.isEmpty
                    ? "\(vm.name) has no stranded file."
                    : "Move \(moves.count) file(s) of \(vm.name) to volume \(name) while it runs, then remove the "
                        + "originals? " + moves.joined(separator: ", "),
                verdict: Self.verdict(
                    plan.reasons,
                    allowed: "Allowed: every possible owner reaches \(name); the owner verifies each copy before it "
                        + "switches."
                ),
                canProceed: plan.allowed && !moves.isEmpty,
                action: vmHref + "/repair",
                fields: [.init(name: "volume", value: volume.rawValue)],
                button: "Repair \(vm.name)",
                cancelHref: vmHref
            )
        )
    }

    @Sendable func repairAction(
        _ request: Request,
        context: CoordinatorContext,
        viewer: Viewer
    ) async throws -> Response {
        let fields = try await gate.form(request, viewer: viewer)
        let (vm, view) = try coordinator.judged(try Self.parameter("vm", context))
        let volume = try repairVolume(fields["volume"], vm, view)
        let outcome = try await Repairer(coordinator: coordinator, logger: logger, requestedBy: Self.actor(viewer))
            .repair(vm, to: volume, keepOld: false, dryRun: false, view: view)
        coordinator.audits.refresh(coordinator)
        let vmHref = "/ui/vms/" + HTMLText.segment(vm.id.rawValue)
        let done = outcome.allowed && outcome.state == MigrationRecord.State.committed.rawValue
        return DashboardTemplates.render(
            "result",
            ResultPage(
                frame: frame("Repair: \(vm.name)", section: "/ui/vms", viewer),
                tone: done ? "ok" : "critical",
                headline: done
                    ? "\(vm.name): \(outcome.files.count) file(s) moved to \(outcome.volume)"
                    : "Refused: \(vm.name) was not repaired",
                detail: outcome.operationId.map { "Operation \($0), \(outcome.state ?? "")" } ?? outcome.message,
                reasons: outcome.reasons,
                links: [
                    .init(href: vmHref, label: "Back to \(vm.name)"),
                    .init(href: Pager.url("/ui/history", [("vm", vm.id.rawValue)]), label: "History"),
                ]
            ),
            status: done ? .ok : .conflict
        )
    }
}
