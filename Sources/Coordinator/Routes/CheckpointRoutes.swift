import ChainModel
import ClusterAPI
import DecisionEngine
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOFoundationCompat

/// The checkpoint routes (docs/api.md, issue 24): list, create, delete, revert.
struct CheckpointRoutes: Sendable {
    let coordinator: Coordinator
    let logger: Logger

    var checkpoints: CheckpointOperator { CheckpointOperator(coordinator: coordinator, logger: logger) }

    func addRoutes(to router: Router<CoordinatorContext>) {
        router.get("/v1/vms/{vm}/checkpoints", use: list)
        router.post("/v1/vms/{vm}/checkpoints", use: create)
        router.delete("/v1/vms/{vm}/checkpoints/{checkpoint}", use: delete)
        router.post("/v1/vms/{vm}/checkpoints/{checkpoint}/revert", use: revert)
    }

    @Sendable func list(_ _: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        let (vm, _) = try coordinator.judged(percentEncoded: try context.parameters.require("vm"))
        return try RouteSupport.json(checkpoints.list(vm))
    }

    @Sendable func create(_ request: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        let body = try await RouteSupport.body(of: request, upTo: 64 * 1024, what: "a checkpoint request")
        let ask: CheckpointCreateRequest
        do {
            ask = try JSONDecoder().decode(CheckpointCreateRequest.self, from: Data(buffer: body))
        } catch {
            throw APIError.badRequest(
                "expected {\"name\": \"NAME\", \"memory\": BOOL?, \"description\": TEXT?}: \(RouteSupport.describe(error))"
            )
        }
        let (vm, view) = try coordinator.judged(percentEncoded: try context.parameters.require("vm"))
        return try RouteSupport.json(try await checkpoints.create(vm, ask, view: view))
    }

    @Sendable func delete(_ request: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        let (vm, view) = try coordinator.judged(percentEncoded: try context.parameters.require("vm"))
        let key = try Self.decoded(context.parameters.require("checkpoint"))
        let children = request.uri.queryParameters.get("children") == "true"
        return try RouteSupport.json(try await checkpoints.delete(vm, key: key, children: children, view: view))
    }

    @Sendable func revert(_ _: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        let (vm, view) = try coordinator.judged(percentEncoded: try context.parameters.require("vm"))
        let key = try Self.decoded(context.parameters.require("checkpoint"))
        return try RouteSupport.json(try await checkpoints.revert(vm, key: key, view: view))
    }

    static func decoded(_ raw: String) throws -> String {
        guard let key = raw.removingPercentEncoding, !key.isEmpty else {
            throw APIError.badRequest("the checkpoint in the path is not valid percent-encoding")
        }
        return key
    }
}
