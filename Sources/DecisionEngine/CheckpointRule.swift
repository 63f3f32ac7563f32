import ChainModel

/// The checkpoint location rule (SPEC §5, issue 24): before a checkpoint is taken, where each new file will be written,
/// and whether every possible owner of the HA VM can read it there.
///
/// No peer checks this before the checkpoint exists; Chainkeeper refuses it instead of reporting a stranded VM at the
/// next rescan. A new overlay is written in the directory of the current disk it covers; the memory file beside the
/// first one. Also refused: an operation in progress, a broken chain (the new overlay would sit on it), an owner
/// that is not up, and a volume without the free space the new files need there.
public enum CheckpointRule {
    /// A file the checkpoint will create.
    public struct PlannedFile: Sendable, Hashable {
        public enum Kind: String, Sendable, Hashable {
            case overlay
            case memory
        }

        public var kind: Kind
        /// As the owner sees it.
        public var path: String
        /// For an overlay: the current disk it will cover.
        public var covers: String?
        public var location: FileLocation
        /// Bytes it needs at creation: a memory file up to the VM's memory, an overlay its metadata.
        public var bytes: Int64
    }

    public struct Plan: Sendable, Hashable {
        public var files: [PlannedFile]
        public var reasons: [Reason]
        public var allowed: Bool { reasons.isEmpty }
    }

    /// Space an overlay needs when it is created (qcow2 header, L1 and refcount tables), rounded up.
    public static let overlayBytes: Int64 = 1 << 20

