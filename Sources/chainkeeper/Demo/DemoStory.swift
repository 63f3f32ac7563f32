import ClusterAPI
import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What the demo shows, step by step: each step says why, then runs the real CLI command and prints its output.
struct DemoStory {
    let cluster: DemoCluster
    let processes: DemoProcesses
    let bold = isatty(1) == 1

    func say(_ text: String) {
        // Unbuffered, so the story appears as it happens even through a pipe.
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    func heading(_ number: Int, _ title: String) {
        say(bold ? "\n\u{1B}[1m\(number). \(title)\u{1B}[0m" : "\n\(number). \(title)")
    }

    /// Runs `chainkeeper ARGUMENTS`, printing the command and its output; returns the exit status.
    @discardableResult
    func show(_ arguments: [String], note: String? = nil) throws -> Int32 {
        let (status, output) = try processes.run(arguments)
        say("$ chainkeeper " + arguments.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " "))
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        say(lines.reversed().drop { $0.isEmpty }.reversed().map { "  " + $0 }.joined(separator: "\n"))
        if status != 0 { say("  (exit \(status)\(note.map { ": " + $0 } ?? ""))") }
        return status
    }

    func json<T: Decodable>(_ arguments: [String], as type: T.Type) throws -> T? {
        let (status, output) = try processes.run(arguments + ["--json"])
        guard status == 0 || status == 3 else { return nil }
        return try? JSONDecoder().decode(T.self, from: Data(output.utf8))
    }

    /// Polls `condition` every 250 ms for up to `seconds`.
    func wait(_ what: String, seconds: Double, until condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return }
            usleep(250_000)
        }
        throw DemoError("\(what) did not happen within \(Int(seconds)) s")
    }

    func tell() throws {
        say("Chainkeeper demo: a coordinator and three agents (node1, node2, node3) on 127.0.0.1, in \(cluster.root)")
        try cluster.write()
        say(
            """
            Written with our own disk writer: five VMs whose checkpoint chains are real VHDX/AVHDX files, their memory \
            files, and a volume marker on each volume. csv1 is the shared volume every node mounts; each node also has \
            a local disk. The daemons run \(cluster.examples)'s coordinator.yaml and agent.yaml, with \
            CHAINKEEPERD_* variables for what differs on one machine (ports, directories, the hooks).
            """
        )
        try processes.start(
            "coordinator",
            ["coordinator", "--config", cluster.coordinatorConfig],
            extra: cluster.coordinatorEnvironment,
            log: cluster.root + "/coordinator.log"
        )
        try wait("the coordinator answering", seconds: 20) { try processes.run(["nodes", "--json"]).status == 0 }
        for node in DemoCluster.nodes {
            try processes.start(
                "agent-\(node)",
                ["agent", "--config", cluster.agentConfig],
                extra: cluster.agentEnvironment(node),
                log: cluster.root + "/agent-\(node).log"
            )
        }
        say("Agents read each node's Hyper-V inventory export, walk every chain through the disk headers, and prove")
        say("which volumes they reach by writing and reading probe files. Waiting for them to agree…")
        try wait("the agents' first reports", seconds: 60) {
            guard let audit = try json(["audit"], as: AuditResponse.self) else { return false }
            return Set(audit.risks.compactMap(\.vm)) == ["db01", "build01"]
                && audit.risks.allSatisfy { $0.code == "file-on-local-volume" }
        }

        heading(1, "The cluster: three nodes; csv1 is reached by all of them, each local disk by its own node only")
        try show(["nodes"])
        try show(["volumes"])

        heading(2, "The audit: which VMs could not move if their node failed")
        try show(["audit"], note: "a critical risk exists")
        say(
            "db01 saved a checkpoint's memory to node1's local disk; build01's chain has a differencing disk on node3's."
        )

        heading(3, "A migration that is allowed: every file of web01's chain is on csv1")
        try show(["check", "web01", "--to", "node2"])
        try show(["migrate", "web01", "--to", "node2"])
        say(
            "The coordinator journaled each step; node2's agent checked every file itself before node1 released the VM."
        )

        heading(4, "A migration that is refused, with every reason")
        try show(["migrate", "db01", "--to", "node2"], note: "refused, nothing moved")

        heading(5, "What would happen if node3 failed now?")
        try show(["whatif", "fail", "node3"], note: "a VM would be held")

        heading(6, "node3 dies: its agent is killed with SIGKILL")
        guard let pid = processes.pid("agent-node3") else { throw DemoError("node3's agent is not running") }
        let killed = Date()
        processes.signal("agent-node3", SIGKILL)
        say("(pid \(pid)) Its watchdog, a separate process, fences node3 when the agent stops feeding it; the")
        say("coordinator declares node3 down once its lease (leaseTTL, 10 s in the example) runs out, then fails its")
        say("VMs over. Waiting…")
        try wait("mail01's failover", seconds: 60) {
            guard let detail = try json(["vm", "show", "mail01"], as: VMDetailJSON.self) else { return false }
            return detail.owner != "node3"
        }
        say(
            String(
                format: "mail01 runs elsewhere %.1f s after the kill. What the hypervisors did:",
                Date().timeIntervalSince(killed)
            )
        )
        let log = (try? String(contentsOfFile: cluster.root + "/hypervisor.log", encoding: .utf8)) ?? ""
        say(log.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        try show(["nodes"])
        try show(["history"])

        heading(7, "build01 stayed on node3: failing it over would have stranded its checkpoint disk")
        try wait("build01 being held", seconds: 20) {
            (try json(["audit"], as: AuditResponse.self))?.risks.contains { $0.code == "failover-blocked" } == true
        }
        try show(["audit"], note: "critical risks remain")
        say(
            """
            Fix the cause (move toolchain.avhdx to csv1, or bring node3 back), then `chainkeeper vm clear build01`.
            """
        )
    }

    /// `--keep`: what is running, and how to use it.
    func keepRunning() {
        let pids = processes.all.sorted { $0.key < $1.key }.map { "\($0.value)" }.joined(separator: " ")
        say(
            """

            The cluster keeps running (node3 stays dead). In another terminal:

              export CHAINKEEPER_URL=\(cluster.url) CHAINKEEPER_TOKEN=\(cluster.token)
              chainkeeper vms --stranded
              chainkeeper vm show build01
              chainkeeper query "SELECT name, owner, checkpoints FROM vms ORDER BY name"

            Dashboard: \(cluster.url)/ui (log in with the token above).
            Restart node3: \(cluster.startScript("node3"))
            Stop it all: kill \(pids); then remove \(cluster.root)
            """
        )
    }

    /// Tells each agent's watchdog to exit (the agents are stopped; nothing is left to guard).
    func stopWatchdogs() {
        for node in DemoCluster.nodes {
            let data = cluster.root + "/\(node)"
            try? "exit\n".write(toFile: data + "/watchdog.feed", atomically: true, encoding: .utf8)
            if let text = try? String(contentsOfFile: data + "/watchdog.pid", encoding: .utf8),
                let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0
            {
                kill(pid, SIGTERM)
            }
        }
    }

    /// On Ctrl-C: stop every process, remove the directory when the demo made it, and exit 130.
    static func cleanUpOnInterrupt(_ processes: DemoProcesses, root: String?) -> any DispatchSourceSignal {
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler {
            processes.stopAll()
            if let root { try? FileManager.default.removeItem(atPath: root) }
            exit(130)
        }
        source.resume()
        return source
    }
}
