import Hummingbird
import Prometheus

/// Sends each request to its lane (`WorkLane`): reports to the ingest lane, every admin and dashboard request to the
/// admin lane, and agents' heartbeats, command polls and command results, `/healthz` and `/metrics` to none, so that
/// nothing an administrator or a large report does can hold a lease renewal (issue 20).
struct LaneMiddleware: RouterMiddleware {
    let lanes: WorkLanes

    func handle(
        _ request: Request,
        context: CoordinatorContext,
        next: (Request, CoordinatorContext) async throws -> Response
    ) async throws -> Response {
        guard let lane = lanes.lane(for: request.uri.path) else { return try await next(request, context) }
        return try await lane.run { try await next(request, context) }
    }
}

/// The coordinator's lanes.
final class WorkLanes: Sendable {
    /// Admin and dashboard requests: queries, audits, migrations, backups.
    let admin: WorkLane
    /// Agents' reports: decoding and writing them.
    let ingest: WorkLane
    /// The failover manager's rounds: reading the cluster, recording decisions.
    let failover: WorkLane
    /// The failovers themselves (`failover.concurrency` at a time): their reads and journal writes block these
    /// threads, so that one VM's read overlaps another's commit, and never the manager's round.
    let failoverRuns: WorkLane

    init(limits: ServerLimits, metrics: PrometheusCollectorRegistry) {
        // Admin work and reports run at a lower priority than the event loops and heartbeats: on a busy 2-core
        // machine two endless queries must not take the CPU a lease renewal needs.
        admin = WorkLane(
            name: "admin",
            threads: limits.adminWorkers,
            queue: limits.adminQueue,
            niceness: 10,
            metrics: metrics
        )
        ingest = WorkLane(name: "report", threads: 1, queue: limits.reportQueue, niceness: 10, metrics: metrics)
        failover = WorkLane(name: "failover", threads: 1, queue: 0, metrics: metrics)
        failoverRuns = WorkLane(name: "failover-runs", threads: 4, queue: 0, metrics: metrics)
    }

    func lane(for path: String) -> WorkLane? {
        if path == "/healthz" || path == "/metrics" { return nil }
        if path.hasPrefix("/v1/agents/") {
            // /v1/agents/{node}/report and /v1/agents/{node}/metadata
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            return parts.count == 5 && (parts[4] == "report" || parts[4] == "metadata") ? ingest : nil
        }
        return admin
    }
}
