import ArgumentParser
import ClusterAPI
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `chainkeeper demo`: a coordinator (the embedded default, SQLite) and three agents on loopback, over real VHDX chains
/// written by our disk writer, walked through the audit, a migration, a refusal, and a node's death and failover.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Start a three-node demo cluster on this machine and walk through what Chainkeeper does.",
        subcommands: [DemoRun.self, DemoHypervisor.self],
        defaultSubcommand: DemoRun.self
    )
}

struct DemoRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Start the demo cluster and walk through it (the default)."
    )

    @Flag(help: "Leave the cluster running afterwards and print how to query it and open the dashboard.")
    var keep = false

    @Option(help: "Directory for the cluster (default: a new temporary one, removed afterwards unless --keep).")
    var dir: String?

    @Option(help: "The configs the daemons run (default: the repository's deploy/examples).")
    var examples: String?

    func run() throws {
        let (cli, daemon) = try DemoProcesses.binaries()
        let root = try dir.map { try Self.emptyDirectory($0) } ?? Self.temporaryDirectory()
        let token = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let cluster = DemoCluster(
            root: root,
            port: DemoProcesses.freePort(),
            token: token,
            examples: try DemoCluster.findExamples(examples, cli: cli),
            cli: cli
        )
        let processes = DemoProcesses(cli: cli, daemon: daemon, url: cluster.url, token: token)
        let story = DemoStory(cluster: cluster, processes: processes)
        let interrupt = DemoStory.cleanUpOnInterrupt(processes, root: dir == nil ? root : nil)
        defer { interrupt.cancel() }
        do {
            try story.tell()
        } catch {
            story.say("\nThe demo stopped: \(error)\nLogs are in \(root).")
            processes.stopAll()
            story.stopWatchdogs()
            throw ExitCode.failure
        }
        if keep {
            story.keepRunning()
        } else {
            processes.stopAll()
            story.stopWatchdogs()
            if dir == nil { try? FileManager.default.removeItem(atPath: root) }
            story.say(
                "\nStopped the coordinator and agents\(dir == nil ? " and removed \(root)" : "; files stay in \(root)")."
            )
            story.say("Run `chainkeeper demo --keep` to leave the cluster running and open its dashboard.")
        }
    }

    /// `--dir`: made if missing; refused unless empty, so a demo never mixes with other files.
    static func emptyDirectory(_ path: String) throws -> String {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard (try FileManager.default.contentsOfDirectory(atPath: path)).isEmpty else {
            throw DemoError("\(path) is not empty; give a new or empty directory")
        }
        return URL(fileURLWithPath: path).standardizedFileURL.path
    }

    static func temporaryDirectory() throws -> String {
        var template = Array((NSTemporaryDirectory() + "chainkeeper-demo-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw DemoError("cannot make a temporary directory") }
        return String(cString: made)
    }
}
