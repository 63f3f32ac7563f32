import Hummingbird

/// The per-request context: the caller's identity once authenticated, and the body limit.
public struct CoordinatorContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: Identity?
    public var bodyLimit: Int

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        identity = nil
        bodyLimit = 64 << 20
    }

    public var maxUploadSize: Int { bodyLimit }
}

/// Resolves the bearer token into an identity; refuses with 401 when it is missing or wrong.
///
/// `/healthz` and `/metrics` are open (they reveal no cluster data).
struct AuthenticationMiddleware: RouterMiddleware {
    let access: AccessControl
    let bodyLimit: Int

    func handle(
        _ request: Request,
        context: CoordinatorContext,
        next: (Request, CoordinatorContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        context.bodyLimit = bodyLimit
        if request.uri.path == "/healthz" || request.uri.path == "/metrics" { return try await next(request, context) }
        guard let header = request.headers[.authorization] else {
            throw APIError.unauthorized("a bearer token is required (Authorization: Bearer TOKEN)")
        }
        let prefix = "Bearer "
        guard header.hasPrefix(prefix), let identity = access.identify(token: String(header.dropFirst(prefix.count)))
        else {
            throw APIError.unauthorized("the bearer token is not valid")
        }
        context.identity = identity
        return try await next(request, context)
    }
}

extension CoordinatorContext {
    /// Refuses unless the caller is an administrator.
    func requireAdmin() throws {
        guard identity == .admin else { throw APIError.forbidden("this route needs an admin token") }
    }

    /// Refuses unless the caller is the agent of `node`.
    func requireAgent(of node: String) throws {
        guard identity == .agent(node: node) else {
            throw APIError.forbidden("only \(node)'s agent may act for \(node)")
        }
    }
}
