import ChainModel
import ClusterAPI
import ClusterStore
import DecisionEngine
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOFoundationCompat

extension CoordinatorRoutes {
    /// The routes administrators use (the CLI's), served by `listen` only, on the admin lane.
    func registerAdminRoutes(on router: Router<CoordinatorContext>) {
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
                if !value.isEmpty, let problem = NameRule.name("an anti-affinity class").violation(in: value) {
                    throw APIError.badRequest(problem)
                }
                policy.antiAffinityClass = value.isEmpty ? nil : value
            }
            if let value = update.priority {
                guard let priority = FailoverPriority(rawValue: value) else {
                    throw APIError.badRequest("priority must be high, medium, low or none, got '\(value)'")
                }
                policy.priority = priority
            }
            if let value = update.maxFailovers {
                guard (0...PlacementPolicy.maxFailoversBound).contains(value) else {
                    throw APIError.badRequest(
                        "max-failovers must lie within 0...\(PlacementPolicy.maxFailoversBound), got \(value)"
                    )
                }
                policy.threshold.maxFailovers = value
            }
            if let value = update.failoverPeriod {
                guard let period = DurationText.parse(value), period > .zero,
                    period <= PlacementPolicy.failoverPeriodBound
                else {
                    throw APIError.badRequest(
                        "failover-period must be a duration such as \"6h\", at most "
                            + "\(DurationText.format(PlacementPolicy.failoverPeriodBound)), got '\(value)'"
                    )
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
            if let problem = NameRule.name("an anti-affinity class").violation(in: name) {
                throw APIError.badRequest(problem)
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

        router.put("/v1/volumes/{volume}") { request, context -> Response in
            try context.requireAdmin()
            let raw = try context.parameters.require("volume")
            let id = VolumeID(raw.removingPercentEncoding ?? raw)
            let body = try await Self.body(of: request, upTo: 4096, what: "a volume update")
            guard let update = try? JSONDecoder().decode(VolumeUpdate.self, from: Data(buffer: body)) else {
                throw APIError.badRequest("expected {\"name\": \"NAME\"}")
            }
            if let problem = NameRule.name("a volume name").violation(in: update.name) {
                throw APIError.badRequest(problem)
            }
            do {
                try coordinator.store.renameVolume(id, to: update.name, actor: "admin", at: coordinator.now())
            } catch let error as StoreError where error.code == .danglingReference {
                throw APIError.notFound("no volume has the id '\(id)'")
            }
            return try Self.json(["id": id.rawValue, "name": update.name])
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
            return try Self.json(QueryResponse(result))
        }

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
