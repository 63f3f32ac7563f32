import ChainModel
import ClusterAPI
import DiskAccess
import DiskFormats
import Foundation

/// Builds a VM's file set (SPEC §4): configuration, runtime, guest and saved state, every checkpoint's configuration
/// and memory, and every element of every chain reachable from the VM's and its checkpoints' disks, walked through the
/// real headers, never trusted from the inventory alone.
///
/// Each file gets its volume, relative path, kind, size, format and identity.
public struct FileSetBuilder {
    public var volumes: [LocalVolume]
    public var pathMap: PathMap
    /// Where headers are read: the real file system, or the agent's cache in front of it.
    public var fileSystem: any ChainFileSystem
    /// Prefixes of non-file disk sources this node shares with others (SPEC §2 `sharedSources`).
    public var sharedSources: [String]
    /// Touch nothing outside this node's volumes: a path under no volume root is listed (without a volume, which the
    /// preflight refuses as `file-on-local-volume`) but never opened, stat'ed or walked.
    ///
    /// For definitions that come from the coordinator (a preflight), whose paths another node reported: they must not
    /// make this node read its own files outside its volumes.
    public var onlyInsideVolumes: Bool

    public init(
        volumes: [LocalVolume],
        pathMap: PathMap = PathMap(),
        fileSystem: any ChainFileSystem = LocalFileSystem(),
        sharedSources: [String] = [],
        onlyInsideVolumes: Bool = false
    ) {
        self.volumes = volumes
        self.pathMap = pathMap
        self.fileSystem = fileSystem
        self.sharedSources = sharedSources
        self.onlyInsideVolumes = onlyInsideVolumes
    }

