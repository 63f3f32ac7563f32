import ChainModel
import ClusterAPI
import ClusterStore
import DecisionEngine
import Foundation

/// What the read routes and the dashboard both show, built once here so the JSON API and the pages cannot disagree.
extension Coordinator {
    /// The audit from maintained state: every VM's facts, and in full only the VMs that may carry a risk.
    func audit() throws -> MaintainedAudit.Result { try maintainedAudit.audit(self) }

    /// The whole cluster as the full audit judges it: every VM in full.
    ///
    /// 2-3 s at SPEC §9 scale; only the consistency check of the maintained audit reads it (`MaintainedAuditTests`).
    func auditSnapshot() throws -> (view: ClusterView, input: AuditInput) {
        let snapshot = try store.snapshot()
        let blocked = try store.failoverRecord(since: now()).blocked
        return (
            ClusterView(snapshot, now: now(), settings: settings),
            AuditInput(snapshot, failoverBlocked: blocked, lostVolumes: lostVolumes)
        )
    }

    /// Shared volumes nodes have lost for longer than `storageLossTimeout` (SPEC §6).
    var lostVolumes: [NodeName: [VolumeID: Duration]] { storageLoss.lost(longerThan: config.storageLossTimeout) }

    /// The engine's view of the cluster without any VM's files (nodes, volumes, mounts, policies, load), kept until a
    /// commit changes it: what `nodes`, `volumes`, what-if and the dashboard's overview read.
    func placementView() throws -> ClusterView {
        try placements.view(store: store, now: now(), settings: settings)
    }

    /// `vm show`: one VM in full and the risks that name it, judged against the placement view (what `check` reads),
    /// without reading the rest of the cluster's files.
    ///
    /// The risks equal the full audit's for this VM: file reachability, registration on a non-owner, and a failover
    /// block are all a VM's own risks need.
    func vmDetail(_ key: String) throws -> VMDetailJSON {
        let (vm, view) = try judged(key)
        let input = AuditInput(
            vms: [vm],
            listings: [vm.id: try store.listings(of: vm.id)],
            failoverBlocked: try store.failoverRecord(since: now()).blocked.filter { $0.key == vm.id },
            lostVolumes: lostVolumes.filter { $0.key == vm.owner }
        )
        var detail = VMDetailJSON(vm, view: view, risks: ClusterAudit.risks(in: view, input))
        if let metadata = vm.metadata {
            let held = try store.heldMetadata(of: vm.id)
            let age = held.map { max(0, now().since($0.receivedAt).wholeMilliseconds / 1000) }
            detail.hypervisorMetadata = MetadataStatusJSON(
                held: metadata.isCurrent,
                reportedDigest: metadata.reportedDigest,
                heldDigest: held?.digest,
                heldSince: held.map {
                    Date(timeIntervalSince1970: Double($0.receivedAt.millisecondsSinceEpoch) / 1000).ISO8601Format()
                },
                ageSeconds: age,
                snapshots: held?.snapshots
            )
        }
        return detail
    }

    /// `nodes`: every member with its lease as the failover manager holds it.
    func nodeRows(_ view: ClusterView) async -> [NodeJSON] {
        var rows: [NodeJSON] = []
        for node in view.nodes.values.sorted(by: { $0.name < $1.name }) {
            let load = view.load[node.name]
            let lease = await failover.leaseExpiresIn(node.name)
            rows.append(
                NodeJSON(
                    name: node.name.rawValue,
                    state: node.state.rawValue,
                    leaseExpiresIn: lease.map { Double($0.wholeMilliseconds) / 1000 },
                    driver: node.driver?.rawValue,
                    vmCount: load?.vmCount ?? 0,
                    memoryUsedMiB: load?.memoryUsedMiB ?? 0,
                    memoryMiB: node.memoryMiB
                )
            )
        }
        return rows
    }

    /// `volumes`: every volume with the nodes whose probe there passed lately (shared when two or more).
    static func volumeRows(_ view: ClusterView) -> [VolumeJSON] {
        view.volumes.values.sorted { ($0.name, $0.id) < ($1.name, $1.id) }.map { volume in
            let mounts = view.mounts[volume.id] ?? [:]
            let verified = mounts.values.filter {
                $0.isVerified(at: view.now, probeInterval: view.settings.probeInterval)
            }.map(\.node.rawValue).sorted()
            return VolumeJSON(
                id: volume.id.rawValue,
                name: volume.name,
                reachableFrom: verified,
                kind: verified.count >= 2 ? "shared" : "local",
                reportedBy: mounts.keys.map(\.rawValue).sorted(),
                freeBytes: mounts.values.compactMap(\.freeBytes).min()
            )
        }
    }

    /// `vms`: one summary per VM, in the audit's order of the input.
    static func vmSummaries(_ view: ClusterView, _ input: AuditInput, risks: [Risk]) -> [VMSummaryJSON] {
        var codes: [VMID: Set<String>] = [:]
        for risk in risks { if let vm = risk.vmID { codes[vm, default: []].insert(risk.code.rawValue) } }
        let stranded = ClusterAudit.strandedVMs(risks)
        return input.vms.map { vm in
            VMSummaryJSON(
                name: vm.name,
                id: vm.id.rawValue,
                owner: vm.owner.rawValue,
                state: vm.state.rawValue,
                highlyAvailable: view.isHighlyAvailable(vm),
                stranded: stranded.contains(vm.id),
                epoch: vm.ownership.epoch.rawValue,
                checkpoints: vm.checkpoints.count,
                risks: (codes[vm.id] ?? []).sorted()
            )
        }
    }

    /// `history`: journaled moves, newest first, of one VM or of all.
    func historyRows(vm: VMID?, limit: Int = 500) throws -> [HistoryEntryJSON] {
        try store.history(vm: vm, limit: limit).map { record in
            HistoryEntryJSON(
                id: record.id,
                vm: record.vmName,
                vmId: record.vm.rawValue,
                kind: record.kind.rawValue,
                source: record.source.rawValue,
                target: record.target.rawValue,
                epoch: record.epoch.rawValue,
                state: record.state.rawValue,
                abortReason: record.abortReason,
                reasons: record.reasons.flatMap {
                    try? JSONDecoder().decode([ReasonJSON].self, from: Data($0.utf8))
                } ?? [],
                requestedBy: record.requestedBy,
                createdAt: record.createdAt.millisecondsSinceEpoch,
                updatedAt: record.updatedAt.millisecondsSinceEpoch,
                steps: record.steps.map {
                    .init(state: $0.state.rawValue, at: $0.at.millisecondsSinceEpoch, detail: $0.detail)
                }
            )
        }
    }
}
