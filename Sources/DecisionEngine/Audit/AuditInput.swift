import ChainModel

/// Everything the audit reads beyond the cluster view.
public struct AuditInput: Sendable {
    public var vms: [VM]
    /// Which nodes list each VM in their inventory.
    public var listings: [VMID: Set<NodeName>]
    /// VMs left down after a failover, with the reasons no target passed.
    public var failoverBlocked: [VMID: String]
    public var discoveredDisks: [DiscoveredDisk]
    public var inventoryErrors: [InventoryError]
    /// Shared volumes a node renewing its lease has not reached (its storage heartbeat writes there failed) for longer
    /// than `storageLossTimeout`, with how long (SPEC §6, `volume-lost`).
    public var lostVolumes: [NodeName: [VolumeID: Duration]]

    public init(
        vms: [VM],
        listings: [VMID: Set<NodeName>] = [:],
        failoverBlocked: [VMID: String] = [:],
        discoveredDisks: [DiscoveredDisk] = [],
        inventoryErrors: [InventoryError] = [],
        lostVolumes: [NodeName: [VolumeID: Duration]] = [:]
    ) {
        self.vms = vms
        self.listings = listings
        self.failoverBlocked = failoverBlocked
        self.discoveredDisks = discoveredDisks
        self.inventoryErrors = inventoryErrors
        self.lostVolumes = lostVolumes
    }
}
