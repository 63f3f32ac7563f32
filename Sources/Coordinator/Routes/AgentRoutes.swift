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

/// The routes agents use (served by `listen` and by `agentListen`): reports on the report lane, heartbeats, command polls and answers on none.
struct AgentRoutes: Sendable {
    let coordinator: Coordinator
    let logger: Logger
    let reports: Counter
    let rejected: Counter
    let heartbeats: Counter
    /// How long the coordinator took to answer each heartbeat, from the route's start to its answer.
    let heartbeatHandling: DurationHistogram
    /// How long each phase of a report took (`ReportPhases`), by phase.
    let reportPhases: [ReportPhases.Phase: DurationHistogram]

    init(coordinator: Coordinator, logger: Logger) {
        self.coordinator = coordinator
        self.logger = logger
        reports = coordinator.metrics.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "chainkeeper",
                metricName: "reports",
                unitName: "total",
                helpText: "Agent reports ingested"
            )
        )
        rejected = coordinator.metrics.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "chainkeeper",
                metricName: "inventory_errors",
                unitName: "total",
                helpText: "Inventory entries that could not be read"
            )
        )
        heartbeats = coordinator.metrics.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "chainkeeper",
                metricName: "heartbeats",
                unitName: "total",
                helpText: "Agent heartbeats recorded"
            )
        )
        heartbeatHandling = coordinator.metrics.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "chainkeeper",
                metricName: "heartbeat_handling",
                unitName: "seconds",
                helpText: "Time the coordinator took to answer a heartbeat (decoding, the lease, the answer)"
            ),
            buckets: [1, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 2500].map { Duration.milliseconds($0) }
        )
        var phases: [ReportPhases.Phase: DurationHistogram] = [:]
        for phase in ReportPhases.Phase.allCases {
            phases[phase] = coordinator.metrics.makeDurationHistogram(
                descriptor: MetricNameDescriptor(
                    namespace: "chainkeeper",
                    metricName: "report_phase",
                    unitName: "seconds",
                    helpText: "Time an agent report spent in each phase (body, decode, validate, model, store)"
                ),
                labels: [("phase", phase.rawValue)],
                buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000].map { Duration.milliseconds($0) }
            )
        }
        reportPhases = phases
    }

    func addRoutes(to router: Router<CoordinatorContext>) {
        router.post("/v1/agents/{node}/report", use: report)
        router.post("/v1/agents/{node}/metadata", use: metadata)
        router.post("/v1/agents/{node}/heartbeat", use: heartbeat)
        router.get("/v1/agents/{node}/commands", use: commands)
        router.post("/v1/agents/{node}/commands/{id}", use: answer)
    }

    @Sendable func report(_ request: Request, context: CoordinatorContext) async throws -> Response {
        let node = try context.parameters.require("node")
        try context.requireAgent(of: node)
        var phases = ReportPhases()
        let body = try await RouteSupport.body(of: request, upTo: coordinator.config.maxBodyBytes, what: "the report")
        phases.end(.body)
        let data = Data(buffer: body)
        // A large report's entries are read while the store applies the ones before (`ReportPipeline`).
        let split = ReportDecoding.header(of: data)
        let report: AgentReport
        do {
            report = try split?.report ?? ReportDecoding.decode(data)
            phases.end(.decode)
        } catch {
            throw APIError.badRequest(
                "the report is not valid JSON for this API version: \(RouteSupport.describe(error))"
            )
        }
        guard report.node == node else {
            throw APIError.forbidden("a report for \(report.node) cannot be posted as \(node)")
        }
        do {
            if let split {
                try report.validate(vmsChecked: nil, entries: split.entries.count)
            } else {
                // The entries on two threads, as they were decoded.
                let vmErrors = ReportDecoding.halves(of: report.vms.count) { [report] in report.firstVMError(in: $0) }
                try report.validate(vmsChecked: vmErrors.lazy.compactMap { $0 }.first)
            }
            phases.end(.validate)
        } catch {
            throw refused(error, from: node)
        }
        let knownVolumes = Set(report.volumes.map(\.id))
        let rest = split.map {
            ReportPipeline(
                body: data,
                entries: $0.entries,
                node: NodeName(node),
                knownVolumes: knownVolumes,
                keyOf: ReportIngest.reportKey(node: NodeName(node), volumes: knownVolumes)
            )
        }
        let rebuilding = coordinator.rebuild.isOpen
        let outcome: ReportOutcome
        do {
            outcome = try ReportIngest(
                store: coordinator.store,
                probeWindow: coordinator.config.probeInterval * 2,
                rebuildingOwnership: rebuilding
            )
            .ingest(report, rest: rest, at: coordinator.now(), phases: &phases)
        } catch let error as StoreError where error.code == .reportIncomplete {
            switch rest?.failure {
            case .field(let field)?: throw refused(field, from: node)
            case .json(let decoding)?:
                throw APIError.badRequest(
                    "the report is not valid JSON for this API version: \(RouteSupport.describe(decoding))"
                )
            case nil: throw error
            }
        } catch {
            // Nobody will ask for the rest of the entries.
            rest?.cancel()
            throw error
        }
        if let rest {
            let spent = rest.spent
            phases.spentAhead(.decode, spent.decode)
            phases.spentAhead(.validate, spent.validate)
            phases.spentAhead(.model, spent.model)
        }
        for (phase, spent) in phases.spent + phases.ahead { reportPhases[phase]?.record(spent) }
        // Every report at debug; one past the SPEC's 1 s target at notice, with where its time went.
        logger.log(
            level: phases.total > .seconds(1) ? .notice : .debug,
            "report ingested in \(phases.summary)",
            metadata: [
                "node": .string(node), "registered": "\(outcome.registered)", "updated": "\(outcome.updated)",
                "unchanged": "\(outcome.unchanged)", "resend": "\(outcome.resend.count)",
            ]
        )
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
            settings: coordinator.announcement
        )
        if !outcome.unverifiedSharedVolumes.isEmpty { answer.probeAgain = true }
        if !outcome.missingMetadata.isEmpty { answer.missingMetadata = outcome.missingMetadata.map(\.rawValue) }
        if !outcome.resend.isEmpty { answer.resendVMs = outcome.resend.map(\.rawValue) }
        return try RouteSupport.json(answer)
    }

    /// A report refused for a value out of its bound: logged, and a 400 naming the field.
    private func refused(_ error: ReportFieldError, from node: String) -> APIError {
        logger.warning("refused a report: \(error.field): \(error.message)", metadata: ["node": .string(node)])
        return APIError.invalidField(error, in: "the report")
    }

    @Sendable func heartbeat(_ request: Request, context: CoordinatorContext) async throws -> Response {
        let started = ContinuousClock.now
        defer { heartbeatHandling.record(ContinuousClock.now - started) }
        let node = try context.parameters.require("node")
        try context.requireAgent(of: node)
        // The body is advisory (outbox depth, and whether the agent asks for readmission); the time is the
        // coordinator's.
        let body = try? await request.body.collect(upTo: 256 * 1024)
        let beat = body.flatMap { try? JSONDecoder().decode(Heartbeat.self, from: Data(buffer: $0)) }
        let answer = try await coordinator.heartbeat(
            from: NodeName(node),
            askingReadmission: beat?.admitted == false,
            storage: beat?.storage,
            isolationStopDigest: beat?.isolationStopDigest.map { String($0.prefix(64)) },
            logger: logger
        )
        heartbeats.increment()
        return try RouteSupport.json(answer)
    }

    @Sendable func commands(_ request: Request, context: CoordinatorContext) async throws -> Response {
        let node = try context.parameters.require("node")
        try context.requireAgent(of: node)
        let seconds = min(max(Int(request.uri.queryParameters.get("wait") ?? "25") ?? 25, 0), 60)
        let commands = await coordinator.board.poll(node: node, wait: .seconds(seconds))
        return try RouteSupport.json(commands)
    }

    @Sendable func answer(_ request: Request, context: CoordinatorContext) async throws -> Response {
        let node = try context.parameters.require("node")
        try context.requireAgent(of: node)
        let id = try context.parameters.require("id")
        let body = try await RouteSupport.body(of: request, upTo: 1 << 20, what: "a command result")
        let result: CommandResult
        do {
            result = try JSONDecoder().decode(CommandResult.self, from: Data(buffer: body))
        } catch {
            throw APIError.badRequest("the command result is not valid JSON: \(RouteSupport.describe(error))")
        }
        guard await coordinator.board.complete(id, from: node, with: result.sanitized()) else {
            throw APIError.notFound("no command \(id) is waiting for \(node)'s answer (it may have timed out)")
        }
        return try RouteSupport.json(["accepted": true])
    }
}
