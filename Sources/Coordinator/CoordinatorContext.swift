import ChainModel
import ClusterTLS
import Hummingbird
import Logging
import NIOCore
import NIOSSL

/// The per-request context: the caller's identity once authenticated, and the body limit.
public struct CoordinatorContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: Identity?
    /// Which credential proved `identity` (`bearer:DIGEST` or `certificate:NAME`): what a dashboard form token is
    /// bound to.
    public var credential: String?
    public var bodyLimit: Int
    /// The connection, for the client certificate it presented.
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        identity = nil
        credential = nil
        bodyLimit = 64 << 20
        channel = source.channel
    }

    public var maxUploadSize: Int { bodyLimit }
}

/// Resolves the caller into an identity, or refuses with 401.
///
/// The bearer token when one is given, else (with TLS) the client certificate's subject (`OU=node, CN=NODE` → that
/// node's agent; `OU=admin` → an administrator).
///
/// `/healthz` and `/metrics` are open (they reveal no cluster data). Dashboard requests (`/ui…`) without a bearer
/// token or certificate go on without an identity: the dashboard looks for its session cookie, and sends anyone
/// without one to its log-in form (`DashboardGate`).
struct AuthenticationMiddleware: RouterMiddleware {
    let access: AccessHolder
    /// Slows repeated failures from one address (429 after a pause).
    let throttle: AuthenticationThrottle
    let bodyLimit: Int
    let tls: Bool
    let logger: Logger

    func handle(
        _ request: Request,
        context: CoordinatorContext,
        next: (Request, CoordinatorContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        context.bodyLimit = bodyLimit
        if request.uri.path == "/healthz" || request.uri.path == "/metrics" { return try await next(request, context) }
        guard let header = request.headers[.authorization] else {
            if tls, let (identity, name) = try await certificateIdentity(context) {
                context.identity = identity
                context.credential = "certificate:\(name)"
                do {
                    return try await next(request, context)
                } catch let error as APIError where error.status == .forbidden {
                    logger.warning(
                        "refused \(request.method) \(request.uri.path): \(error.message)",
                        metadata: ["caller": .string("\(identity) by certificate")]
                    )
                    throw error
                }
            }
            if DashboardGate.isDashboard(request.uri.path) { return try await next(request, context) }
            logger.warning("refused \(request.method) \(request.uri.path): no client certificate and no bearer token")
            throw APIError.unauthorized(
                tls
                    ? "a client certificate issued by the cluster CA, or a bearer token, is required"
                    : "a bearer token is required (Authorization: Bearer TOKEN)"
            )
        }
        let prefix = "Bearer "
        let token = String(header.dropFirst(prefix.count))
        guard header.hasPrefix(prefix), let identity = access.access.identify(token: token) else {
            let address = context.channel.remoteAddress?.ipAddress ?? "unknown"
            if let wait = throttle.failed(from: address) {
                // Over the limit: every further guess from this address costs its sender a second.
                try await Task.sleep(for: .seconds(1))
                throw APIError(
                    .tooManyRequests,
                    "throttled",
                    "too many requests with invalid tokens from \(address); retry in \(wait) s with a valid token",
                    retryAfterSeconds: wait
                )
            }
            logger.warning(
                "refused \(request.method) \(PrintableText.escape(request.uri.path)): the bearer token is not valid",
                metadata: ["address": .string(address)]
            )
            throw APIError.unauthorized("the bearer token is not valid")
        }
        context.identity = identity
        context.credential = "bearer:" + AccessControl.fingerprint(of: token)
        do {
            return try await next(request, context)
        } catch let error as APIError where error.status == .forbidden {
            logger.warning(
                "refused \(request.method) \(request.uri.path): \(error.message)",
                metadata: ["caller": .string("\(identity)")]
            )
            throw error
        }
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

extension AuthenticationMiddleware {
    /// The identity the verified client certificate names, if one was presented (TLS already checked its chain and
    /// validity against `clientCA`).
    func certificateIdentity(_ context: CoordinatorContext) async throws -> (Identity, name: String)? {
        guard let certificate = try? await context.channel.nioSSL_peerCertificate().get() else { return nil }
        guard let subject = CertificateSubject(certificate) else {
            logger.warning(
                "refused a client certificate without a Chainkeeper subject (O=Chainkeeper, OU=role, CN=name)"
            )
            return nil
        }
        switch subject.role {
        case "node": return (.agent(node: subject.name), subject.name)
        case "admin": return (.admin, subject.name)
        default:
            logger.warning("refused a \(subject.role) certificate used as a client certificate (\(subject.name))")
            return nil
        }
    }
}
