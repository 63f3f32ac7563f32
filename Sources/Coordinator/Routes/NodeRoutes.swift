import ChainModel
import ClusterAPI
import ClusterStore
import DecisionEngine
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOFoundationCompat

/// The node routes (docs/api.md): list, and an administrator's drain, resume, fence-confirm and remove.
struct NodeRoutes: Sendable {
    let coordinator: Coordinator
    let logger: Logger

    func addRoutes(to router: Router<CoordinatorContext>) {
        router.get("/v1/nodes", use: list)
        router.post("/v1/nodes/{node}/resume", use: resume)
        router.post("/v1/nodes/{node}/fence-confirm", use: confirmFenced)
        router.delete("/v1/nodes/{node}", use: remove)
        router.post("/v1/nodes/{node}/drain", use: drain)
    }

    @Sendable func list(_ _: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        return try RouteSupport.json(await coordinator.nodeRows(try coordinator.placementView()))
    }

    @Sendable func resume(_ _: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        return try RouteSupport.json(try await coordinator.resume(try RouteSupport.node(context)))
    }

    @Sendable func confirmFenced(_ _: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        return try RouteSupport.json(
            try await coordinator.confirmFenced(try RouteSupport.node(context), logger: logger)
        )
    }

    @Sendable func remove(_ _: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        return try RouteSupport.json(try await coordinator.remove(try RouteSupport.node(context)))
    }

    @Sendable func drain(_ _: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        return try RouteSupport.json(try await coordinator.drain(try RouteSupport.node(context), logger: logger))
    }
}