    /// Whether `name` can name a new checkpoint: it becomes part of file names, so letters, digits, `.`, `_` and `-`,
    /// 1 to 64 of them, not starting with `.` or `-`.
    public static func nameProblem(_ name: String) -> String? {
        guard (1...64).contains(name.utf8.count) else {
            return "a checkpoint name has 1 to 64 characters; \"\(name.prefix(80))\" has \(name.utf8.count)"
        }
        let allowed = name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
                || "._-".unicodeScalars
                    .contains($0)
        }
        guard allowed, let first = name.first, first != ".", first != "-" else {
            return "a checkpoint name is made of letters, digits, '.', '_' and '-' and does not start with '.' or '-': "
                + "it becomes part of the new files' names"
        }
        return nil
    }

    /// The files `checkpoint create VM NAME` would write, and every reason to refuse it.
    public static func create(_ vm: VM, name: String, memory: Bool, in view: ClusterView) -> Plan {
        var reasons = common(vm, in: view)
        let paths = Dictionary(vm.files.map { ($0.location, $0.path) }, uniquingKeysWith: { first, _ in first })
        // The disks the VM writes to: for libvirt, the leaves its domain XML names (a snapshot's overlay that a revert
        // left behind is in the file set but is written to by nobody).
        let written = Set(vm.metadata?.heldLeaves ?? [])
        let leaves = vm.chains.filter { $0.checkpoint == nil }.compactMap(\.leaf).filter {
            written.isEmpty || paths[$0].map(written.contains) == true
        }
        var files: [PlannedFile] = []
        // Hyper-V names its own files (the hook gets the folder); the names here say which kind of file goes there.
        let formats =
            view.nodes[vm.owner]?.driver == .hypervJSON
            ? (disk: ".avhdx", memory: ".vmrs") : (disk: ".qcow2", memory: ".mem")
        let stem = vm.name.filter { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        // `--checkpoint-volume`: the new files go to a folder named after the VM on that volume, as the owner
        // mounts it; otherwise beside each disk they cover.
        var folder: (path: String, location: FileLocation)?
        if let volume = view.policy(for: vm.id).checkpointVolume {
            let volumeName = view.volumes[volume]?.name ?? volume.rawValue
            if let mount = view.mounts[volume]?[vm.owner] {
                let directory = folderName(of: vm)
                folder = (Self.join(mount.mountPath, directory), .volume(volume, relativePath: directory + "/-"))
            } else {
                reasons.append(
                    Reason(
                        code: .checkpointLocationLocal,
                        message:
                            "\(vm.name)'s checkpoint volume \(volumeName) is not mounted on its owner \(vm.owner); "
                            + "mount it there, or change `policy set --checkpoint-volume`",
                        volume: volumeName,
                        volumeID: volume
                    )
                )
            }
        }
        for (index, leaf) in leaves.enumerated() {
            guard let leafPath = paths[leaf] else { continue }
            let file = "\(stem).\(name)" + (leaves.count > 1 ? ".d\(index)" : "") + formats.disk
            files.append(
                PlannedFile(
                    kind: .overlay,
                    path: Self.join(folder?.path ?? Self.directory(of: leafPath), file),
                    covers: leafPath,
                    location: sibling(of: folder?.location ?? leaf, named: file),
                    bytes: overlayBytes
                )
            )
        }
        if files.isEmpty {
            reasons.append(
                Reason(
                    code: .chainBroken,
                    message: "\(vm.name) has no current disk file to take a checkpoint of (network or block disks "
                        + "only, or its chains are unknown); nothing would be created"
                )
            )
        }
        if memory, let first = files.first {
            let file = Self.fileName(of: first.path).replacingSuffix(formats.disk, with: formats.memory)
            files.append(
                PlannedFile(
                    kind: .memory,
                    path: Self.join(Self.directory(of: first.path), file),
                    covers: nil,
                    location: sibling(of: first.location, named: file),
                    bytes: Int64(ValueBounds.clamp(vm.memoryMiB, to: ValueBounds.memoryMiB)) << 20
                )
            )
        }
        reasons += locationReasons(vm, files: files, in: view)
        reasons += spaceReasons(vm, files: files, in: view)
        return Plan(files: files, reasons: reasons)
    }

    /// The new overlays `checkpoint revert VM CHECKPOINT` writes, one over each disk holding the checkpoint's state
    /// (`VM.CHECKPOINT.SUFFIX.qcow2`), and every reason to refuse it: the location rule applies as to a create.
    public static func revert(_ vm: VM, to checkpoint: CheckpointID, suffix: String, in view: ClusterView) -> Plan {
        var state = vm
        // The checkpoint's disks stand in for the current ones; its name (the folder) stays.
        state.metadata = nil
        state.chains = vm.chains.filter { $0.checkpoint == checkpoint }.map {
            var chain = $0
            chain.checkpoint = nil
            return chain
        }
        let name = vm.checkpoints.first { $0.id == checkpoint }?.name ?? checkpoint.rawValue
        return create(state, name: "\(name).\(suffix)", memory: false, in: view)
    }

    /// What refuses any checkpoint operation on the VM (delete and revert too): an operation under way, an owner that
    /// cannot act, a chain the operation would build on or merge that is broken.
    public static func common(_ vm: VM, in view: ClusterView) -> [Reason] {
        var reasons: [Reason] = []
        if view.operationsInProgress.contains(vm.id) {
            reasons.append(StrandRule.operationInProgress(vm, in: view))
        } else if vm.mergePending {
            reasons.append(StrandRule.mergePending(vm))
        }
        if let owner = view.nodes[vm.owner], owner.state != .up {
            reasons.append(
                Reason(
                    code: .targetNotEligible,
                    message: "\(vm.name)'s owner \(vm.owner) is \(owner.state.rawValue); checkpoints are taken, merged "
                        + "and reverted by the owner's agent"
                )
            )
        }
        for file in vm.files {
            guard let problem = file.problem else { continue }
            reasons.append(
                Reason(
                    code: ReasonCode(problem),
                    message: "\(file.path): \(file.problemDetail ?? problem.rawValue); fix the chain first",
                    path: file.path
                )
            )
        }
        return reasons
    }

    /// `checkpoint-location-local`: an HA VM's new file on no volume, or on a volume some possible owner has no
    /// verified mount of.
    static func locationReasons(_ vm: VM, files: [PlannedFile], in view: ClusterView) -> [Reason] {
        guard view.isHighlyAvailable(vm) else { return [] }
        let policy = view.policy(for: vm.id)
        // The nodes the VM could fail over or move to: with none, no file can strand it (as in the audit).
        let owners = view.nodes.keys.filter { $0 != vm.owner && policy.allows($0) }.sorted()
        guard !owners.isEmpty else { return [] }
        var reasons: [Reason] = []
        for file in files {
            switch file.location {
            case .nodeLocal(let node, _):
                reasons.append(
                    Reason(
                        code: .checkpointLocationLocal,
                        message: "the checkpoint's \(file.kind.rawValue) file \(file.path) would be written under no "
                            + "volume marker, so only \(node) could read it and \(vm.name) could no longer fail over; "
                            + "move the VM's current disk to a shared volume first",
                        path: file.path
                    )
                )
            case .volume(let volume, _):
                let missing = owners.filter {
                    view.mounts[volume]?[$0]?.isVerified(at: view.now, probeInterval: view.settings.probeInterval)
                        != true
                }
                guard !missing.isEmpty else { continue }
                let name = view.volumes[volume]?.name ?? volume.rawValue
                reasons.append(
                    Reason(
                        code: .checkpointLocationLocal,
                        message: "the checkpoint's \(file.kind.rawValue) file \(file.path) would be written to volume "
                            + "\(name), which \(missing.map(\.rawValue).joined(separator: ", ")) "
                            + "\(missing.count == 1 ? "does" : "do") not reach (no verified mount); a failover there "
                            + "would strand the checkpoint",
                        path: file.path,
                        volume: name,
                        volumeID: volume
                    )
                )
            }
        }
        return reasons
    }

    /// `volume-space-low`: the owner's last probe of a volume shows less free space than the new files there need.
    static func spaceReasons(_ vm: VM, files: [PlannedFile], in view: ClusterView) -> [Reason] {
        var needed: [VolumeID: Int64] = [:]
        for file in files {
            guard let volume = file.location.volume else { continue }
            needed[volume, default: 0] = needed[volume, default: 0].addingReportingOverflow(file.bytes).partialValue
        }
        var reasons: [Reason] = []
        for (volume, bytes) in needed.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            guard let mount = view.mounts[volume]?[vm.owner], let free = mount.freeBytes else { continue }
            let name = view.volumes[volume]?.name ?? volume.rawValue
            if free < bytes {
                reasons.append(
                    Reason(
                        code: .volumeSpaceLow,
                        message: "volume \(name) has \(free >> 20) MiB free on \(vm.owner); the checkpoint's new files "
                            + "need \(bytes >> 20) MiB there",
                        volume: name,
                        volumeID: volume
                    )
                )
            } else if view.settings.belowFloor(free: free - bytes, total: mount.totalBytes) {
                reasons.append(
                    Reason(
                        code: .volumeSpaceLow,
                        message:
                            "the checkpoint's \(bytes >> 20) MiB would leave volume \(name) \((free - bytes) >> 20) "
                            + "MiB free, below minFreeSpace \(view.settings.minFreeSpacePercent)% of its "
                            + "\((mount.totalBytes ?? 0) >> 20) MiB",
                        volume: name,
                        volumeID: volume
                    )
                )
            }
        }
        return reasons
    }

    /// The location of a file named `name` in the same directory as `location`.
    static func sibling(of location: FileLocation, named name: String) -> FileLocation {
        switch location {
        case .volume(let volume, let relativePath):
            let directory = directory(of: "/" + relativePath)
            return .volume(volume, relativePath: String(join(directory, name).dropFirst()))
        case .nodeLocal(let node, let path):
            return .nodeLocal(node, absolutePath: join(directory(of: path), name))
        }
    }

    /// The folder a VM's files get on a volume chosen for them (`--checkpoint-volume`, `repair`): its name in letters,
    /// digits, `-` and `_`, or `vm-ID` when nothing of the name is left.
    static func folderName(of vm: VM) -> String {
        let stem = vm.name.filter { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        return stem.isEmpty
            ? "vm-" + vm.id.rawValue.filter { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") } : stem
    }

    // Paths as the agents report them: absolute, normalised. New names never contain `/`.
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func fileName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}

extension String {
    fileprivate func replacingSuffix(_ suffix: String, with replacement: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) + replacement : self + replacement
    }
}
