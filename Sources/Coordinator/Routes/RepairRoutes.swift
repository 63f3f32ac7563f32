import ChainModel
import ClusterAPI
import DecisionEngine
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOFoundationCompat

/// `repair` (issue 25).
///
/// The plan of copying a stranded VM's files to a volume every possible owner reaches. Only `--dry-run` is built: the copy, verification, re-link and switch on the owner are not, and a request without
/// `dryRun` is refused with 501 `not-built` rather than pretending.
struct RepairRoutes: Sendable {
    let coordinator: Coordinator
    let logger: Logger

    func addRoutes(to router: Router<CoordinatorContext>) {
        router.post("/v1/vms/{vm}/repair", use: repair)
    }

    @Sendable func repair(_ request: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        let body = try await RouteSupport.body(of: request, upTo: 64 * 1024, what: "a repair request")
        let ask: RepairRequest
        do {
            ask = try JSONDecoder().decode(RepairRequest.self, from: Data(buffer: body))
        } catch {
            throw APIError.badRequest(
                "expected {\"volume\": NAME?, \"dryRun\": BOOL?, \"keepOld\": BOOL?}: \(RouteSupport.describe(error))"
            )
        }
        let (vm, view) = try coordinator.judged(percentEncoded: try context.parameters.require("vm"))
        let volume: VolumeID
        if let named = ask.volume {
            let matches = view.volumes.values.filter { $0.id.rawValue == named || $0.name == named }
            guard let found = matches.first(where: { $0.id.rawValue == named }) ?? matches.first else {
                throw APIError.notFound("no volume is named or identified '\(named)'")
            }
            guard matches.count == 1 || matches.contains(where: { $0.id.rawValue == named }) else {
                throw APIError(.conflict, "ambiguous", "\(matches.count) volumes are named '\(named)'; use an id")
            }
            volume = found.id
        } else if let suggested = RepairRule.suggestedVolume(vm, in: view) {
            volume = suggested
        } else {
            throw APIError.notFound(
                "no volume is reachable from every possible owner of \(vm.name); name one with --to-volume"
            )
        }
        guard ask.dryRun == true else {
            throw APIError(
                .notImplemented,
                "not-built",
                "repair without --dry-run is not built yet (issue 25): `repair --dry-run` shows the plan; copy and "
                    + "re-link by hand as docs/operations.md says, then `vm clear`"
            )
        }
        let plan = RepairRule.plan(vm, to: volume, in: view)
        return try RouteSupport.json(
            RepairResponse(
                vm: vm.name,
                vmId: vm.id.rawValue,
                allowed: plan.allowed,
                reasons: plan.reasons.map(ReasonJSON.init),
                volume: view.volumes[volume]?.name ?? volume.rawValue,
                volumeId: volume.rawValue,
                dryRun: true,
                files: plan.copies.map {
                    RepairResponse.File(from: $0.from, to: $0.to, size: $0.size, kind: $0.kind.rawValue)
                }
            )
        )
    }
}
