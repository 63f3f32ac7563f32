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
    }
}
