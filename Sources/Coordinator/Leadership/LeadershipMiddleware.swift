import ChainModel
import ClusterStore
import HTTPTypes
import Hummingbird

/// What a standby coordinator answers (SPEC §7, issue 8).
///
/// Reads (and dashboard log-ins) are answered from its copy of the critical state and marked with `Chainkeeper-Role: standby`, how old that copy is (`Chainkeeper-Staleness-Ms`) and the leader's URL; agents'
/// reports are taken (they rebuild what each coordinator keeps itself); every write, heartbeat and command poll is
/// refused with 503 `not-leader` and the leader's URL. Nothing is proxied.
struct LeadershipMiddleware: RouterMiddleware {
    let leadership: Leadership

    static let role = HTTPField.Name("Chainkeeper-Role")
    static let staleness = HTTPField.Name("Chainkeeper-Staleness-Ms")
    static let leader = HTTPField.Name("Chainkeeper-Leader")

    func handle(
        _ request: Request,
        context: CoordinatorContext,
        next: (Request, CoordinatorContext) async throws -> Response
    ) async throws -> Response {
        if leadership.isLeader { return try await next(request, context) }
        let path = request.uri.path
        let agentRoute = path.hasPrefix("/v1/agents/")
        let read = (request.method == .get || request.method == .head) && !agentRoute
        let report = request.method == .post && agentRoute && path.hasSuffix("/report")
        // A dashboard session lives in this process's memory, not in the cluster: logging in to read is no write.
        let session = request.method == .post && (path == "/ui/login" || path == "/ui/logout")
        guard read || report || session else { throw leadership.notLeader() }
        var response = try await next(request, context)
        if let name = Self.role { response.headers[name] = "standby" }
        if let name = Self.staleness {
            response.headers[name] = leadership.stalenessMilliseconds().map(String.init) ?? "unknown"
        }
        if let name = Self.leader, let leader = leadership.leader { response.headers[name] = leader.url }
        return response
    }
}