    public func build(_ vm: InventoryVM) -> ReportedVM {
        var files: [ReportedFile] = []
        var index: [String: Int] = [:]

        @discardableResult
        func add(_ path: String, kind: FileKind, checkpoint: String?, link: ChainLink? = nil) -> Int {
            let normalized = LocalPath.normalize(path)
            if let existing = index[normalized] { return existing }
            var file = ReportedFile(path: normalized, kind: Reported(kind), checkpointId: checkpoint)
            if let (volume, relative) = VolumeDiscovery.locate(normalized, in: volumes) {
                file.volumeId = volume.marker.id
                file.relativePath = relative
            }
            var status = stat()
            if onlyInsideVolumes, file.volumeId == nil {
                // Outside every volume: listed, never touched.
            } else if stat(normalized, &status) == 0 {
                file.size = Int64(status.st_size)
            } else {
                file.problem = Reported(FileProblem.missing)
                file.problemDetail = "\(normalized) does not exist"
            }
            if let link {
                file.format = Reported(link.info.format)
                file.identifier = link.info.identifierText
            }
            files.append(file)
            index[normalized] = files.count - 1
            return files.count - 1
        }

        func mark(_ path: String, _ problem: FileProblem, _ detail: String) {
            guard let position = index[LocalPath.normalize(path)], files[position].problem == nil else { return }
            files[position].problem = Reported(problem)
            files[position].problemDetail = detail
        }

        // A volume reached through a symlinked mount is allowed both as configured and as resolved.
        let roots = Array(Set(volumes.flatMap { [$0.root, $0.canonicalRoot] })).sorted()
        var chains: [ReportedChain] = []
        func walk(_ disk: String, checkpoint: String?) {
            let directory = LocalPath.directory(of: LocalPath.normalize(disk))
            let onVolume = VolumeDiscovery.locate(disk, in: volumes) != nil
            if onlyInsideVolumes, !onVolume {
                chains.append(
                    ReportedChain(checkpointId: checkpoint, files: [add(disk, kind: .disk, checkpoint: checkpoint)])
                )
                return
            }
            let resolver = ChainResolver(
                fileSystem: fileSystem,
                allowedRoots: onVolume ? roots : roots + [VolumeDiscovery.realPath(directory) ?? directory],
                pathMap: pathMap
            )
            let chain = resolver.resolve(LocalPath.normalize(disk))
            guard !chain.links.isEmpty else {
                let position = add(disk, kind: .disk, checkpoint: checkpoint)
                if let error = chain.error, files[position].problem == nil || error.code != .fileMissing {
                    files[position].problem = Reported(problemCode(error.code))
                    files[position].problemDetail = error.message
                }
                chains.append(ReportedChain(checkpointId: checkpoint, files: [position]))
                return
            }
            var positions = chain.links.enumerated().map { offset, link in
                add(link.path, kind: .disk, checkpoint: offset == 0 ? checkpoint : nil, link: link)
            }
            // A qcow2's external data file holds its data: part of the file set (a target must reach it too), not a
            // link of the chain.
            for link in chain.links {
                guard let data = link.info.externalDataFile, !data.isEmpty else { continue }
                _ = add(LocalPath.join(LocalPath.directory(of: link.path), data), kind: .disk, checkpoint: nil)
            }
            if let error = chain.error, error.code == .outsideRoots, let outside = error.outside {
                // A parent or data file outside every volume: part of the file set, on no volume (so `check` and the
                // audit say `file-on-local-volume`), not read, and not a broken chain.
                positions.append(add(outside, kind: .disk, checkpoint: nil))
            } else if let error = chain.error {
                mark(error.path, problemCode(error.code), error.message)
            }
            chains.append(ReportedChain(checkpointId: checkpoint, files: positions))
        }

        for (path, kind) in [
            (vm.configurationPath, FileKind.configuration), (vm.runtimeStatePath, .runtimeState),
            (vm.guestStatePath, .guestState),
        ] {
            if let path { add(path, kind: kind, checkpoint: nil) }
        }
        for path in vm.guestStateFiles ?? [] { add(path, kind: .guestState, checkpoint: nil) }
        // A mounted ISO: a target that cannot read it cannot take the VM live (issue 24).
        for path in vm.dvdDrives ?? [] { add(path, kind: .media, checkpoint: nil) }
        for disk in vm.disks { walk(disk, checkpoint: nil) }
        for snapshot in vm.snapshots {
            if let path = snapshot.configurationPath { add(path, kind: .configuration, checkpoint: snapshot.id) }
            if let path = snapshot.memoryPath { add(path, kind: .memory, checkpoint: snapshot.id) }
            if let path = snapshot.savedStatePath { add(path, kind: .savedState, checkpoint: snapshot.id) }
            for disk in snapshot.disks { walk(disk, checkpoint: snapshot.id) }
        }
        // Disks that are not files: listed by their source (`PROTOCOL:NAME`, or the device path), on a shared-source volume when this node's
        // `sharedSources` cover them, else local to this node.
        for source in vm.sources ?? [] where index[source.source] == nil {
            var file = ReportedFile(
                path: source.source,
                kind: Reported(FileKind.disk),
                format: "raw",
                checkpointId: source.snapshotId
            )
            if let prefix = SharedSources.prefix(covering: source.source, in: sharedSources) {
                file.volumeId = SharedSources.volumeID(prefix)
                file.relativePath = String(source.source.dropFirst(prefix.count))
            }
            files.append(file)
            index[source.source] = files.count - 1
            chains.append(ReportedChain(checkpointId: source.snapshotId, files: [files.count - 1]))
        }
        // The inventory's word against the headers': an overlay whose header names another backing file than the
        // hypervisor's records is a broken chain.
        for declared in vm.declaredBackings ?? []
        where !onlyInsideVolumes || VolumeDiscovery.locate(declared.backing, in: volumes) != nil {
            let overlay = LocalPath.normalize(declared.overlay)
            let expected = canonical(declared.backing)
            guard let chain = chains.first(where: { chain in chain.files.first.map { files[$0].path } == overlay }),
                chain.files.count > 1 || files[chain.files[0]].problem == nil
            else { continue }
            let actual = chain.files.count > 1 ? files[chain.files[1]].path : nil
            if actual.map(canonical) != expected {
                mark(
                    overlay,
                    .chainBroken,
                    "the hypervisor's records say \(overlay) is backed by \(declared.backing), but its header "
                        + (actual.map { "names \($0)" } ?? "names no backing file")
                )
            }
        }
        var reported = ReportedVM(
            id: vm.id,
            name: vm.name,
            state: Reported(raw: vm.state),
            highlyAvailable: vm.highlyAvailable,
            memoryMiB: vm.memoryMiB,
            checkpoints: vm.snapshots.map {
                ReportedCheckpoint(id: $0.id, name: $0.name, parentId: $0.parentId, created: $0.created)
            },
            files: files,
            chains: chains
        )
        // Where the hypervisor writes next (issue 24): placed on this node's volumes like a file, never opened.
        var next: [ReportedNextFile] = []
        for (role, path) in [("checkpoint", vm.checkpointFileLocation), ("smart-paging", vm.smartPagingFilePath)] {
            guard let path else { continue }
            let normalized = LocalPath.normalize(path)
            var entry = ReportedNextFile(role: role, path: normalized)
            if let (volume, relative) = VolumeDiscovery.locate(normalized, in: volumes) {
                entry.volumeId = volume.marker.id
                entry.relativePath = relative
            }
            next.append(entry)
        }
        reported.nextFiles = next.isEmpty ? nil : next
        reported.mergePending = vm.mergePending
        return reported
    }

    /// A path with symlinks resolved when it exists, for comparing two names of one file.
    private func canonical(_ path: String) -> String {
        let normalized = LocalPath.normalize(path)
        return VolumeDiscovery.realPath(normalized) ?? normalized
    }

    private func problemCode(_ code: ChainError.Code) -> FileProblem {
        switch code {
        case .fileMissing: .missing
        case .chainBroken: .chainBroken
        case .diskNeedsLogReplay: .needsLogReplay
        case .outsideRoots: .chainBroken
        }
    }
}
