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
}
