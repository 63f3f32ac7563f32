import ChainModel

/// `audit`: every risk in the cluster (SPEC §5), computed from one consistent view.
///
/// Reachability here is the strand rule's: a node reaches a file when it mounts the file's volume
/// and its probe there passed within `2 × probeInterval`. A file of an HA VM that no possible owner
/// but the current one reaches is critical (the VM cannot fail over at all); one that some possible
/// owners reach is a warning (it fails over to fewer nodes than its policy says).
public enum ClusterAudit {
    public static func risks(in view: ClusterView, _ input: AuditInput) -> [Risk] {
        var risks: [Risk] = []
        let reach = reachability(view)
        for vm in input.vms.sorted(by: { ($0.name, $0.id) < ($1.name, $1.id) }) {
            risks += vmRisks(
                vm,
                view: view,
                reach: reach,
                listedOn: input.listings[vm.id],
                blocked: input.failoverBlocked[vm.id],
                lost: input.lostVolumes[vm.owner]
            )
        }
        // A discovered disk is some VM's when that VM lists it as a disk.
        var used = Set<FileLocation>()
        for vm in input.vms { for file in vm.files where file.kind == .disk { used.insert(file.location) } }
        let unused = input.discoveredDisks.filter {
            !used.contains(.volume($0.volume, relativePath: $0.relativePath))
        }
        return ordered(risks + clusterRisks(view, unusedDisks: unused, inventoryErrors: input.inventoryErrors))
    }

    /// The risks of one VM (its files, next files, limits, listings, lost volumes and failover block), in the order
    /// the audit lists them before `ordered`.
    public static func vmRisks(
        _ vm: VM,
        view: ClusterView,
        reach: [VolumeID: Set<NodeName>],
        listedOn listings: Set<NodeName>?,
        blocked: String?,
        lost: [VolumeID: Duration]?
    ) -> [Risk] {
        var risks = withRepair(fileRisks(vm, view: view, reach: reach), vm, view: view)
        risks += nextFileRisks(vm, view: view, reach: reach)
        risks += limitRisks(vm, view: view)
        if let nodes = listings {
            for node in nodes.sorted() where node != vm.owner {
                risks.append(
                    Risk(
                        code: .registeredOnNonOwner,
                        message: "\(vm.name) is registered on \(node), which does not own it (owner: \(vm.owner)); "
                            + "it could be started twice: remove it from \(node)'s hypervisor",
                        vm: vm.name,
                        vmID: vm.id,
                        node: node
                    )
                )
            }
        }
        if let lost, view.nodes[vm.owner]?.state.renewsLease == true {
            risks += lostVolumeRisks(vm, lost: lost, view: view)
        }
        if let reasons = blocked {
            risks.append(
                Risk(
                    code: .failoverBlocked,
                    message: "\(vm.name) was left down after \(vm.owner) failed: \(reasons); fix the cause, then "
                        + "`chainkeeper vm clear \(vm.name)`",
                    vm: vm.name,
                    vmID: vm.id,
                    node: vm.owner
                )
            )
        }
        return risks
    }

    /// The risks of the cluster itself: volumes, space, stale inventories, node states, orphan disks (the discovered
    /// disks no VM's file is) and inventory errors.
    public static func clusterRisks(
        _ view: ClusterView,
        unusedDisks: [DiscoveredDisk],
        inventoryErrors: [InventoryError]
    ) -> [Risk] {
        var risks = volumeRisks(view) + spaceRisks(view)
        risks += staleInventoryRisks(view) + nodeStateRisks(view)
        risks += orphanDiskRisks(unusedDisks, view: view)
        for error in inventoryErrors.sorted(by: { ($0.node, $0.vm ?? "") < ($1.node, $1.vm ?? "") }) {
            risks.append(
                Risk(
                    code: .inventoryError,
                    message: "\(error.node) could not read an inventory entry\(error.vm.map { " for \($0)" } ?? ""): "
                        + error.message,
                    vm: error.vm,
                    node: error.node
                )
            )
        }
        return risks
    }

    /// VM risks (in VM order) and cluster risks, sorted by code as SPEC §5 lists them, keeping that order within a code.
    public static func ordered(_ risks: [Risk]) -> [Risk] {
        risks.enumerated()
            .sorted { ($0.element.code.order, $0.offset) < ($1.element.code.order, $1.offset) }
            .map(\.element)
    }

