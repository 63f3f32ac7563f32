import ChainModel
import ClusterAPI
import ClusterStore
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOFoundationCompat
import Prometheus

extension CoordinatorRoutes {
    /// The routes agents use (served by `listen` and by `agentListen`).
    func registerAgentRoutes(on router: Router<CoordinatorContext>) {
        let reports = coordinator.metrics.makeCounter(
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

        // On the report lane (`LaneMiddleware`): decoding and writing a large report blocks only that lane's thread.
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
            do {
                try report.validate()
            } catch let error as ReportFieldError {
                logger.warning(
                    "refused a report: \(error.field): \(error.message)",
                    metadata: ["node": .string(node)]
                )
                throw APIError.invalidField(error, in: "the report")
            }
            let rebuilding = coordinator.rebuild.isOpen
            let outcome = try ReportIngest(
                store: coordinator.store,
                probeWindow: coordinator.config.probeInterval * 2,
                rebuildingOwnership: rebuilding
            )
            .ingest(report, at: coordinator.now())
            coordinator.rebuild.reported(NodeName(node))
            if outcome.rebuilt > 0 {
                logger.notice(
                    "ownership rebuilt from a report: \(outcome.rebuilt) VM(s) now owned by \(node) at the epoch it holds",
                    metadata: ["node": .string(node)]
                )
            }
            reports.increment()
            rejected.increment(by: Int64(outcome.errors))
            var answer = ReportAnswer(
                registered: outcome.registered,
                updated: outcome.updated,
                unchanged: outcome.unchanged,
                listedOnly: outcome.listedOnly,
                errors: outcome.errors,
                settings: announcement
            )
            if !outcome.unverifiedSharedVolumes.isEmpty { answer.probeAgain = true }
            return try Self.json(answer)
        }

        // On no lane: nothing here blocks on more than one small read.
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
            guard await coordinator.board.complete(id, from: node, with: result.sanitized()) else {
                throw APIError.notFound("no command \(id) is waiting for \(node)'s answer (it may have timed out)")
            }
            return try Self.json(["accepted": true])
        }
    }
}
