import ChainModel
import ClusterAPI
import DecisionEngine

/// The SPEC §4 definition of a stored VM, rebased onto another node's mounts, and the files that node must find.
enum VMDefinitionBuilder {
    static func definition(of vm: VM, on node: NodeName, in view: ClusterView) -> (VMDefinition, [ExpectedFile]) {
        func path(_ location: FileLocation, fallback: String) -> String {
            switch location {
            case .volume(let volume, let relative):
                guard let mount = view.mounts[volume]?[node]?.mountPath else { return fallback }
                return mount.hasSuffix("/") ? mount + relative : mount + "/" + relative
            case .nodeLocal:
                return fallback
            }
        }
        let paths = Dictionary(
            vm.files.map { ($0.location, path($0.location, fallback: $0.path)) },
            uniquingKeysWith: { first, _ in first }
        )
        func file(_ kind: FileKind, checkpoint: CheckpointID?) -> String? {
            vm.files.first { $0.kind == kind && $0.checkpoint == checkpoint }.flatMap { paths[$0.location] }
        }
        // A disk on a shared-source "volume" (`rbd:pool/…`, SPEC §2 `sharedSources`) is not a file: it travels as a
        // source, which the target checks against its own `sharedSources` instead of opening it.
        func isSource(_ location: FileLocation) -> Bool {
            location.volume?.isSharedSource ?? false
        }
        func leaves(_ checkpoint: CheckpointID?) -> [String] {
            vm.chains.filter { $0.checkpoint == checkpoint }.compactMap { chain in
                chain.elements.first.flatMap { isSource($0) ? nil : paths[$0] }
            }
        }
        let sources = vm.chains.compactMap { chain -> VMDefinition.DiskSource? in
            guard let first = chain.elements.first, isSource(first), let path = paths[first] else { return nil }
            return VMDefinition.DiskSource(type: "network", source: path, snapshotId: chain.checkpoint?.rawValue)
        }
        var definition = VMDefinition(
            id: vm.id.rawValue,
            name: vm.name,
            state: vm.state.rawValue,
            highlyAvailable: vm.highlyAvailable,
            memoryMiB: vm.memoryMiB,
            configurationPath: file(.configuration, checkpoint: nil),
            runtimeStatePath: file(.runtimeState, checkpoint: nil),
            guestStatePath: file(.guestState, checkpoint: nil),
            disks: leaves(nil),
            snapshots: vm.checkpoints.map { checkpoint in
                VMDefinition.Snapshot(
                    id: checkpoint.id.rawValue,
                    name: checkpoint.name,
                    parentId: checkpoint.parent?.rawValue,
                    created: checkpoint.created?.millisecondsSinceEpoch,
                    configurationPath: file(.configuration, checkpoint: checkpoint.id),
                    memoryPath: file(.memory, checkpoint: checkpoint.id),
                    savedStatePath: file(.savedState, checkpoint: checkpoint.id),
                    disks: leaves(checkpoint.id)
                )
            },
            sources: sources.isEmpty ? nil : sources
        )
        // Mounted ISOs go with the VM: the target's preflight reads them through its own mounts.
        let media = vm.files.filter { $0.kind == .media }.compactMap { paths[$0.location] }
        definition.dvdDrives = media.isEmpty ? nil : media
        let expected = vm.files.map { file in
            ExpectedFile(
                path: paths[file.location] ?? file.path,
                volumeId: file.location.volume?.rawValue,
                relativePath: {
                    if case .volume(_, let relative) = file.location { return relative }
                    return nil
                }(),
                kind: file.kind.rawValue,
                identifier: file.identifier
            )
        }
        return (definition, expected)
    }
}
