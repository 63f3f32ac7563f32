import ChainModel

extension ClusterView {
    /// The engine's view of a stored snapshot at `now`.
    public init(_ snapshot: ClusterSnapshot, now: Timestamp, settings: ClusterSettings = ClusterSettings()) {
        self.init(
            now: now,
            settings: settings,
            nodes: snapshot.nodes,
            volumes: snapshot.volumes,
            mounts: snapshot.mounts,
            placements: snapshot.vms.map(VMPlacement.init),
            policies: snapshot.policies,
            classes: snapshot.classes,
            operationsInProgress: snapshot.operationsInProgress
        )
        operationKinds = snapshot.operationKinds
    }
}

extension AuditInput {
    /// The audit's input from a stored snapshot; failover state comes from the service that owns it.
    public init(
        _ snapshot: ClusterSnapshot,
        failoverBlocked: [VMID: String] = [:],
        lostVolumes: [NodeName: [VolumeID: Duration]] = [:]
    ) {
        self.init(
            vms: snapshot.vms,
            listings: snapshot.listings,
            failoverBlocked: failoverBlocked,
            discoveredDisks: snapshot.discoveredDisks,
            inventoryErrors: snapshot.inventoryErrors,
            lostVolumes: lostVolumes
        )
    }
}

extension ClusterView {
    /// The engine's view from a partial snapshot (only some VMs in full) and a light placement for every VM.
    public init(_ snapshot: ClusterSnapshot, placements: [VMPlacement], now: Timestamp, settings: ClusterSettings) {
        self.init(
            now: now,
            settings: settings,
            nodes: snapshot.nodes,
            volumes: snapshot.volumes,
            mounts: snapshot.mounts,
            placements: placements,
            policies: snapshot.policies,
            classes: snapshot.classes,
            operationsInProgress: snapshot.operationsInProgress
        )
        operationKinds = snapshot.operationKinds
    }

    /// Takes everything but the placements from `snapshot`, and replaces the placements of `changed` (`nil`: that VM
    /// is gone): the view `init(_:placements:now:settings:)` gives from the same rows, without adding all 80,000 VMs
    /// again after a commit that changed a few.
    ///
    /// Policies decide which anti-affinity classes a node's load counts, so when they changed every VM is counted again.
    /// The placements move, not copy, when this view holds the only reference to them.
    public mutating func apply(
        _ snapshot: ClusterSnapshot,
        changed: [VMID: VMPlacement?],
        now: Timestamp,
        settings: ClusterSettings
    ) {
        guard snapshot.policies == policies else {
            var all = placements
            for (id, placement) in changed { all[id] = placement }
            self = ClusterView(snapshot, placements: Array(all.values), now: now, settings: settings)
            return
        }
        var fresh = ClusterView(snapshot, placements: [], now: now, settings: settings)
        swap(&fresh.placements, &placements)
        swap(&fresh.load, &load)
        for (id, placement) in changed {
            if let placement {
                fresh.add(placement)
            } else if let stored = fresh.placements[id] {
                fresh.remove(stored)
            }
        }
        self = fresh
    }
}
