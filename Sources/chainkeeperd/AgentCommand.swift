import AgentService
import ArgumentParser
import ConfigFile
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// `chainkeeperd agent --config FILE`: the node agent.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run a node agent: discover volumes and VMs, walk every disk chain, and report to the coordinator."
    )

    @Option(help: "The agent's config file (YAML or JSON).")
    var config: String

    func run() async throws {
        DaemonSupport.bootstrapLogging()
        let loaded: (config: AgentConfig, warnings: [String])
        do {
            loaded = try AgentConfig.load(path: config, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw DaemonSupport.startupFailure(error.message)
        }
        var logger = Logger(label: "chainkeeperd.agent")
        logger[metadataKey: "node"] = .string(loaded.config.node)
        for warning in loaded.warnings { logger.warning("\(warning)") }
        let agent: AgentService
        do {
            agent = try AgentService(
                config: loaded.config,
                logger: logger,
                watchdogExecutable: DaemonSupport.ownExecutable()
            )
        } catch {
            throw DaemonSupport.startupFailure(error.message)
        }
        if loaded.config.coordinators.contains(where: { $0.hasPrefix("http://") }) {
            logger.notice("talking plain HTTP to the coordinator: keep it on loopback or a trusted network")
        }
        let group = ServiceGroup(services: [agent], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}
