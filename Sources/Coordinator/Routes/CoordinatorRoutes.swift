import ChainModel
import ClusterAPI
import ClusterStore
import DecisionEngine
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOFoundationCompat
import Prometheus

/// The HTTP API (docs/api.md).
///
/// Versioned paths; every error is `{"error":{"code","message"}}`.
struct CoordinatorRoutes: Sendable {
    let coordinator: Coordinator
    let logger: Logger

    /// Which routes a listener serves.
    enum Selection: Sendable {
        /// Every route (`listen`).
        case all
        /// The agent routes and `/healthz` (`agentListen`).
        case agents
    }

    func router(_ selection: Selection = .all) -> Router<CoordinatorContext> {
        let router = Router(context: CoordinatorContext.self)
        router.add(
            middleware: AuthenticationMiddleware(
                access: coordinator.access,
                throttle: coordinator.throttle,
                bodyLimit: coordinator.config.maxBodyBytes,
                tls: coordinator.config.tls != nil,
                logger: logger
            )
        )
        router.add(middleware: LeadershipMiddleware(leadership: coordinator.leadership))
        router.add(middleware: LaneMiddleware(lanes: coordinator.lanes))

        router.get("/healthz") { _, _ in "ok\n" }
        AgentRoutes(coordinator: coordinator, logger: logger).addRoutes(to: router)
        guard selection == .all else { return router }
        router.get("/metrics") { _, _ -> Response in
            var buffer: [UInt8] = []
            coordinator.metrics.emit(into: &buffer)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer))
            )
        }
        NodeRoutes(coordinator: coordinator, logger: logger).addRoutes(to: router)
        VMRoutes(coordinator: coordinator, logger: logger).addRoutes(to: router)
        CheckpointRoutes(coordinator: coordinator, logger: logger).addRoutes(to: router)
        RepairRoutes(coordinator: coordinator, logger: logger).addRoutes(to: router)
        PolicyRoutes(coordinator: coordinator, logger: logger).addRoutes(to: router)
        ClusterRoutes(coordinator: coordinator, logger: logger).addRoutes(to: router)
        DashboardRoutes(coordinator: coordinator, logger: logger).register(on: router)
        return router
    }
}
