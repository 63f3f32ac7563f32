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

    func router() -> Router<CoordinatorContext> {
        let router = Router(context: CoordinatorContext.self)
        let requests = coordinator.metrics.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "chainkeeper",
                metricName: "reports",
                unitName: "total",
                helpText: "Agent reports ingested"
            )
        )
        let rejected = coordinator.metrics.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "chainkeeper",
                metricName: "inventory_errors",
                unitName: "total",
                helpText: "Inventory entries that could not be read"
            )
        )
        let heartbeats = coordinator.metrics.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "chainkeeper",
                metricName: "heartbeats",
                unitName: "total",
                helpText: "Agent heartbeats recorded"
            )
        )
        let announcement = coordinator.announcement
        router.add(
            middleware: AuthenticationMiddleware(
                access: coordinator.access,
                bodyLimit: coordinator.config.maxBodyBytes,
                tls: coordinator.config.tls != nil,
                logger: logger
            )
        )
        router.add(middleware: LeadershipMiddleware(leadership: coordinator.leadership))

        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/metrics") { _, _ -> Response in
            var buffer: [UInt8] = []
            coordinator.metrics.emit(into: &buffer)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer))
            )
        }

        router.post("/v1/agents/{node}/report") { request, context -> Response in
            let node = try context.parameters.require("node")
            try context.requireAgent(of: node)
            let body = try await Self.body(of: request, upTo: coordinator.config.maxBodyBytes, what: "the report")
            let report: AgentReport
            do {
                report = try JSONDecoder().decode(AgentReport.self, from: Data(buffer: body))
            } catch {
                throw APIError.badRequest("the report is not valid JSON for this API version: \(Self.describe(error))")
            }
            guard report.node == node else {
                throw APIError.forbidden("a report for \(report.node) cannot be posted as \(node)")
            }
            let outcome = try ReportIngest(store: coordinator.store, probeWindow: coordinator.config.probeInterval * 2)
                .ingest(report, at: coordinator.now())
            requests.increment()
            rejected.increment(by: Int64(outcome.errors))
            return try Self.json(
                ReportAnswer(
                    registered: outcome.registered,
                    updated: outcome.updated,
                    unchanged: outcome.unchanged,
                    listedOnly: outcome.listedOnly,
                    errors: outcome.errors,
                    settings: announcement
                )
            )
        }

        router.post("/v1/agents/{node}/heartbeat") { request, context -> Response in
            let node = try context.parameters.require("node")
            try context.requireAgent(of: node)
            // The body is advisory (outbox depth, and whether the agent asks for readmission); the time is the
            // coordinator's.
            let body = try? await request.body.collect(upTo: 64 * 1024)
            let beat = body.flatMap { try? JSONDecoder().decode(Heartbeat.self, from: Data(buffer: $0)) }
            let answer = try await coordinator.heartbeat(
                from: NodeName(node),
                askingReadmission: beat?.admitted == false,
                logger: logger
            )
            heartbeats.increment()
            return try Self.json(answer)
        }

        router.post("/v1/nodes/{node}/resume") { _, context -> Response in
            try context.requireAdmin()
            return try Self.json(try await coordinator.resume(try Self.node(context)))
        }

        router.post("/v1/nodes/{node}/fence-confirm") { _, context -> Response in
            try context.requireAdmin()
            return try Self.json(try await coordinator.confirmFenced(try Self.node(context), logger: logger))
        }

        router.delete("/v1/nodes/{node}") { _, context -> Response in
            try context.requireAdmin()
            return try Self.json(try await coordinator.remove(try Self.node(context)))
        }

        router.post("/v1/nodes/{node}/drain") { _, context -> Response in
            try context.requireAdmin()
            return try Self.json(try await coordinator.drain(try Self.node(context), logger: logger))
        }

        router.get("/v1/backup") { _, context -> Response in
            try context.requireAdmin()
            // A consistent copy next to the database (same file system, never NFS), streamed, then removed.
            let path = (coordinator.config.dataDir as NSString).appendingPathComponent(
                "backup-\(UUID().uuidString.lowercased()).sqlite"
            )
            try coordinator.store.backup(to: path)
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

        router.post("/v1/vms/{vm}/clear") { _, context -> Response in
            try context.requireAdmin()
            return try Self.json(try coordinator.clear(try one(try context.parameters.require("vm"))))
        }

        router.get("/v1/audit") { _, context -> Response in
            try context.requireAdmin()
            let (view, input) = try coordinator.auditSnapshot()
            return try Self.json(AuditResponse(risks: ClusterAudit.risks(in: view, input).map(RiskJSON.init)))
        }

        router.get("/v1/vms") { request, context -> Response in
            try context.requireAdmin()
            let (view, input) = try coordinator.auditSnapshot()
            let nodeFilter = request.uri.queryParameters.get("node")
            let onlyStranded = request.uri.queryParameters.get("stranded") == "true"
            let rows = Coordinator.vmSummaries(view, input, risks: ClusterAudit.risks(in: view, input))
                .filter { (nodeFilter == nil || $0.owner == nodeFilter) && (!onlyStranded || $0.stranded) }
            return try Self.json(rows)
        }

        router.get("/v1/volumes") { _, context -> Response in
            try context.requireAdmin()
            return try Self.json(Coordinator.volumeRows(try coordinator.placementView()))
        }

        router.get("/v1/leadership") { _, context -> Response in
            try context.requireAdmin()
            let leadership = coordinator.leadership
            let term = leadership.term
            return try Self.json(
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

        router.get("/v1/nodes") { _, context -> Response in
            try context.requireAdmin()
            return try Self.json(await coordinator.nodeRows(try coordinator.placementView()))
        }

        router.get("/v1/vms/{vm}") { _, context -> Response in
            try context.requireAdmin()
            let raw = try context.parameters.require("vm")
            return try Self.json(try coordinator.vmDetail(raw.removingPercentEncoding ?? raw))
        }

        router.get("/v1/vms/{vm}/check") { request, context -> Response in
            try context.requireAdmin()
            guard let target = request.uri.queryParameters.get("to"), !target.isEmpty else {
                throw APIError.badRequest("name the target node: ?to=NODE")
            }
            let (vm, view) = try judged(try context.parameters.require("vm"))
            guard view.nodes[NodeName(target)] != nil else {
                throw APIError.notFound("no node is named '\(target)'")
            }
            return try Self.json(CheckResponse(StrandRule.check(vm, to: NodeName(target), in: view)))
        }

        router.post("/v1/vms/{vm}/migrate") { request, context -> Response in
            try context.requireAdmin()
            let body = try await Self.body(of: request, upTo: 64 * 1024, what: "a migration request")
            let ask: MigrateRequest
            do {
                ask = try JSONDecoder().decode(MigrateRequest.self, from: Data(buffer: body))
            } catch {
                throw APIError.badRequest("expected {\"target\": \"NODE\"}: \(Self.describe(error))")
            }
            let (vm, view) = try judged(try context.parameters.require("vm"))
            guard view.nodes[NodeName(ask.target)] != nil else {
                throw APIError.notFound("no node is named '\(ask.target)'")
            }
            let outcome = try await Migrator(coordinator: coordinator, logger: logger)
                .migrate(vm, to: NodeName(ask.target), view: view, requestedBy: "admin")
            return try Self.json(outcome)
        }

        router.get("/v1/vms/{vm}/policy") { _, context -> Response in
            try context.requireAdmin()
            let vm = try one(try context.parameters.require("vm"))
            return try Self.json(try policyJSON(vm, coordinator.store.policy(for: vm.id) ?? .default))
        }

        router.put("/v1/vms/{vm}/policy") { request, context -> Response in
            try context.requireAdmin()
            let vm = try one(try context.parameters.require("vm"))
            let body = try await Self.body(of: request, upTo: 64 * 1024, what: "a policy update")
            let update: PolicyUpdate
            do {
                update = try JSONDecoder().decode(PolicyUpdate.self, from: Data(buffer: body))
            } catch {
                throw APIError.badRequest("the policy update is not valid JSON: \(Self.describe(error))")
            }
            var policy = update.clear ? .default : (try coordinator.store.policy(for: vm.id) ?? .default)
            let known = Set(try coordinator.store.nodes().map(\.name.rawValue))
            func nodes(_ names: [String]) throws -> [NodeName] {
                for name in names where !known.contains(name) { throw APIError.notFound("no node is named '\(name)'") }
                return names.map(NodeName.init(rawValue:))
            }
            if let value = update.highlyAvailable { policy.highlyAvailable = value }
            if let value = update.possibleOwners { policy.possibleOwners = try nodes(value) }
            if let value = update.preferredOwners { policy.preferredOwners = try nodes(value) }
            if let value = update.antiAffinityClass {
                guard value.isEmpty || (value.utf8.count <= 255 && !value.unicodeScalars.contains { $0.value < 0x20 })
                else { throw APIError.badRequest("an anti-affinity class is a printable name of at most 255 bytes") }
                policy.antiAffinityClass = value.isEmpty ? nil : value
            }
            if let value = update.priority {
                guard let priority = FailoverPriority(rawValue: value) else {
                    throw APIError.badRequest("priority must be high, medium, low or none, got '\(value)'")
                }
                policy.priority = priority
            }
            if let value = update.maxFailovers {
                guard value >= 0 else { throw APIError.badRequest("max-failovers must not be negative") }
                policy.threshold.maxFailovers = value
            }
            if let value = update.failoverPeriod {
                guard let period = DurationText.parse(value), period > .zero else {
                    throw APIError.badRequest("failover-period must be a duration such as \"6h\", got '\(value)'")
                }
                policy.threshold.period = period
            }
            if !policy.possibleOwners.isEmpty,
                let stray = policy.preferredOwners.first(where: { !policy.possibleOwners.contains($0) })
            {
                throw APIError.badRequest("preferred owner \(stray) is not one of the possible owners")
            }
            try await coordinator.critical.savePolicy(policy, for: vm.id)
            return try Self.json(try policyJSON(vm, policy))
        }

        router.put("/v1/classes/{class}") { request, context -> Response in
            try context.requireAdmin()
            let raw = try context.parameters.require("class")
            let name = raw.removingPercentEncoding ?? raw
            let body = try await Self.body(of: request, upTo: 4096, what: "a class update")
            guard let update = try? JSONDecoder().decode(ClassUpdate.self, from: Data(buffer: body)) else {
                throw APIError.badRequest("expected {\"enforced\": true|false}")
            }
            guard !name.isEmpty, name.utf8.count <= 255, !name.unicodeScalars.contains(where: { $0.value < 0x20 })
            else {
                throw APIError.badRequest("an anti-affinity class is a printable name of at most 255 bytes")
            }
            try await coordinator.critical.saveClass(AntiAffinityClass(name: name, enforced: update.enforced))
            return try Self.json(["name": name, "enforced": update.enforced ? "true" : "false"])
        }

        router.get("/v1/whatif") { request, context -> Response in
            try context.requireAdmin()
            guard let node = request.uri.queryParameters.get("fail"), !node.isEmpty else {
                throw APIError.badRequest("name the node: ?fail=NODE")
            }
            return try Self.json(WhatIfResponse(try coordinator.whatIfFails(NodeName(node))))
        }

        router.get("/v1/history") { request, context -> Response in
            try context.requireAdmin()
            var vmID: VMID?
            if let key = request.uri.queryParameters.get("vm") {
                vmID = try one(key).id
            }
            return try Self.json(try coordinator.historyRows(vm: vmID))
        }

        router.get("/v1/agents/{node}/commands") { request, context -> Response in
            let node = try context.parameters.require("node")
            try context.requireAgent(of: node)
            let seconds = min(max(Int(request.uri.queryParameters.get("wait") ?? "25") ?? 25, 0), 60)
            let commands = await coordinator.board.poll(node: node, wait: .seconds(seconds))
            return try Self.json(commands)
        }

        router.post("/v1/agents/{node}/commands/{id}") { request, context -> Response in
            let node = try context.parameters.require("node")
            try context.requireAgent(of: node)
            let id = try context.parameters.require("id")
            let body = try await Self.body(of: request, upTo: 1 << 20, what: "a command result")
            let result: CommandResult
            do {
                result = try JSONDecoder().decode(CommandResult.self, from: Data(buffer: body))
            } catch {
                throw APIError.badRequest("the command result is not valid JSON: \(Self.describe(error))")
            }
            guard await coordinator.board.complete(id, from: node, with: result) else {
                throw APIError.notFound("no command \(id) is waiting for \(node)'s answer (it may have timed out)")
            }
            return try Self.json(["accepted": true])
        }

        router.post("/v1/query") { request, context -> Response in
            try context.requireAdmin()
            let body = try await Self.body(of: request, upTo: 128 * 1024, what: "a query request")
            let query: QueryRequest
            do {
                query = try JSONDecoder().decode(QueryRequest.self, from: Data(buffer: body))
            } catch {
                throw APIError.badRequest("expected {\"sql\": \"SELECT …\"}: \(Self.describe(error))")
            }
            let result: QueryResult
            do {
                result = try coordinator.store.query(query.sql)
            } catch let error as QueryError {
                throw APIError(
                    error.code == .unavailable ? .serviceUnavailable : .badRequest,
                    error.code.rawValue,
                    error.message
                )
            }
            return try Self.json(
                QueryResponse(
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
            )
        }

        DashboardRoutes(coordinator: coordinator, logger: logger).register(on: router)
        return router
    }

    /// The node a path parameter names (percent-encoded by the CLI, as VM names are).
    static func node(_ context: CoordinatorContext) throws -> NodeName {
        let raw = try context.parameters.require("node")
        return NodeName(raw.removingPercentEncoding ?? raw)
    }

    /// Exactly one VM by id or name (404 none, 409 several), read in full.
    private func one(_ raw: String) throws -> VM {
        let key = raw.removingPercentEncoding ?? raw
        let vms = try coordinator.store.vms(matching: key)
        guard let vm = vms.first else { throw APIError.notFound("no VM is named or identified '\(key)'") }
        guard vms.count == 1 else {
            throw APIError(
                .conflict,
                "ambiguous",
                "\(vms.count) VMs are named '\(key)'; use an id: " + vms.map(\.id.rawValue).joined(separator: ", ")
            )
        }
        return vm
    }

    private func policyJSON(_ vm: VM, _ policy: PlacementPolicy) throws -> PolicyJSON {
        PolicyJSON(
            vm: vm.name,
            vmId: vm.id.rawValue,
            highlyAvailable: policy.highlyAvailable,
            effectiveHighlyAvailable: policy.highlyAvailable ?? vm.highlyAvailable,
            possibleOwners: policy.possibleOwners.map(\.rawValue),
            preferredOwners: policy.preferredOwners.map(\.rawValue),
            antiAffinityClass: policy.antiAffinityClass,
            antiAffinityEnforced: try policy.antiAffinityClass.flatMap { try coordinator.store.classEnforced($0) },
            priority: policy.priority.rawValue,
            maxFailovers: policy.threshold.maxFailovers,
            failoverPeriod: DurationText.format(policy.threshold.period)
        )
    }

    private func judged(_ raw: String) throws -> (VM, ClusterView) {
        try coordinator.judged(raw.removingPercentEncoding ?? raw)
    }

    /// A request's body, or 413 `too-large` with the limit when it is larger (the error shape of every route).
    static func body(of request: Request, upTo limit: Int, what: String) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: limit)
        } catch {
            // Collecting fails only past the limit, or when the client is gone (then no answer reaches it).
            throw APIError(.contentTooLarge, "too-large", "\(what) is limited to \(limit) bytes")
        }
    }

    static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = try encoder.encode(value)
        return Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: body))
        )
    }

    /// A decoding error without the coordinator's internals.
    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "wrong type at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted: "malformed JSON"
        default: "unreadable body"
        }
    }
}

extension StoreError: HTTPResponseError {
    public var status: HTTPResponse.Status { code == .unavailable ? .serviceUnavailable : .conflict }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        try APIError(status, code.rawValue, message).response(from: request, context: context)
    }
}
