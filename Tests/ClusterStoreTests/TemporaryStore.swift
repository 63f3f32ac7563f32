import ChainModel
import ClusterStore
import Foundation

/// A real SQLite file in a fresh temporary directory, removed when the test ends.
final class TemporaryStore {
    let directory: URL
    let store: ClusterStore
    var path: String { directory.appendingPathComponent("cluster.sqlite").path }

    static let now = Timestamp(secondsSinceEpoch: 1_800_000_000)

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "chainkeeper-store-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = try ClusterStore(path: directory.appendingPathComponent("cluster.sqlite").path)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// node1 and node2, and a shared volume csv1 both mount.
    func seedCluster() throws {
        for name in ["node1", "node2"] {
            try store.saveNode(Node(name: NodeName(name), memoryMiB: 8192), at: Self.now)
        }
        try store.saveVolume(Volume(id: Self.csv1, name: "csv1"), at: Self.now)
        for name in ["node1", "node2"] {
            try store.saveMount(
                VolumeMount(volume: Self.csv1, node: NodeName(name), mountPath: "/mnt/csv1", lastProbeAt: Self.now),
                at: Self.now
            )
        }
    }

    static let csv1 = VolumeID("4f8d0e51-6c1b-4c59-9a57-4f1e2b3c4d5e")

    /// A VM with a three-level checkpoint tree and a branch: base → upgrade → patched, base → reverted.
    ///
    /// Each checkpoint has a disk and a memory file; the chain of the current disk runs through every checkpoint disk
    /// of its branch.
    static func branchedVM(name: String = "web01", id: String = "8d3c6f0e-5a43-4e0b-9b0e-2f6f3a1c9a10") -> VM {
        let checkpoints = [
            Checkpoint(id: CheckpointID("cp-base"), name: "base", created: Timestamp(secondsSinceEpoch: 1_700_000_000)),
            Checkpoint(
                id: CheckpointID("cp-upgrade"),
                name: "upgrade",
                parent: CheckpointID("cp-base"),
                created: Timestamp(secondsSinceEpoch: 1_700_100_000)
            ),
            Checkpoint(id: CheckpointID("cp-patched"), name: "patched", parent: CheckpointID("cp-upgrade")),
            Checkpoint(
                id: CheckpointID("cp-reverted"),
                name: "reverted",
                parent: CheckpointID("cp-base"),
                created: Timestamp(secondsSinceEpoch: 1_700_200_000)
            ),
        ]
        func file(_ path: String, _ kind: FileKind, checkpoint: String? = nil, format: DiskFormat? = nil) -> VMFile {
            VMFile(
                location: .volume(csv1, relativePath: "\(name)/\(path)"),
                path: "/mnt/csv1/\(name)/\(path)",
                kind: kind,
                format: format,
                size: 1 << 20,
                identifier: format == nil ? nil : "id-\(path)",
                checkpoint: checkpoint.map(CheckpointID.init(rawValue:))
            )
        }
        let files = [
            file("config.vmcx", .configuration),
            file("disk.avhdx", .disk, format: .vhdx),
            file("disk_patched.avhdx", .disk, checkpoint: "cp-patched", format: .vhdx),
            file("disk_upgrade.avhdx", .disk, checkpoint: "cp-upgrade", format: .vhdx),
            file("disk.vhdx", .disk, checkpoint: "cp-base", format: .vhdx),
            file("disk_reverted.avhdx", .disk, checkpoint: "cp-reverted", format: .vhdx),
            file("Snapshots/patched.vmrs", .memory, checkpoint: "cp-patched"),
            file("Snapshots/upgrade.vmrs", .memory, checkpoint: "cp-upgrade"),
        ]
        let locations = files.map(\.location)
        return VM(
            id: VMID(id),
            name: name,
            ownership: Ownership(owner: NodeName("node1"), epoch: .initial),
            state: .running,
            highlyAvailable: true,
            memoryMiB: 2048,
            checkpoints: checkpoints,
            files: files,
            chains: [
                DiskChain(elements: [locations[1], locations[2], locations[3], locations[4]]),
                DiskChain(checkpoint: CheckpointID("cp-reverted"), elements: [locations[5], locations[4]]),
            ]
        )
    }
}
