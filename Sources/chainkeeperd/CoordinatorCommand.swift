import ArgumentParser
import ChainModel
import ClusterStore
import ConfigFile
import Coordinator
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

/// `chainkeeperd coordinator --config FILE`: the cluster service.
struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run the coordinator: the cluster database and the HTTP API agents and admins use."
    )

    @Option(help: "The coordinator's config file (YAML or JSON).")
    var config: String

    func run() async throws {
        DaemonSupport.bootstrapLogging()
        let logger = Logger(label: "chainkeeperd.coordinator")
        let loaded: (config: CoordinatorConfig, warnings: [String])
        do {
            loaded = try CoordinatorConfig.load(path: config, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw DaemonSupport.startupFailure(error.message)
        }
        for warning in loaded.warnings { logger.warning("\(warning)") }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let coordinator: Coordinator
        do {
            coordinator = try Coordinator(config: loaded.config, metrics: registry)
        } catch {
            throw DaemonSupport.startupFailure(error.message)
        }
        let application: any Service
        var agentApplication: (any Service)?
        do {
            application = try coordinator.application(logger: logger)
            agentApplication = try coordinator.agentApplication(logger: logger)
        } catch {
            throw DaemonSupport.startupFailure("\(error)")
        }
        let descriptors = DaemonSupport.raiseFileDescriptorLimit()
        let limits = loaded.config.limits
        if let descriptors, descriptors < limits.connections * (agentApplication == nil ? 1 : 2) + 256 {
            logger.warning(
                """
                this process may open \(descriptors) files, fewer than limits.connections (\(limits.connections)) per \
                listener plus room for the database and hooks: raise LimitNOFILE, or lower limits.connections
                """
            )
        }
        do {
            for value in try coordinator.store.valuesOutOfBounds() {
                logger.warning(
                    "stored value out of bounds (clamped where it is used; the next report replaces it): \(value)"
                )
            }
        } catch {
            logger.warning("cannot check the stored values' bounds: \(error)")
        }
        if let reason = coordinator.ownershipRebuildReason {
            let lease = DurationText.format(loaded.config.leaseTTL)
            logger.notice(
                """
                \(reason): for one lease (\(lease)) a node that reports a VM at a higher epoch than the database \
                becomes its owner (SPEC §6); after that a report never moves a VM
                """
            )
        }
        let address = "\(loaded.config.listenHost):\(loaded.config.listenPort)"
        if let agentListen = loaded.config.agentListen {
            logger.notice(
                """
                agent routes also on \(agentListen.host):\(agentListen.port) (agentListen): point agents there, so \
                that admin and dashboard clients never compete with their heartbeats
                """
            )
        }
        if loaded.config.tls != nil {
            logger.notice(
                "coordinator listening on https://\(address); client certificates from the cluster CA accepted"
            )
        } else {
            logger.notice(
                """
                coordinator listening on http://\(address) with plain HTTP: bearer tokens cross the network in clear, \
                keep it on loopback or a trusted network (or configure tls)
                """
            )
        }
        let failoverState = loaded.config.failoverEnabled ? "enabled" : "disabled"
        let lease = DurationText.format(loaded.config.leaseTTL)
        logger.notice(
            "failover \(failoverState); no node is declared down for one lease (\(lease)) after start",
            metadata: ["fenceCommand": .string(loaded.config.fenceCommand == nil ? "none" : "configured")]
        )
        // Concurrently with serving: a migration that must roll forward needs its agents to poll for the adopt. On
        // etcd, whichever coordinator wins the election recovers instead.
        let recovery = Task {
            if coordinator.embeddedStore { await coordinator.recoverMigrations(logger: logger) }
        }
        let warming = Task { await coordinator.warmAudit(logger: logger) }
        if case .etcd(let endpoints, let prefix) = loaded.config.store {
            let lease = DurationText.format(loaded.config.leaderLeaseTTL)
            let members = endpoints.joined(separator: ", ")
            logger.notice(
                """
                critical state in etcd (\(members), prefix \(prefix)); a standby until elected, leader lease \(lease), \
                advertised as \(loaded.config.advertisedURL)
                """
            )
        }
        let group = ServiceGroup(
            services: [application] + (agentApplication.map { [$0] } ?? []) + [
                coordinator.leadershipLoop(logger: logger), coordinator.failoverLoop(logger: logger),
                coordinator.shutdownHelper,
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        // SIGHUP: read the config again and take its tokens and TLS files (rotation without a restart).
        let path = config
        let reload = Task {
            for await _ in await UnixSignalsSequence(trapping: .sighup) {
                let fresh: CoordinatorConfig
                do {
                    fresh = try CoordinatorConfig.load(path: path, environment: ProcessInfo.processInfo.environment)
                        .config
                } catch {
                    logger.error("SIGHUP: \(path) not reloaded, the running tokens and certificates stay: \(error)")
                    continue
                }
                coordinator.reloadTokens(from: fresh)
                logger.notice("SIGHUP: tokens reloaded from \(path)")
                do {
                    if try coordinator.reloadTLS(from: fresh) {
                        logger.notice("SIGHUP: certificates reloaded (server certificate and client CA)")
                    }
                } catch {
                    logger.error("SIGHUP: certificates not reloaded, the running ones stay: \(error)")
                }
            }
        }
        try await group.run()
        reload.cancel()
        recovery.cancel()
        warming.cancel()
        logger.notice("coordinator stopped")
    }
}
