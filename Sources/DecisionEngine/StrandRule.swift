import ChainModel

/// The strand rule, `check(vm, target)` of SPEC §5: a VM may move only if the target can reach every file of its file
/// set and is an eligible home for it.
///
/// Every reason that applies is returned, not just the first, so an administrator fixes everything in one pass.
public enum StrandRule {
    public static func check(
        _ vm: VM,
        to target: NodeName,
        in view: ClusterView,
        mode: CheckMode = .migration
    ) -> Verdict {
        var reasons: [Reason] = []
        let checkpointNames = Dictionary(vm.checkpoints.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        reasons += fileReasons(vm, target: target, view: view, checkpointNames: checkpointNames)
        if mode == .migration { reasons += staleInventoryReasons(vm, view: view) }
        reasons += metadataReasons(vm, mode: mode)
        reasons += eligibilityReasons(vm, target: target, view: view)
        reasons += capacityReasons(vm, target: target, view: view)
        if view.operationsInProgress.contains(vm.id) {
            reasons.append(operationInProgress(vm, in: view))
        } else if vm.mergePending, mode == .migration {
            // A failover goes on: the owner is gone, and Hyper-V finishes an interrupted merge where the VM starts.
            reasons.append(mergePending(vm))
        }
        // SPEC order by code; within a code, the order the files were found.
        let ordered = reasons.enumerated().sorted {
            ($0.element.code.order, $0.offset) < ($1.element.code.order, $1.offset)
        }
        return Verdict(vm: vm.id, vmName: vm.name, target: target, reasons: ordered.map(\.element))
    }

    /// `operation-in-progress`, naming what runs: a checkpoint delete is merging disks, and a move now would carry a
    /// chain that is being rewritten.
    public static func operationInProgress(_ vm: VM, in view: ClusterView) -> Reason {
        let what: String =
            switch view.operationKinds[vm.id] {
            case "checkpoint-delete": "a checkpoint delete (a merge of its differencing disks)"
            case "checkpoint-create": "a checkpoint being taken"
            case "checkpoint-revert": "a checkpoint revert"
            case "repair": "a repair"
            case let kind?: "a \(kind)"
            case nil: "another migration or operation"
            }
        return Reason(
            code: .operationInProgress,
            message: "\(vm.name) has \(what) under way; wait for it to finish (see `chainkeeper history --vm "
                + "\(vm.name)`)"
        )
    }

    /// `operation-in-progress` for a merge the hypervisor itself reports (Hyper-V after a checkpoint delete).
    public static func mergePending(_ vm: VM) -> Reason {
        Reason(
            code: .operationInProgress,
            message: "\(vm.owner) reports a checkpoint merge of \(vm.name) that has not finished; its chain is being "
                + "rewritten: wait for the merge to end"
        )
    }

    // MARK: - Hypervisor metadata

    /// A libvirt VM moves only with the domain and snapshot XML the coordinator holds (issue 23).
    ///
    /// A migration needs
    /// the copy the owner last reported (the source checks it again before it releases); a failover needs a copy whose
    /// leaves are still the VM's leaves: one read before a later snapshot would start the domain on a file that is now
    /// a snapshot's backing file.
    static func metadataReasons(_ vm: VM, mode: CheckMode) -> [Reason] {
        guard let metadata = vm.metadata else { return [] }
        guard let held = metadata.heldDigest else {
            return [
                Reason(
                    code: .metadataStale,
                    message: "the coordinator holds no libvirt metadata (domain and snapshot XML) for \(vm.name) yet: "
                        + "\(vm.owner)'s agent uploads it after its next report; another host could not define the "
                        + "domain without it"
                )
            ]
        }
        switch mode {
        case .migration:
            guard held != metadata.reportedDigest else { return [] }
            return [
                Reason(
                    code: .metadataStale,
                    message: "the libvirt metadata the coordinator holds for \(vm.name) is older than what "
                        + "\(vm.owner) last reported (a snapshot or definition changed); it arrives with the agent's "
                        + "next upload, try again in a few seconds"
                )
            ]
        case .failover:
            // The held copy's leaves must still be files the VM writes to; the file set's leaves may hold more (an
            // overlay a revert left behind is a leaf nobody writes to).
            let current = currentLeaves(of: vm)
            guard !Set(metadata.heldLeaves).isSubset(of: current) else { return [] }
            let gone = metadata.heldLeaves.filter { !current.contains($0) }.sorted()
            return [
                Reason(
                    code: .metadataStale,
                    message: "the libvirt metadata the coordinator holds for \(vm.name) has the domain writing to "
                        + "\(gone.isEmpty ? "other files" : gone.joined(separator: ", ")), but its chain has moved on "
                        + "(a snapshot taken after the last upload); starting it from that copy would write into a "
                        + "snapshot's disk, so the failover is held",
                    path: gone.first
                )
            ]
        }
    }

    /// The paths of the files the VM writes to now: the first element of each current chain.
    static func currentLeaves(of vm: VM) -> Set<String> {
        let paths = Dictionary(vm.files.map { ($0.location, $0.path) }, uniquingKeysWith: { first, _ in first })
        return Set(vm.chains.filter { $0.checkpoint == nil }.compactMap { $0.elements.first.flatMap { paths[$0] } })
    }

    // MARK: - Files

    private static func fileReasons(
        _ vm: VM,
        target: NodeName,
        view: ClusterView,
        checkpointNames: [CheckpointID: String]
    ) -> [Reason] {
        var reasons: [Reason] = []
        var unverifiedVolumes = Set<VolumeID>()
        var seen = Set<FileLocation>()
        for file in vm.files where seen.insert(file.location).inserted {
            let snapshotName = file.checkpoint.flatMap { checkpointNames[$0] }
            let what = describe(file, snapshotName: snapshotName)
            switch file.location {
            case .nodeLocal(let node, _):
                reasons.append(
                    Reason(
                        code: .fileOnLocalVolume,
                        message: "\(what) is under no volume marker, so only \(node) can reach it; move it to a "
                            + "shared volume, or mark the shared mount that holds it with `chainkeeper volume init`",
                        path: file.path,
                        snapshot: snapshotName,
                        snapshotID: file.checkpoint
                    )
                )
            case .volume(let volumeID, _):
                let volumeName = view.volumes[volumeID]?.name ?? volumeID.rawValue
                if let mount = view.mounts[volumeID]?[target] {
                    if !mount.isVerified(at: view.now, probeInterval: view.settings.probeInterval),
                        unverifiedVolumes.insert(volumeID).inserted
                    {
                        let window = DurationText.format(view.settings.probeInterval * 2)
                        reasons.append(
                            Reason(
                                code: .volumeNotVerified,
                                message: "volume '\(volumeName)' is mounted on \(target) but its reachability "
                                    + "probe has not passed there within \(window); check that \(target)'s agent is "
                                    + "running and can read the volume",
                                path: file.path,
                                volume: volumeName,
                                volumeID: volumeID
                            )
                        )
                    }
                } else {
                    reasons.append(
                        Reason(
                            code: .fileOnLocalVolume,
                            message: "\(what) is on volume '\(volumeName)', which \(target) does not mount; move it "
                                + "to a volume \(target) shares, or choose another target",
                            path: file.path,
                            volume: volumeName,
                            volumeID: volumeID,
                            snapshot: snapshotName,
                            snapshotID: file.checkpoint
                        )
                    )
                }
            }
            if let problem = file.problem {
                reasons.append(
                    Reason(
                        code: ReasonCode(problem),
                        message: problemMessage(problem, what: what, detail: file.problemDetail),
                        path: file.path,
                        volume: file.location.volume.map { view.volumes[$0]?.name ?? $0.rawValue },
                        volumeID: file.location.volume,
                        snapshot: snapshotName,
                        snapshotID: file.checkpoint
                    )
                )
            }
        }
        return reasons
    }

    /// "memory file '/mnt/…' of checkpoint 'before-upgrade'".
    static func describe(_ file: VMFile, snapshotName: String?) -> String {
        let noun: String
        switch file.kind {
        case .configuration: noun = "configuration file"
        case .runtimeState: noun = "runtime state file"
        case .guestState: noun = "guest state file"
        case .savedState: noun = "saved state file"
        case .memory: noun = "memory file"
        case .disk: noun = "disk"
        case .media: noun = "mounted ISO"
        }
        let owner = snapshotName.map { " of checkpoint '\($0)'" } ?? ""
        return "\(noun) '\(file.path)'\(owner)"
    }

    private static func problemMessage(_ problem: FileProblem, what: String, detail: String?) -> String {
        let seen = detail.map { ": \($0)" } ?? ""
        switch problem {
        case .missing:
            return "\(what) does not exist\(seen); restore it, or remove the checkpoint that needs it"
        case .chainBroken:
            return "\(what) breaks its disk chain\(seen); reconnect it to its real parent (Set-VHD -ParentPath, "
                + "qemu-img rebase) and rescan"
        case .needsLogReplay:
            return "\(what) has a VHDX log that must be replayed before its metadata can be trusted\(seen); open "
                + "it once on its Hyper-V host (Mount-VHD) and rescan"
        }
    }

    // MARK: - Owner, target and capacity

    private static func staleInventoryReasons(_ vm: VM, view: ClusterView) -> [Reason] {
        let limit = view.settings.inventoryMaxAge
        guard let last = view.nodes[vm.owner]?.lastInventoryAt else {
            return [
                Reason(
                    code: .inventoryStale,
                    message: "\(vm.owner) has not delivered an inventory yet, so \(vm.name)'s files cannot be "
                        + "trusted; check its agent"
                )
            ]
        }
        let age = view.now.since(last)
        guard age > limit else { return [] }
        return [
            Reason(
                code: .inventoryStale,
                message: "\(vm.owner)'s last inventory is \(DurationText.format(age)) old (limit "
                    + "\(DurationText.format(limit))), so \(vm.name)'s files cannot be trusted; check its agent"
            )
        ]
    }

    private static func eligibilityReasons(_ vm: VM, target: NodeName, view: ClusterView) -> [Reason] {
        var reasons: [Reason] = []
        func refuse(_ message: String) { reasons.append(Reason(code: .targetNotEligible, message: message)) }

        guard let node = view.nodes[target] else {
            refuse("\(target) is not a member of the cluster")
            return reasons
        }
        switch node.state {
        case .up: break
        case .down: refuse("\(target) is down (its lease ran out)")
        case .fenced: refuse("\(target) is fenced; it must rejoin the cluster before it can own VMs")
        case .draining: refuse("\(target) is draining; run `chainkeeper node resume \(target)` first")
        case .isolated:
            refuse(
                "\(target) is isolated (its lease ran out, its storage heartbeat did not); it must reach the "
                    + "coordinator again"
            )
        case .quarantined:
            refuse("\(target) is quarantined after flapping; run `chainkeeper node resume \(target)` once it is stable")
        }
        if target == vm.owner { refuse("\(target) already owns \(vm.name)") }
        let policy = view.policy(for: vm.id)
        if !policy.allows(target) {
            let names = policy.possibleOwners.map(\.rawValue).joined(separator: ", ")
            refuse("\(target) is not a possible owner of \(vm.name) (possible owners: \(names))")
        }
        if let ownerDriver = view.nodes[vm.owner]?.driver, let targetDriver = node.driver,
            ownerDriver != targetDriver
        {
            reasons.append(
                Reason(
                    code: .hypervisorMismatch,
                    message: "\(vm.name) runs on a \(ownerDriver.rawValue) node (\(vm.owner)) but \(target) uses "
                        + "\(targetDriver.rawValue); a VM only moves between nodes of the same hypervisor"
                )
            )
        }
        return reasons
    }

    private static func capacityReasons(_ vm: VM, target: NodeName, view: ClusterView) -> [Reason] {
        var reasons: [Reason] = []
        if vm.state.holdsMemory, vm.owner != target, let free = view.freeMemoryMiB(on: target),
            vm.memoryMiB > free
        {
            let offered = view.nodes[target]?.memoryMiB ?? 0
            reasons.append(
                Reason(
                    code: .insufficientMemory,
                    message: "\(vm.name) is \(vm.state.rawValue) with \(vm.memoryMiB) MiB but \(target) has "
                        + "\(max(free, 0)) MiB free (\(offered) MiB offered); free memory there or choose another "
                        + "target"
                )
            )
        }
        if let className = view.policy(for: vm.id).antiAffinityClass, view.classes[className]?.enforced == true {
            let others = (view.load[target]?.runningByClass[className] ?? []).filter { $0 != vm.id }
            if let first = others.first {
                let otherName = view.placements[first]?.name ?? first.rawValue
                reasons.append(
                    Reason(
                        code: .antiAffinity,
                        message: "\(target) already runs \(otherName) of enforced anti-affinity class "
                            + "'\(className)'; choose another target or relax the class "
                            + "(`chainkeeper policy class \(className) --enforce false`)"
                    )
                )
            }
        }
        return reasons
    }
}
