import ArgumentParser
import ChainModel
import ClusterStore
import Coordinator
import DecisionEngine
import Foundation

/// `check` at SPEC §9 scale: 64 nodes, 8,000 VMs with 16 checkpoints (408,000 files) in a real cluster database.
///
/// Times what the coordinator does per `check` request: `Coordinator.judged` (the VM in full, and the view around it,
/// kept until the next commit) and the strand rule.
struct CheckBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Time the coordinator's check of one VM, and whatif fail of one node, on a 64-node, 8,000-VM cluster."
    )

    @Option(help: "Nodes.") var nodes = 64
    @Option(help: "VMs in the cluster.") var vms = 8000
    @Option(help: "Checkpoints per VM.") var checkpoints = 16
    @Option(help: "Checks to time.") var samples = 200

    func run() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "chainkeeper-check-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let now = Timestamp(secondsSinceEpoch: 1_800_000_000)
        let coordinator = try Coordinator(config: CoordinatorConfig(dataDir: directory), now: { now + .seconds(30) })
        let store = coordinator.store
        let perNode = vms / nodes
        let loading = try SpecCluster.load(
            into: store,
            nodes: nodes,
            vmsPerNode: perNode,
            checkpoints: checkpoints,
            at: now
        )
        var generator = SystemRandomNumberGenerator()
        var warm: [Double] = []
        var cold: [Double] = []
        var refused = 0
        func milliseconds(_ duration: Duration) -> Double {
            Double(duration.components.attoseconds) / 1e15 + Double(duration.components.seconds) * 1000
        }
        for sample in 0..<samples {
            // Heartbeats keep arriving (they do not change what placement reads); every tenth check follows a commit
            // that does (a probe result, as when an agent's report just arrived).
            try store.recordHeartbeat(of: NodeName("node\(sample % nodes)"), at: now + .seconds(Int64(sample)))
            if sample % 10 == 0 {
                try store.saveMount(
                    VolumeMount(
                        volume: SpecCluster.volume,
                        node: NodeName("node0"),
                        mountPath: "/mnt/csv1",
                        lastProbeAt: now
                    ),
                    at: now + .seconds(Int64(sample))
                )
            }
            let index = Int.random(in: 0..<(perNode * nodes), using: &generator)
            let target = NodeName("node\(Int.random(in: 0..<nodes, using: &generator))")
            let started = ContinuousClock.now
            let (vm, view) = try coordinator.judged("vm-\(index)")
            if !StrandRule.check(vm, to: target, in: view).allowed { refused += 1 }
            let elapsed = milliseconds(ContinuousClock.now - started)
            if sample % 10 == 0 { cold.append(elapsed) } else { warm.append(elapsed) }
        }
        warm.sort()
        cold.sort()
        // whatif fail: a node's 125 VMs planned over the same view (SPEC §9: under 100 ms).
        var whatifs: [Double] = []
        var held = 0
        for round in 0..<10 {
            let started = ContinuousClock.now
            let plan = try coordinator.whatIfFails(NodeName("node\(round * 7 % nodes)"))
            whatifs.append(milliseconds(ContinuousClock.now - started))
            held += plan.blocked.count
        }
        whatifs.sort()
        let fullSnapshot = try ProcessTimer.seconds { _ = try store.snapshot() }
        let files = perNode * nodes * (3 + 3 * checkpoints)
        print("cluster: \(nodes) nodes, \(perNode * nodes) VMs, \(files) files; loaded in \(Int(loading)) s")
        print(
            String(
                format:
                    "check, a heartbeat but no placement change since the last one: %d samples, median %.2f ms, p95 %.2f ms, max %.2f ms",
                warm.count,
                warm[warm.count / 2],
                warm[warm.count * 95 / 100],
                warm.last ?? 0
            )
        )
        print(
            String(
                format: "check right after a placement change (view rebuilt): %d samples, median %.2f ms, max %.2f ms",
                cold.count,
                cold[cold.count / 2],
                cold.last ?? 0
            )
        )
        print("(\(refused) of \(samples) refused: the target drawn was the owner)")
        print(
            String(
                format: "whatif fail (a node with %d VMs): median %.1f ms, max %.1f ms over 10 nodes (%d VMs held)",
                perNode,
                whatifs[whatifs.count / 2],
                whatifs.last ?? 0,
                held
            )
        )
        print(String(format: "for comparison, reading the whole cluster (snapshot()): %.2f s", fullSnapshot))
    }
}
