import ArgumentParser

/// The administrator's command line.
///
/// Commands that talk to the coordinator arrive with the cluster-core issue; the local ones work without a coordinator.
@main
struct Chainkeeper: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chainkeeper",
        abstract: "Inspect and move highly available VMs together with their whole snapshot chains.",
        version: ChainkeeperVersion.current,
        subcommands: [
            InspectCommand.self, VolumeCommand.self, NodesCommand.self, VolumesCommand.self, VMsCommand.self,
            VMCommand.self, AuditCommand.self, CheckCommand.self, MigrateCommand.self, HistoryCommand.self,
            PolicyCommand.self, WhatIfCommand.self, QueryCommand.self, NodeCommand.self, DrainCommand.self,
            CACommand.self, TokenCommand.self, BackupCommand.self, DemoCommand.self, CheckpointCommand.self,
            RepairCommand.self,
        ]
    )
}
