import ArgumentParser
import ChainModel
import ClusterStore
import ClusterTestSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// SPEC §9 in one run: the 64-node, 8,000-VM, ~400,000-file cluster built in a coordinator database, a 1,000-VM
/// node's report ingested into it, then a real `chainkeeperd coordinator` process serving `vm show`, `check`,
/// `whatif fail` and the full `audit` over loopback HTTP, and that process's resident memory.
struct SpecBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spec",
        abstract: "Every SPEC §9 target on the SPEC cluster, against a real coordinator process."
    )

    @Option(help: "Nodes.") var nodes = 64
    @Option(help: "VMs in the cluster.") var vms = 8000
    @Option(help: "Checkpoints per VM.") var checkpoints = 16
    @Option(help: "Requests timed per route.") var samples = 50

    func run() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "chainkeeper-spec-\(UUID().uuidString)"
        )
        .path
        try FileManager.default.createDirectory(atPath: root + "/coordinator", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let now = Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
        let perNode = vms / nodes
        do {
            let store = try ClusterStore(path: root + "/coordinator/cluster.sqlite")
            let loading = try SpecCluster.load(
                into: store,
                nodes: nodes,
                vmsPerNode: perNode,
                checkpoints: checkpoints,
                at: now
            )
            let files = perNode * nodes * (3 + 3 * checkpoints)
            print(
                "cluster: \(nodes) nodes, \(perNode * nodes) VMs, \(files) files; built through ingest in \(Int(loading)) s"
            )
            // A 1,000-VM node joins the cluster: its first report registers every VM, the next one changes nothing.
            let big = NodeName("node-big")
            let owned = (0..<1000).map {
                SyntheticVMs.make(100_000 + $0, owner: big, volume: SpecCluster.volume, checkpoints: checkpoints)
            }
            let batch = SpecCluster.report(from: big, owning: owned)
            let first = try ProcessTimer.seconds { _ = try store.ingest(batch, at: now) }
            let again = try ProcessTimer.seconds { _ = try store.ingest(batch, at: now + .seconds(1)) }
            try store.saveMount(
                VolumeMount(volume: SpecCluster.volume, node: big, mountPath: "/mnt/csv1", lastProbeAt: now),
                at: now
            )
            print(
                String(
                    format: "ingest of a 1,000-VM report (%d files) into the cluster: first %.2f s, unchanged %.2f s",
                    owned.reduce(0) { $0 + $1.files.count },
                    first,
                    again
                )
            )
        }
        // The store is closed; a real coordinator process takes the database over. Its lease outlasts the run, so no
        // node (none heartbeats here) is declared down while requests are timed.
        let port = Daemons.freePort()
        let token = "spec-bench-admin-token"
        try """
        listen: "127.0.0.1:\(port)"
        dataDir: \(root)/coordinator
        adminTokens: [\(token)]
        leaseTTL: 30m
        """.write(toFile: root + "/coordinator.yaml", atomically: true, encoding: .utf8)
        let daemon =
            (URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path)
            + "/chainkeeperd"
        let coordinator = try DaemonProcess(
            daemon,
            ["coordinator", "--config", root + "/coordinator.yaml"],
            environment: [:],
            logPath: root + "/coordinator.log"
        )
        defer { coordinator.stop() }
        for _ in 0..<200 where Daemons.httpGet(port: port, path: "/healthz") == nil { usleep(50_000) }
        print(String(format: "coordinator process started, resident %.0f MiB", Self.resident(coordinator, "VmRSS")))

        var generator = SystemRandomNumberGenerator()
        func vm() -> String { "vm-\(Int.random(in: 0..<(perNode * nodes), using: &generator))" }
        func node() -> String { "node\(Int.random(in: 0..<nodes, using: &generator))" }
        func time(_ label: String, count: Int, target: String, _ path: () -> String) {
            var times: [Double] = []
            var failures = 0
            for _ in 0..<count {
                let started = ContinuousClock.now
                let answer = Daemons.httpGet(port: port, path: path(), headers: ["Authorization": "Bearer \(token)"])
                let elapsed = ContinuousClock.now - started
                if answer?.status != 200 { failures += 1 }
                times.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
            }
            let sorted = times.sorted()
            print(
                label.padding(toLength: 34, withPad: " ", startingAt: 0),
                String(
                    format: "first %8.1f ms · median %8.1f ms · p95 %8.1f ms · max %8.1f ms  (target %@)%@",
                    times[0],
                    sorted[sorted.count / 2],
                    sorted[min(sorted.count - 1, sorted.count * 95 / 100)],
                    sorted.last ?? 0,
                    target,
                    failures > 0 ? " \(failures) failed" : ""
                )
            )
        }
        time("vm show (GET /v1/vms/VM)", count: samples, target: "< 5 ms") { "/v1/vms/\(vm())" }
        time("check (GET /v1/vms/VM/check)", count: samples, target: "< 5 ms") { "/v1/vms/\(vm())/check?to=\(node())" }
        time("whatif fail (125 VMs)", count: 10, target: "< 100 ms") { "/v1/whatif?fail=\(node())" }
        time("nodes (GET /v1/nodes)", count: samples, target: "—") { "/v1/nodes" }
        time("volumes (GET /v1/volumes)", count: samples, target: "—") { "/v1/volumes" }
        time("full audit (GET /v1/audit)", count: 3, target: "< 2 s") { "/v1/audit" }
        time("dashboard VMs page (GET /ui/vms)", count: 5, target: "< 1 s") { "/ui/vms?page=3" }
        print(
            String(
                format: "coordinator resident memory: now %.0f MiB, peak %.0f MiB (target < 500 MB)",
                Self.resident(coordinator, "VmRSS"),
                Self.resident(coordinator, "VmHWM")
            )
        )
    }

    /// The CPU time the process used so far (user and system, /proc/PID/stat), in seconds.
    static func cpuSeconds(_ process: DaemonProcess) -> Double {
        let stat =
            (try? String(contentsOfFile: "/proc/\(process.process.processIdentifier)/stat", encoding: .utf8)) ?? ""
        // Fields after the command name (which may hold spaces), from the third: utime and stime are the 14th and 15th.
        let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// A field of /proc/PID/status, in MiB.
    static func resident(_ process: DaemonProcess, _ field: String) -> Double {
        let status =
            (try? String(contentsOfFile: "/proc/\(process.process.processIdentifier)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return Double(line.split(separator: " ").dropFirst().first ?? "0").map { $0 / 1024 } ?? 0
    }
}
