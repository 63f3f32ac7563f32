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
/// Copies a stranded VM's files (and the disks above them) to a volume every possible owner reaches, through the
/// owner's agent (`Repairer`); `dryRun` answers the plan only.
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
        let response = try await Repairer(coordinator: coordinator, logger: logger, requestedBy: "admin")
            .repair(vm, to: volume, keepOld: ask.keepOld == true, dryRun: ask.dryRun == true, view: view)
        return try RouteSupport.json(response)
    }
}
