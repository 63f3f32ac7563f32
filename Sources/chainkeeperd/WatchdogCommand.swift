import ArgumentParser
import ChainModel
import Foundation
import ShellHooks

/// `chainkeeperd watchdog`: started by the agent, not by hand (SPEC §2, §6).
struct WatchdogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watchdog",
        abstract: "Fence this node when its agent stops feeding the watchdog (started by the agent)."
    )

    @Option(help: "The feed file the agent writes.") var feed: String
    @Option(help: "This node's name (CHAINKEEPER_NODE for the hook).") var node: String
    @Option(help: "The agent's fence hook, run through /bin/sh -c.") var fenceHook: String?
    @Option(help: "How long the fence hook may run, e.g. 60s.") var hookTimeout: String = "60s"
    @Option(help: "Without a fence hook: destroy the domains listed in --libvirt-fence-list through this libvirt.")
    var libvirtURI: String?
    @Option(help: "The UUIDs of the HA domains to destroy, one a line (the agent writes it).")
    var libvirtFenceList: String?

    func run() throws {
        guard let timeout = DurationText.parse(hookTimeout) else {
            throw ValidationError("--hook-timeout must be a duration such as 60s")
        }
        var watchdog = Watchdog(feedPath: feed, node: node, fenceHook: fenceHook, hookTimeout: timeout) { line in
            FileHandle.standardError.write(Data("\(ISO8601DateFormatter().string(from: Date())) \(line)\n".utf8))
        }
        if let libvirtURI, let list = libvirtFenceList {
            watchdog.builtInFence = { LibvirtFence.destroy(listedIn: list, uri: libvirtURI) }
        }
        switch watchdog.run() {
        case .released, .fenced(succeeded: true): return
        case .fenced(succeeded: false): throw ExitCode(1)
        }
    }
}
