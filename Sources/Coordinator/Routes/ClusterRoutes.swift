import ChainModel
import ClusterAPI
import ClusterStore
import DecisionEngine
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOFoundationCompat

/// The cluster-wide admin routes (docs/api.md): audit, volumes, what-if, leadership, backup and query.
struct ClusterRoutes: Sendable {
    let coordinator: Coordinator
    let logger: Logger

    func addRoutes(to router: Router<CoordinatorContext>) {
        router.get("/v1/audit", use: audit)
        router.get("/v1/volumes", use: volumes)
        router.put("/v1/volumes/{volume}", use: renameVolume)
        router.get("/v1/whatif", use: whatIf)
        router.get("/v1/leadership", use: leadership)
        router.get("/v1/backup", use: backup)
        router.post("/v1/query", use: query)
    }

    @Sendable func audit(_ _: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        return try RouteSupport.json(AuditResponse(risks: try coordinator.audit().risks.map(RiskJSON.init)))
    }

    @Sendable func volumes(_ _: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        return try RouteSupport.json(Coordinator.volumeRows(try coordinator.placementView()))
    }

    @Sendable func renameVolume(_ request: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        let raw = try context.parameters.require("volume")
        let id = VolumeID(raw.removingPercentEncoding ?? raw)
        let body = try await RouteSupport.body(of: request, upTo: 4096, what: "a volume update")
        guard let update = try? JSONDecoder().decode(VolumeUpdate.self, from: Data(buffer: body)) else {
            throw APIError.badRequest("expected {\"name\": \"NAME\"}")
        }
        if let problem = NameRule.name("a volume name").violation(in: update.name) {
            throw APIError.badRequest(problem)
        }
        do {
            try coordinator.store.renameVolume(id, to: update.name, actor: "admin", at: coordinator.now())
        } catch {
            guard error.code == .danglingReference else { throw error }
            throw APIError.notFound("no volume has the id '\(id)'")
        }
        return try RouteSupport.json(["id": id.rawValue, "name": update.name])
    }

    @Sendable func whatIf(_ request: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        guard let node = request.uri.queryParameters.get("fail"), !node.isEmpty else {
            throw APIError.badRequest("name the node: ?fail=NODE")
        }
        return try RouteSupport.json(try coordinator.whatIf(NodeName(node)))
    }

    @Sendable func leadership(_ _: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        let leadership = coordinator.leadership
        let term = leadership.term
        return try RouteSupport.json(
            LeadershipJSON(
                backend: coordinator.embeddedStore ? "sqlite" : "etcd",
                role: term == nil ? "standby" : "leader",
                url: leadership.me.url,
                leader: leadership.leader?.url,
                term: term?.token,
                stalenessMs: coordinator.embeddedStore || term != nil ? nil : leadership.stalenessMilliseconds()
            )
        )
    }

    @Sendable func backup(_ _: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        // A consistent copy next to the database (same file system, never NFS), streamed, then removed.
        let path = (coordinator.config.dataDir as NSString).appendingPathComponent(
            "backup-\(UUID().uuidString.lowercased()).sqlite"
        )
        try coordinator.store.backup(to: path, at: coordinator.now())
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw APIError(.internalServerError, "backup-failed", "the backup file cannot be read back")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        logger.notice("backup taken", metadata: ["bytes": .stringConvertible(size ?? 0)])
        return Response(
            status: .ok,
            headers: [.contentType: "application/vnd.sqlite3"],
            body: ResponseBody(contentLength: size) { writer in
                defer {
                    try? handle.close()
                    try? FileManager.default.removeItem(atPath: path)
                }
                while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                    try await writer.write(ByteBuffer(bytes: chunk))
                }
                try await writer.finish(nil)
            }
        )
    }

    @Sendable func query(_ request: Request, context: CoordinatorContext) async throws -> Response {
        try context.requireAdmin()
        let body = try await RouteSupport.body(of: request, upTo: 128 * 1024, what: "a query request")
        let query: QueryRequest
        do {
            query = try JSONDecoder().decode(QueryRequest.self, from: Data(buffer: body))
        } catch {
            throw APIError.badRequest("expected {\"sql\": \"SELECT …\"}: \(RouteSupport.describe(error))")
        }
        let result: QueryResult
        do {
            result = try coordinator.store.query(query.sql)
        } catch {
            throw APIError(
                error.code == .unavailable ? .serviceUnavailable : .badRequest,
                error.code.rawValue,
                error.message
            )
        }
        return try RouteSupport.json(QueryResponse(result))
    }
}

extension QueryResponse {
    init(_ result: QueryResult) {
        self.init(
            columns: result.columns,
            rows: result.rows.map { row in
                row.map { value in
                    switch value {
                    case .null: .null
                    case .integer(let number): .integer(number)
                    case .real(let number): .real(number)
                    case .text(let text): .text(text)
                    case .blob(let count): .text("<blob of \(count) bytes>")
                    }
                }
            },
            truncated: result.truncated
        )
    }
}
