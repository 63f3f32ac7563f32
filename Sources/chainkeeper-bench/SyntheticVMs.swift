import ChainModel

/// VMs shaped like Hyper-V's at SPEC scale: a configuration and runtime file, and per checkpoint a configuration, a
/// memory file and a differencing disk, all in one chain.
enum SyntheticVMs {
    static func make(_ index: Int, owner: NodeName, volume: VolumeID, checkpoints: Int) -> VM {
        let name = "vm-\(index)"
        var files: [VMFile] = []
        var checkpointList: [Checkpoint] = []
        var chain: [FileLocation] = []
        func file(_ path: String, _ kind: FileKind, checkpoint: CheckpointID? = nil) -> VMFile {
            VMFile(
                location: .volume(volume, relativePath: "\(name)/\(path)"),
                path: "/mnt/csv1/\(name)/\(path)",
                kind: kind,
                format: kind == .disk ? .vhdx : nil,
                size: 1 << 20,
                identifier: kind == .disk ? "\(name)-\(path)" : nil,
                checkpoint: checkpoint
            )
        }
        files.append(file("config.vmcx", .configuration))
        files.append(file("runtime.vmrs", .runtimeState))
        for level in 0..<checkpoints {
            let id = CheckpointID("\(name)-cp\(level)")
            checkpointList.append(
                Checkpoint(
                    id: id,
                    name: "cp\(level)",
                    parent: level == 0 ? nil : CheckpointID("\(name)-cp\(level - 1)")
                )
            )
            files.append(file("Snapshots/cp\(level).vmcx", .configuration, checkpoint: id))
            files.append(file("Snapshots/cp\(level).vmrs", .memory, checkpoint: id))
            let disk = file("disk_cp\(level).avhdx", .disk, checkpoint: id)
            files.append(disk)
            chain.insert(disk.location, at: 0)
        }
        let leaf = file("disk_current.avhdx", .disk)
        files.append(leaf)
        chain.insert(leaf.location, at: 0)
        return VM(
            id: VMID(name),
            name: name,
            ownership: Ownership(owner: owner, epoch: .initial),
            state: .running,
            memoryMiB: 1024,
            checkpoints: checkpointList,
            files: files,
            chains: [DiskChain(elements: chain)]
        )
    }
}
