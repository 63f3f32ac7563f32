import ArgumentParser

/// The daemons: the coordinator, the node agent and its watchdog.
///
/// Each role is a subcommand; the watchdog is started by the agent.
@main
struct Chainkeeperd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chainkeeperd",
        abstract: "Chainkeeper's cluster daemons (coordinator, agent, watchdog).",
        version: "0.1.0",
        subcommands: [CoordinatorCommand.self, AgentCommand.self, WatchdogCommand.self]
    )
}