    /// Whether the VM the facts describe may carry a risk of its own.
    ///
    /// `false` promises that `vmRisks` returns none, so the VM's files need not be read. Conservative: `true` only
    /// means "read it and judge it".
    public static func mayHaveRisks(
        _ facts: VMAuditFacts,
        view: ClusterView,
        reach: AuditReach,
        listedOn listings: Set<NodeName>?,
        blocked: Bool,
        lost: [VolumeID: Duration]?
    ) -> Bool {
        if facts.hasProblem || blocked { return true }
        if let listings, listings.contains(where: { $0 != facts.owner }) { return true }
        let owner = view.nodes[facts.owner]
        if let lost, owner?.state.renewsLease == true,
            facts.volumes.contains(where: { volume in volume.map { lost[$0] != nil } ?? false })
        {
            return true
        }
        if owner?.driver == .hypervJSON, facts.checkpointCount >= ClusterSettings.hyperVCheckpointLimit { return true }
        if facts.chainDepth > view.settings.maxChainDepth { return true }
        let policy = view.policy(for: facts.id)
        guard policy.highlyAvailable ?? facts.highlyAvailable else { return false }
        // Two loops rather than a union: no set is built for each of 80,000 VMs.
        for volume in facts.volumes
        where !reach.everyCandidateReaches(volume, owner: facts.owner, policy: policy, view: view) {
            return true
        }
        for volume in facts.nextFileVolumes
        where !reach.everyCandidateReaches(volume, owner: facts.owner, policy: policy, view: view) {
            return true
        }
        return false
    }

    /// The VMs with a critical risk: exactly what `vms --stranded` lists.
    public static func strandedVMs(_ risks: [Risk]) -> Set<VMID> {
        Set(risks.filter { $0.severity == .critical }.compactMap(\.vmID))
    }

    /// Nodes each volume is verified reachable from.
    static func reachability(_ view: ClusterView) -> [VolumeID: Set<NodeName>] {
        view.mounts.mapValues { mounts in
            Set(
                mounts.values.filter { $0.isVerified(at: view.now, probeInterval: view.settings.probeInterval) }
                    .map(\.node)
            )
        }
    }

