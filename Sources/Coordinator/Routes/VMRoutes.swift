import ChainModel
import ClusterAPI
import ClusterStore
import DecisionEngine
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOFoundationCompat

/// The VM routes (docs/api.md): list, show, check, migrate, clear, and the history of moves.
struct VMRoutes: Sendable {
    let coordinator: Coordinator
    let logger: Logger

    func addRoutes(to router: Router<CoordinatorContext>) {
        router.get("/v1/vms", use: list)
        router.get("/v1/vms/{vm}", use: show)
        router.get("/v1/vms/{vm}/check", use: check)
        router.post("/v1/vms/{vm}/migrate", use: migrate)
        router.post("/v1/vms/{vm}/clear", use: clear)
        router.get("/v1/history", use: history)
    }

    @Sendable func list(_ request: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        let nodeFilter = request.uri.queryParameters.get("node")
        let onlyStranded = request.uri.queryParameters.get("stranded") == "true"
        let rows = Coordinator.vmSummaries(try coordinator.audit())
            .filter { (nodeFilter == nil || $0.owner == nodeFilter) && (!onlyStranded || $0.stranded) }
        return try RouteSupport.json(rows)
    }

    @Sendable func show(_ _: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        let raw = try context.parameters.require("vm")
        return try RouteSupport.json(try coordinator.vmDetail(raw.removingPercentEncoding ?? raw))
    }

    @Sendable func check(_ request: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        guard let target = request.uri.queryParameters.get("to"), !target.isEmpty else {
            throw APIError.badRequest("name the target node: ?to=NODE")
        }
        let (vm, view) = try coordinator.judged(percentEncoded: try context.parameters.require("vm"))
        guard view.nodes[NodeName(target)] != nil else {
            throw APIError.notFound("no node is named '\(target)'")
        }
        return try RouteSupport.json(CheckResponse(StrandRule.check(vm, to: NodeName(target), in: view)))
    }

    @Sendable func migrate(_ request: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        let body = try await RouteSupport.body(of: request, upTo: 64 * 1024, what: "a migration request")
        let ask: MigrateRequest
        do {
            ask = try JSONDecoder().decode(MigrateRequest.self, from: Data(buffer: body))
        } catch {
            throw APIError.badRequest("expected {\"target\": \"NODE\"}: \(RouteSupport.describe(error))")
        }
        let (vm, view) = try coordinator.judged(percentEncoded: try context.parameters.require("vm"))
        guard view.nodes[NodeName(ask.target)] != nil else {
            throw APIError.notFound("no node is named '\(ask.target)'")
        }
        let outcome = try await Migrator(coordinator: coordinator, logger: logger)
            .migrate(vm, to: NodeName(ask.target), view: view, requestedBy: "admin", offline: ask.offline == true)
        return try RouteSupport.json(outcome)
    }

    @Sendable func clear(_ _: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        return try RouteSupport.json(
            try coordinator.clear(try coordinator.vm(named: try context.parameters.require("vm")))
        )
    }

    @Sendable func history(_ request: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        var vmID: VMID?
        if let key = request.uri.queryParameters.get("vm") {
            vmID = try coordinator.vm(named: key).id
        }
        return try RouteSupport.json(try coordinator.historyRows(vm: vmID))
    }
}
