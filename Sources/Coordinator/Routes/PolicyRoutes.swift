import ChainModel
import ClusterAPI
import ClusterStore
import DecisionEngine
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOFoundationCompat

/// The placement policy routes (docs/api.md); the rules a policy keeps are `PolicyUpdate.applied` (ClusterAPI).
struct PolicyRoutes: Sendable {
    let coordinator: Coordinator
    let logger: Logger

    func addRoutes(to router: Router<CoordinatorContext>) {
        router.get("/v1/vms/{vm}/policy", use: show)
        router.put("/v1/vms/{vm}/policy", use: update)
        router.put("/v1/classes/{class}", use: updateClass)
    }

    @Sendable func show(_ _: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        let vm = try coordinator.vm(named: try context.parameters.require("vm"))
        return try RouteSupport.json(try coordinator.policyJSON(vm, coordinator.store.policy(for: vm.id) ?? .default))
    }

    @Sendable func update(_ request: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        let vm = try coordinator.vm(named: try context.parameters.require("vm"))
        let body = try await RouteSupport.body(of: request, upTo: 64 * 1024, what: "a policy update")
        var update: PolicyUpdate
        do {
            update = try JSONDecoder().decode(PolicyUpdate.self, from: Data(buffer: body))
        } catch {
            throw APIError.badRequest("the policy update is not valid JSON: \(RouteSupport.describe(error))")
        }
        let current = try coordinator.store.policy(for: vm.id) ?? .default
        let known = Set(try coordinator.store.nodes().map(\.name.rawValue))
        if let volume = update.checkpointVolume, !volume.isEmpty {
            // A name or an id; stored as the id, so a rename changes nothing.
            let volumes = try coordinator.store.volumes()
            let matches = volumes.filter { $0.id.rawValue == volume || $0.name == volume }
            guard let found = matches.first(where: { $0.id.rawValue == volume }) ?? matches.first else {
                throw APIError.notFound("no volume is named or identified '\(volume)'")
            }
            guard matches.count == 1 || matches.contains(where: { $0.id.rawValue == volume }) else {
                throw APIError(.conflict, "ambiguous", "\(matches.count) volumes are named '\(volume)'; use an id")
            }
            update.checkpointVolume = found.id.rawValue
        }
        let policy: PlacementPolicy
        do {
            policy = try update.applied(to: current, knownNodes: known)
        } catch {
            switch error {
            case .unknownNode: throw APIError.notFound(error.message)
            case .invalid: throw APIError.badRequest(error.message)
            }
        }
        try await coordinator.critical.savePolicy(policy, for: vm.id)
        return try RouteSupport.json(try coordinator.policyJSON(vm, policy))
    }

    @Sendable func updateClass(_ request: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        let raw = try context.parameters.require("class")
        let name = raw.removingPercentEncoding ?? raw
        let body = try await RouteSupport.body(of: request, upTo: 4096, what: "a class update")
        guard let update = try? JSONDecoder().decode(ClassUpdate.self, from: Data(buffer: body)) else {
            throw APIError.badRequest("expected {\"enforced\": true|false}")
        }
        let antiAffinityClass: AntiAffinityClass
        do {
            antiAffinityClass = try AntiAffinityClass.named(name, enforced: update.enforced)
        } catch {
            throw APIError.badRequest(error.message)
        }
        try await coordinator.critical.saveClass(antiAffinityClass)
        return try RouteSupport.json(["name": name, "enforced": update.enforced ? "true" : "false"])
    }
}
