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
    }
}

extension AuditInput {
    /// The audit's input from a stored snapshot; failover state and discovered disks come from
    /// the services that own them.
    public init(
        _ snapshot: ClusterSnapshot,
        failoverBlocked: [VMID: String] = [:],
        discoveredDisks: [DiscoveredDisk] = []
    ) {
        self.init(
            vms: snapshot.vms,
            listings: snapshot.listings,
            failoverBlocked: failoverBlocked,
            discoveredDisks: discoveredDisks,
            inventoryErrors: snapshot.inventoryErrors.map {
                InventoryError(node: $0.node, vm: $0.vm, message: $0.message)
            }
        )
    }
}
