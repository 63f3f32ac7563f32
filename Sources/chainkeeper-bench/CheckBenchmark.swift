import ArgumentParser
import ChainModel
import ClusterStore
import DecisionEngine
import Foundation

/// `check` at SPEC §9 scale: 64 nodes, 8,000 VMs with 16 checkpoints (408,000 files) in a real cluster database;
/// times what the coordinator does per `check` request (read the placement input, build the view, judge).
struct CheckBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Time the coordinator's check of one VM on a 64-node, 8,000-VM cluster."
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
        let store = try ClusterStore(path: directory + "/cluster.sqlite")
        let now = Timestamp(secondsSinceEpoch: 1_800_000_000)
        let volume = VolumeID("csv1")
        let perNode = vms / nodes
        let loading = try ProcessTimer.seconds {
            for node in 0..<nodes {
                let name = NodeName("node\(node)")
                let owned = (0..<perNode).map { index in
                    SyntheticVMs.make(node * perNode + index, owner: name, volume: volume, checkpoints: checkpoints)
                }
                _ = try store.ingest(
                    ReportBatch(
                        node: name,
                        driver: .hypervJSON,
                        memoryMiB: 1 << 20,
                        volumes: [
                            VolumeReport(
                                volume: Volume(id: volume, name: "csv1"),
                                mountPath: "/mnt/csv1",
                                filesystemType: "nfs4",
                                probeWritten: nil,
                                probeRead: []
                            )
                        ],
                        vms: owned,
                        listed: owned.map(\.id),
                        inventoryErrors: [],
                        discoveredDisks: [],
                        probeWindow: .seconds(600)
                    ),
                    at: now
                )
                try store.saveMount(
                    VolumeMount(volume: volume, node: name, mountPath: "/mnt/csv1", lastProbeAt: now),
                    at: now
                )
            }
        }
        let settings = ClusterSettings()
        var generator = SystemRandomNumberGenerator()
        var times: [Double] = []
        var reads: [Double] = []
        var views: [Double] = []
        func milliseconds(_ duration: Duration) -> Double {
            Double(duration.components.attoseconds) / 1e15 + Double(duration.components.seconds) * 1000
        }
        var refused = 0
        for _ in 0..<samples {
            let index = Int.random(in: 0..<(perNode * nodes), using: &generator)
            let target = NodeName("node\(Int.random(in: 0..<nodes, using: &generator))")
            let started = ContinuousClock.now
            let input = try store.placementInput(matching: "vm-\(index)")
            let read = ContinuousClock.now - started
            guard let vm = input.snapshot.vms.first else { continue }
            let view = ClusterView(
                input.snapshot,
                placements: input.placements.map {
                    VMPlacement(id: $0.id, name: $0.name, owner: $0.owner, state: $0.state, memoryMiB: $0.memoryMiB)
                },
                now: now + .seconds(30),
                settings: settings
            )
            let built = ContinuousClock.now - started
            if !StrandRule.check(vm, to: target, in: view).allowed { refused += 1 }
            reads.append(milliseconds(read))
            views.append(milliseconds(built - read))
            let elapsed = ContinuousClock.now - started
            times.append(milliseconds(elapsed))
        }
        times.sort()
        reads.sort()
        views.sort()
        let fullSnapshot = try ProcessTimer.seconds { _ = try store.snapshot() }
        print(
            "cluster: \(nodes) nodes, \(perNode * nodes) VMs, \(perNode * nodes * (3 + 3 * checkpoints)) files; loaded in \(String(format: "%.1f", loading)) s"
        )
        print(
            String(
                format:
                    "check (placement input + view + strand rule), %d samples: median %.2f ms, p95 %.2f ms, max %.2f ms (%d refused: target is the owner)",
                times.count,
                times[times.count / 2],
                times[times.count * 95 / 100],
                times.last ?? 0,
                refused
            )
        )
        print(
            String(
                format: "  of which: reading the placement input median %.2f ms, building the view median %.2f ms",
                reads[reads.count / 2],
                views[views.count / 2]
            )
        )
        print(String(format: "for comparison, reading the whole cluster (snapshot()): %.2f s", fullSnapshot))
    }
}
