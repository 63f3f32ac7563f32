import ChainModel
import DecisionEngine

/// A three-node Hyper-V cluster: a shared volume `csv1` verified on every node, a local volume per node, and `web01` on
/// node1 with every file on csv1.
///
/// Tests change one thing and look at the verdict.
struct ClusterFixture {
    static let now = Timestamp(secondsSinceEpoch: 1_800_000_000)
    static let csv1 = VolumeID("0b6a3c1e-0000-4000-8000-000000000001")
    static func local(_ node: String) -> VolumeID { VolumeID("local-\(node)") }

    var nodes: [Node] = ["node1", "node2", "node3"].map {
        Node(name: NodeName($0), memoryMiB: 16_384, lastInventoryAt: Self.now - .seconds(60))
    }
    var volumes: [Volume] =
        [Volume(id: Self.csv1, name: "csv1")]
        + ["node1", "node2", "node3"].map { Volume(id: Self.local($0), name: "\($0)-local") }
    var mounts: [VolumeMount] =
        ["node1", "node2", "node3"].map {
            VolumeMount(
                volume: Self.csv1,
                node: NodeName($0),
                mountPath: "/mnt/csv1",
                lastProbeAt: Self.now - .seconds(60)
            )
        }
        + ["node1", "node2", "node3"].map {
            VolumeMount(
                volume: Self.local($0),
                node: NodeName($0),
                mountPath: "/var/lib/local",
                lastProbeAt: Self.now - .seconds(60)
            )
        }
    var vm = Self.web01()
    var others: [VMPlacement] = []
    var policies: [VMID: PlacementPolicy] = [:]
    var classes: [AntiAffinityClass] = []
    var busy: Set<VMID> = []

    static func web01(owner: String = "node1", id: String = "web01-id", name: String = "web01") -> VM {
        let checkpoint = CheckpointID("cp1")
        func onCSV(
            _ path: String,
            _ kind: FileKind,
            format: DiskFormat? = nil,
            checkpoint: CheckpointID? = nil
        )
            -> VMFile
        {
            VMFile(
                location: .volume(csv1, relativePath: path),
                path: "/mnt/csv1/\(path)",
                kind: kind,
                format: format,
                size: 4096,
                checkpoint: checkpoint
            )
        }
        let files = [
            onCSV("\(name)/config.vmcx", .configuration),
            onCSV("\(name)/runtime.vmrs", .runtimeState),
            onCSV("\(name)/disk_cp1.avhdx", .disk, format: .vhdx),
            onCSV("\(name)/disk.vhdx", .disk, format: .vhdx, checkpoint: checkpoint),
            onCSV("\(name)/Snapshots/cp1.vmcx", .configuration, checkpoint: checkpoint),
            onCSV("\(name)/Snapshots/cp1.vmrs", .memory, checkpoint: checkpoint),
        ]
        return VM(
            id: VMID(id),
            name: name,
            ownership: Ownership(owner: NodeName(owner), epoch: .initial),
            state: .running,
            memoryMiB: 4096,
            checkpoints: [Checkpoint(id: checkpoint, name: "before-upgrade")],
            files: files,
            chains: [DiskChain(elements: [files[2].location, files[3].location])]
        )
    }

    var view: ClusterView {
        ClusterView(
            now: Self.now,
            nodes: nodes,
            volumes: volumes,
            mounts: mounts,
            placements: [VMPlacement(vm)] + others,
            policies: policies,
            classes: classes,
            operationsInProgress: busy
        )
    }

    func check(to target: String = "node2", mode: CheckMode = .migration) -> Verdict {
        StrandRule.check(vm, to: NodeName(target), in: view, mode: mode)
    }

    mutating func setNode(_ name: String, _ change: (inout Node) -> Void) {
        guard let index = nodes.firstIndex(where: { $0.name.rawValue == name }) else { return }
        change(&nodes[index])
    }

    /// Moves the VM's file at `index` onto `node`'s local volume.
    mutating func moveFileToLocalVolume(_ index: Int, of node: String) {
        let relative = "moved/\(index).bin"
        vm.files[index].location = .volume(Self.local(node), relativePath: relative)
        vm.files[index].path = "/var/lib/local/\(relative)"
    }

    /// Another node, mounting csv1 unless `reachesCSV` is false (it then refuses every VM on csv1).
    mutating func addNode(_ name: String, memoryMiB: Int, reachesCSV: Bool = true) {
        nodes.append(Node(name: NodeName(name), memoryMiB: memoryMiB, lastInventoryAt: Self.now))
        guard reachesCSV else { return }
        mounts.append(VolumeMount(volume: Self.csv1, node: NodeName(name), mountPath: "/csv", lastProbeAt: Self.now))
    }

    /// Another VM running on `node`.
    mutating func addRunningVM(_ name: String, on node: String, memoryMiB: Int, antiAffinity: String? = nil) {
        let id = VMID("\(name)-id")
        others.append(VMPlacement(id: id, name: name, owner: NodeName(node), state: .running, memoryMiB: memoryMiB))
        if let antiAffinity { policies[id] = PlacementPolicy(antiAffinityClass: antiAffinity) }
    }
}