    private static func fileRisks(_ vm: VM, view: ClusterView, reach: [VolumeID: Set<NodeName>]) -> [Risk] {
        var risks: [Risk] = []
        let names = Dictionary(vm.checkpoints.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        let policy = view.policy(for: vm.id)
        let candidates = Set(view.nodes.keys.filter { $0 != vm.owner && policy.allows($0) })
        let highlyAvailable = view.isHighlyAvailable(vm)
        var seen = Set<FileLocation>()
        // Files on one volume share a verdict: who of the candidates reaches it is worked out once per volume.
        var ableByVolume: [VolumeID?: Set<NodeName>] = [:]
        for file in vm.files where seen.insert(file.location).inserted {
            // Described only when a risk names the file (most files carry none).
            var what: String { StrandRule.describe(file, snapshotName: file.checkpoint.flatMap { names[$0] }) }
            var volumeName: String? { file.location.volume.map { view.volumes[$0]?.name ?? $0.rawValue } }
            if let problem = file.problem {
                risks.append(
                    Risk(
                        code: RiskCode(problem),
                        message: "\(what) of \(vm.name): \(problem.rawValue)"
                            + (file.problemDetail.map { " (\($0))" } ?? ""),
                        vm: vm.name,
                        vmID: vm.id,
                        node: vm.owner,
                        volume: volumeName,
                        volumeID: file.location.volume,
                        path: file.path
                    )
                )
            }
            guard highlyAvailable, !candidates.isEmpty else { continue }
            let able: Set<NodeName>
            if let known = ableByVolume[file.location.volume] {
                able = known
            } else {
                able = candidates.intersection(file.location.volume.map { reach[$0] ?? [] } ?? [])
                ableByVolume[file.location.volume] = able
            }
            if able.isEmpty {
                let place =
                    volumeName.map { "volume '\($0)'" } ?? "no volume (only \(vm.owner) can reach it)"
                risks.append(
                    Risk(
                        code: .fileOnLocalVolume,
                        message: "\(what) of \(vm.name) is on \(place), which no other possible owner reaches; "
                            + "\(vm.name) cannot fail over or migrate until it is moved to a shared volume",
                        vm: vm.name,
                        vmID: vm.id,
                        node: vm.owner,
                        volume: volumeName,
                        volumeID: file.location.volume,
                        path: file.path
                    )
                )
            } else if able.count < candidates.count {
                let missing = candidates.subtracting(able).sorted().map(\.rawValue).joined(separator: ", ")
                risks.append(
                    Risk(
                        code: .limitedFailover,
                        message: "\(what) of \(vm.name) is on volume '\(volumeName ?? "?")', which \(missing) "
                            + "cannot reach; \(vm.name) can only fail over to "
                            + able.sorted().map(\.rawValue).joined(separator: ", "),
                        vm: vm.name,
                        vmID: vm.id,
                        node: vm.owner,
                        volume: volumeName,
                        volumeID: file.location.volume,
                        path: file.path
                    )
                )
            }
        }
        return risks
    }

    /// Stranded-file risks that `repair` could fix name the volume it would use (SPEC §7 `repairTo`).
    private static func withRepair(_ risks: [Risk], _ vm: VM, view: ClusterView) -> [Risk] {
        let repairable: Set<RiskCode> = [.fileOnLocalVolume, .limitedFailover]
        guard risks.contains(where: { repairable.contains($0.code) }),
            let volume = RepairRule.suggestedVolume(vm, in: view)
        else { return risks }
        let name = view.volumes[volume]?.name ?? volume.rawValue
        return risks.map { risk in
            var risk = risk
            if repairable.contains(risk.code) { risk.repairTo = name }
            return risk
        }
    }

    /// `checkpoint-location-local`: where an HA VM's next checkpoint or smart paging file would be written, some
    /// possible owner cannot read it (issue 24), before any such file exists.
    private static func nextFileRisks(_ vm: VM, view: ClusterView, reach: [VolumeID: Set<NodeName>]) -> [Risk] {
        guard !vm.nextFiles.isEmpty, view.isHighlyAvailable(vm) else { return [] }
        let policy = view.policy(for: vm.id)
        let candidates = Set(view.nodes.keys.filter { $0 != vm.owner && policy.allows($0) })
        guard !candidates.isEmpty else { return [] }
        return vm.nextFiles.compactMap { next in
            let what = next.role == .checkpoint ? "next checkpoint's files" : "smart paging file"
            let volume = next.location.volume
            let volumeName = volume.map { view.volumes[$0]?.name ?? $0.rawValue }
            let missing = candidates.subtracting(volume.map { reach[$0] ?? [] } ?? []).sorted().map(\.rawValue)
            guard !missing.isEmpty else { return nil }
            let place =
                volumeName.map { "volume '\($0)', which \(missing.joined(separator: ", ")) cannot reach" }
                ?? "no volume (only \(vm.owner) can reach it)"
            return Risk(
                code: .checkpointLocationLocal,
                message:
                    "\(vm.name)'s \(what) would be written to \(next.path), on \(place); a failover after the next "
                    + "checkpoint would strand it: point the VM's checkpoint file location at a shared volume",
                vm: vm.name,
                vmID: vm.id,
                node: vm.owner,
                volume: volumeName,
                volumeID: volume,
                path: next.path
            )
        }
    }

    /// `checkpoint-limit`: Hyper-V refuses a VM's 51st checkpoint, and every extra level of a chain is one more file
    /// each read may pass through and one more header a failover's preflight must verify.
    private static func limitRisks(_ vm: VM, view: ClusterView) -> [Risk] {
        var risks: [Risk] = []
        let limit = ClusterSettings.hyperVCheckpointLimit
        if view.nodes[vm.owner]?.driver == .hypervJSON, vm.checkpoints.count >= limit {
            risks.append(
                Risk(
                    code: .checkpointLimit,
                    message:
                        "\(vm.name) has \(vm.checkpoints.count) checkpoints; Hyper-V takes at most \(limit) per VM, so "
                        + "the next one fails: delete the ones no longer needed",
                    vm: vm.name,
                    vmID: vm.id,
                    node: vm.owner
                )
            )
        }
        let depth = vm.chains.map(\.elements.count).max() ?? 0
        if depth > view.settings.maxChainDepth {
            risks.append(
                Risk(
                    code: .checkpointLimit,
                    message: "a disk chain of \(vm.name) is \(depth) files deep, more than maxChainDepth "
                        + "\(view.settings.maxChainDepth); every read may pass through each of them: delete (merge) "
                        + "checkpoints",
                    vm: vm.name,
                    vmID: vm.id,
                    node: vm.owner
                )
            )
        }
        return risks
    }

    /// `volume-space-low`: a volume whose free space, as some node last measured it, is below `minFreeSpace` of its size.
    ///
    /// A differencing disk that cannot grow stops its VM (Hyper-V pauses it), so this is said before it happens.
    private static func spaceRisks(_ view: ClusterView) -> [Risk] {
        view.mounts.sorted(by: { $0.key.rawValue < $1.key.rawValue }).compactMap { volume, mounts in
            let low = mounts.values.filter { mount in
                mount.freeBytes.map { view.settings.belowFloor(free: $0, total: mount.totalBytes) } ?? false
            }
            guard let worst = low.min(by: { ($0.freeBytes ?? 0, $0.node) < ($1.freeBytes ?? 0, $1.node) }),
                let free = worst.freeBytes, let total = worst.totalBytes
            else { return nil }
            let name = view.volumes[volume]?.name ?? volume.rawValue
            let percent = Double(free) * 100 / Double(total)
            return Risk(
                code: .volumeSpaceLow,
                message:
                    "volume \(name) has \(free >> 20) MiB free of \(total >> 20) MiB (\(Int(percent.rounded(.down)))%, as "
                    + "\(worst.node) measured it), below minFreeSpace \(view.settings.minFreeSpacePercent)%: differencing disks "
                    + "that cannot grow stop their VMs; free space or move VMs away",
                node: worst.node,
                volume: name,
                volumeID: volume
            )
        }
    }

    private static func volumeRisks(_ view: ClusterView) -> [Risk] {
        var risks: [Risk] = []
        let window = DurationText.format(view.settings.probeInterval * 2)
        for (volumeID, mounts) in view.mounts.sorted(by: { $0.key < $1.key }) {
            for mount in mounts.values.sorted(by: { $0.node < $1.node })
            where !mount.isVerified(at: view.now, probeInterval: view.settings.probeInterval) {
                let name = view.volumes[volumeID]?.name ?? volumeID.rawValue
                risks.append(
                    Risk(
                        code: .volumeNotVerified,
                        message: "volume '\(name)' is reported by \(mount.node) at \(mount.mountPath) but its probe "
                            + "has not passed there within \(window)",
                        node: mount.node,
                        volume: name,
                        volumeID: volumeID,
                        path: mount.mountPath
                    )
                )
            }
        }
        return risks
    }

    /// A VM with files on a shared volume its owner has lost while renewing its lease (SPEC §6): one risk per volume.
    private static func lostVolumeRisks(_ vm: VM, lost: [VolumeID: Duration], view: ClusterView) -> [Risk] {
        let used = Set(vm.files.compactMap(\.location.volume))
        return lost.keys.filter { used.contains($0) }.sorted().compactMap { volume -> Risk? in
            guard let duration = lost[volume] else { return nil }
            let name = view.volumes[volume]?.name ?? volume.rawValue
            return Risk(
                code: .volumeLost,
                message: """
                    \(vm.owner) renews its lease but has not reached volume '\(name)' for \(DurationText.format(duration)) \
                    (its storage heartbeat writes there fail), and \(vm.name) has files on it: it is not fenced; restore \
                    the storage path (multipath, NFS or iSCSI session), or stop \(vm.name) and fail it over by hand
                    """,
                vm: vm.name,
                vmID: vm.id,
                node: vm.owner,
                volume: name,
                volumeID: volume
            )
        }
    }

    /// Isolated and quarantined nodes (SPEC §6).
    private static func nodeStateRisks(_ view: ClusterView) -> [Risk] {
        view.nodes.values.sorted(by: { $0.name < $1.name }).compactMap { node -> Risk? in
            switch node.state {
            case .isolated:
                return Risk(
                    code: .nodeIsolated,
                    message: "\(node.name)'s lease ran out but it was not proven down: its VMs run unmonitored and do "
                        + "not fail over; restore its path to the coordinator (docs/operations.md, \"A node is isolated\")",
                    node: node.name
                )
            case .quarantined:
                return Risk(
                    code: .nodeQuarantined,
                    message:
                        "\(node.name) was isolated or down too often within an hour: nothing is placed on it until "
                        + "`chainkeeper node resume \(node.name)`",
                    node: node.name
                )
            case .up, .down, .fenced, .draining:
                return nil
            }
        }
    }

    private static func staleInventoryRisks(_ view: ClusterView) -> [Risk] {
        view.nodes.values.sorted(by: { $0.name < $1.name }).compactMap { node -> Risk? in
            let limit = view.settings.inventoryMaxAge
            let age = node.lastInventoryAt.map { view.now.since($0) }
            guard age.map({ $0 > limit }) ?? true else { return nil }
            let detail = age.map { "is \(DurationText.format($0)) old" } ?? "has never arrived"
            return Risk(
                code: .inventoryStale,
                message: "\(node.name)'s inventory \(detail) (limit \(DurationText.format(limit))); check its agent",
                node: node.name
            )
        }
    }

    /// Differencing disks on a volume that no chain of any VM in the cluster uses: compared against every VM's files,
    /// not one node's (`unused` holds the discovered disks no file is).
    private static func orphanDiskRisks(_ unused: [DiscoveredDisk], view: ClusterView) -> [Risk] {
        var reported = Set<FileLocation>()
        return unused.sorted(by: { ($0.volume, $0.relativePath) < ($1.volume, $1.relativePath) })
            .compactMap { disk -> Risk? in
                let location = FileLocation.volume(disk.volume, relativePath: disk.relativePath)
                guard reported.insert(location).inserted else { return nil }
                let name = view.volumes[disk.volume]?.name ?? disk.volume.rawValue
                return Risk(
                    code: .orphanDisk,
                    message: "differencing disk '\(disk.path)' on volume '\(name)' belongs to no chain of any VM; "
                        + "it uses space and may be a leftover of a failed merge",
                    node: disk.node,
                    volume: name,
                    volumeID: disk.volume,
                    path: disk.path
                )
            }
    }
}
