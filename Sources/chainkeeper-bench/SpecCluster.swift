import ChainModel
import ClusterStore

/// The SPEC §9 cluster in a coordinator database: `nodes` nodes sharing csv1, each owning `vmsPerNode` synthetic VMs.
enum SpecCluster {
    static let volume = VolumeID("csv1")

    /// Loads the cluster through `ingest`, as agents' first reports would; returns the seconds it took.
    static func load(
        into store: ClusterStore,
        nodes: Int,
        vmsPerNode: Int,
        checkpoints: Int,
        at now: Timestamp
    ) throws -> Double {
        try ProcessTimer.seconds {
            for node in 0..<nodes {
                let name = NodeName("node\(node)")
                let owned = (0..<vmsPerNode).map { index in
                    SyntheticVMs.make(node * vmsPerNode + index, owner: name, volume: volume, checkpoints: checkpoints)
                }
                _ = try store.ingest(report(from: name, owning: owned), at: now)
                try store.saveMount(
                    VolumeMount(volume: volume, node: name, mountPath: "/mnt/csv1", lastProbeAt: now),
                    at: now
                )
            }
        }
    }

    /// A node's first report: its VMs, all on csv1, which it mounts.
    static func report(from node: NodeName, owning vms: [VM]) -> ReportBatch {
        ReportBatch(
            node: node,
            driver: .hypervJSON,
            memoryMiB: 1 << 22,
            volumes: [
                VolumeReport(
                    volume: Volume(id: volume, name: "csv1"),
                    mountPath: "/mnt/csv1",
                    filesystemType: "nfs4",
                    probeWritten: nil,
                    probeRead: []
                )
            ],
            vms: vms,
            listed: vms.map(\.id),
            inventoryErrors: [],
            discoveredDisks: [],
            probeWindow: .seconds(600)
        )
    }
}
