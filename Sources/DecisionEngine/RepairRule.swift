import ChainModel

/// The plan of `repair VM --to-volume VOLUME` (issue 25, SPEC §7).
///
/// Which of a stranded VM's files move where, and every reason the repair would be refused. Pure: the coordinator
/// shows it (`--dry-run`) and, later, the owner carries it out.
///
/// A file is stranded when an HA VM's possible owner (other than its owner) cannot reach it: on no volume, or on a
/// volume some of them has no verified mount of (the audit's `file-on-local-volume` and `limited-failover`). Each goes
/// to a folder named after the VM on the target volume, under its own name.
public enum RepairRule {
    /// One file to copy.
    public struct Copy: Sendable, Hashable {
        /// As the owner sees them.
        public var from: String
        public var to: String
        public var destination: FileLocation
        public var size: Int64
        public var kind: FileKind
        /// Stranded itself, or a disk above a stranded file in a chain (it moves too, so nothing is re-linked in
        /// place and the old chain stays whole until the hypervisor switches).
        public var stranded: Bool
    }

    public struct Plan: Sendable, Hashable {
        public var volume: VolumeID
        public var copies: [Copy]
        public var reasons: [Reason]
        public var allowed: Bool { reasons.isEmpty }
    }

    /// The VM's files that some possible owner other than its owner cannot reach, in file-set order.
    public static func strandedFiles(_ vm: VM, in view: ClusterView) -> [VMFile] {
        let candidates = otherOwners(vm, in: view)
        guard !candidates.isEmpty else { return [] }
        var seen = Set<FileLocation>()
        return vm.files.filter { file in
            guard seen.insert(file.location).inserted else { return false }
            guard let volume = file.location.volume else { return true }
            return !candidates.allSatisfy { reaches($0, volume, in: view) }
        }
    }

    /// The stranded files and every disk above one in a chain (leaf side), in file-set order: what a repair moves.
    public static func filesToMove(_ vm: VM, in view: ClusterView) -> [(file: VMFile, stranded: Bool)] {
        let stranded = Set(strandedFiles(vm, in: view).map(\.location))
        guard !stranded.isEmpty else { return [] }
        var above = Set<FileLocation>()
        for chain in vm.chains {
            guard let deepest = chain.elements.lastIndex(where: stranded.contains) else { continue }
            above.formUnion(chain.elements[...deepest])
        }
        var seen = Set<FileLocation>()
        return vm.files.compactMap { file in
            guard stranded.contains(file.location) || above.contains(file.location),
                seen.insert(file.location).inserted
            else { return nil }
            return (file, stranded.contains(file.location))
        }
    }

    /// The plan for moving the stranded files of `vm` (and the disks above them) to `volume`.
    public static func plan(_ vm: VM, to volume: VolumeID, in view: ClusterView) -> Plan {
        var reasons: [Reason] = []
        let volumeName = view.volumes[volume]?.name ?? volume.rawValue
        if view.operationsInProgress.contains(vm.id) { reasons.append(StrandRule.operationInProgress(vm, in: view)) }
        if vm.mergePending { reasons.append(StrandRule.mergePending(vm)) }
        // A draining owner still runs its agent: `drain` repairs before it moves (`--stranded repair`).
        if let owner = view.nodes[vm.owner], owner.state != .up && owner.state != .draining {
            reasons.append(
                Reason(
                    code: .targetNotEligible,
                    message:
                        "\(vm.name)'s owner \(vm.owner) is \(owner.state.rawValue); a repair is carried out by the "
                        + "owner's agent"
                )
            )
        }
        // Copies of a chain whose links cannot be trusted would carry the damage along.
        for file in vm.files {
            guard let problem = file.problem else { continue }
            reasons.append(
                Reason(
                    code: ReasonCode(problem),
                    message: "\(file.path): \(file.problemDetail ?? problem.rawValue); a repair copies only chains "
                        + "whose every link verifies",
                    path: file.path
                )
            )
        }
        let unreachable = ([vm.owner] + otherOwners(vm, in: view)).filter { !reaches($0, volume, in: view) }
        if !unreachable.isEmpty {
            reasons.append(
                Reason(
                    code: .fileOnLocalVolume,
                    message: "volume \(volumeName) is not reachable (verified) from "
                        + "\(unreachable.map(\.rawValue).joined(separator: ", ")); files copied there would still be "
                        + "stranded: choose a volume every possible owner of \(vm.name) mounts",
                    volume: volumeName,
                    volumeID: volume
                )
            )
        }
        var copies: [Copy] = []
        if let mount = view.mounts[volume]?[vm.owner] {
            let folder = CheckpointRule.folderName(of: vm)
            var used = Set<String>()
            for (file, stranded) in filesToMove(vm, in: view) {
                var name = CheckpointRule.fileName(of: file.path)
                // Two stranded files may share a name (from different folders): the later one gets a number.
                var counter = 1
                while !used.insert(name).inserted {
                    counter += 1
                    name = "\(counter)-" + CheckpointRule.fileName(of: file.path)
                }
                copies.append(
                    Copy(
                        from: file.path,
                        to: CheckpointRule.join(CheckpointRule.join(mount.mountPath, folder), name),
                        destination: .volume(volume, relativePath: folder + "/" + name),
                        size: max(0, file.size),
                        kind: file.kind,
                        stranded: stranded
                    )
                )
            }
            let needed = copies.reduce(Int64(0)) { $0.addingReportingOverflow($1.size).partialValue }
            if let free = mount.freeBytes,
                free < needed || view.settings.belowFloor(free: free - needed, total: mount.totalBytes)
            {
                reasons.append(
                    Reason(
                        code: .volumeSpaceLow,
                        message: "volume \(volumeName) has \(free >> 20) MiB free on \(vm.owner); the copies need "
                            + "\(needed >> 20) MiB and must leave minFreeSpace \(view.settings.minFreeSpacePercent)%",
                        volume: volumeName,
                        volumeID: volume
                    )
                )
            }
        }
        return Plan(volume: volume, copies: copies, reasons: reasons)
    }

    /// The volume a repair of `vm` would use: its policy's checkpoint volume, else the shared volume every possible
    /// owner reaches with the most free space on the owner; nil when none would do.
    public static func suggestedVolume(_ vm: VM, in view: ClusterView) -> VolumeID? {
        let owners = [vm.owner] + otherOwners(vm, in: view)
        func fits(_ volume: VolumeID) -> Bool { owners.allSatisfy { reaches($0, volume, in: view) } }
        if let preferred = view.policy(for: vm.id).checkpointVolume, fits(preferred) { return preferred }
        return view.mounts.keys.filter(fits).max { left, right in
            let (a, b) = (view.mounts[left]?[vm.owner]?.freeBytes ?? 0, view.mounts[right]?[vm.owner]?.freeBytes ?? 0)
            return (a, right.rawValue) < (b, left.rawValue)
        }
    }

    static func otherOwners(_ vm: VM, in view: ClusterView) -> [NodeName] {
        guard view.isHighlyAvailable(vm) else { return [] }
        let policy = view.policy(for: vm.id)
        return view.nodes.keys.filter { $0 != vm.owner && policy.allows($0) }.sorted()
    }

    static func reaches(_ node: NodeName, _ volume: VolumeID, in view: ClusterView) -> Bool {
        view.mounts[volume]?[node]?.isVerified(at: view.now, probeInterval: view.settings.probeInterval) == true
    }
}
