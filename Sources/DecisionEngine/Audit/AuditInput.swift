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

    public init(
        vms: [VM],
        listings: [VMID: Set<NodeName>] = [:],
        failoverBlocked: [VMID: String] = [:],
        discoveredDisks: [DiscoveredDisk] = [],
        inventoryErrors: [InventoryError] = []
    ) {
        self.vms = vms
        self.listings = listings
        self.failoverBlocked = failoverBlocked
        self.discoveredDisks = discoveredDisks
        self.inventoryErrors = inventoryErrors
    }
}
