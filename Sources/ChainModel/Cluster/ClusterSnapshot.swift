/// Everything the coordinator's database holds about the cluster at one moment, read in one
/// transaction so that every part agrees with every other.
public struct ClusterSnapshot: Sendable {
    public var nodes: [Node]
    public var volumes: [Volume]
    public var mounts: [VolumeMount]
    public var vms: [VM]
    public var policies: [VMID: PlacementPolicy]
    public var classes: [AntiAffinityClass]
    /// VMs with a migration that is neither committed nor aborted.
    public var operationsInProgress: Set<VMID>
    /// What each of those is (`migration`, `failover`, `drain`, `checkpoint-delete`, …), to name it in a refusal.
    public var operationKinds: [VMID: String] = [:]
    /// Which nodes list each VM in their inventory.
    public var listings: [VMID: Set<NodeName>]
    /// Inventory entries agents could not read.
    public var inventoryErrors: [InventoryError]
    /// Differencing disks agents found on volumes.
    public var discoveredDisks: [DiscoveredDisk] = []

    public init(
        nodes: [Node] = [],
        volumes: [Volume] = [],
        mounts: [VolumeMount] = [],
        vms: [VM] = [],
        policies: [VMID: PlacementPolicy] = [:],
        classes: [AntiAffinityClass] = [],
        operationsInProgress: Set<VMID> = [],
        listings: [VMID: Set<NodeName>] = [:],
        inventoryErrors: [InventoryError] = []
    ) {
        self.nodes = nodes
        self.volumes = volumes
        self.mounts = mounts
        self.vms = vms
        self.policies = policies
        self.classes = classes
        self.operationsInProgress = operationsInProgress
        self.listings = listings
        self.inventoryErrors = inventoryErrors
    }
}
