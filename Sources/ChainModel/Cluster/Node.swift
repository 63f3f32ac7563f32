/// The coordinator's view of a node's health and availability for placement.
public enum NodeState: String, Sendable, Codable, CaseIterable {
    /// Holding a valid lease and eligible for placement.
    case up
    /// Its lease ran out: it may still be running, and nothing may be placed on it.
    case down
    /// Proven off (fence command, self-fence, or an administrator's `node fence-confirm`).
    case fenced
    /// Being emptied by `drain`; receives no VMs until `node resume`.
    case draining
    /// Its lease ran out, but it was not proven down: its storage heartbeat is fresh, or no reader has reported it
    /// (SPEC §6). Its VMs keep running unmonitored; it is no target, its VMs do not fail over (except those its record
    /// lists stopped), and `node fence-confirm` is refused while its record is fresh.
    case isolated
    /// Isolated or down too often (more than `quarantineThreshold` times in an hour): it renews its lease and keeps
    /// its VMs, but receives none until `node resume`.
    case quarantined

    /// Whether the node holds a lease as the coordinator counts it (its heartbeats renew it).
    public var renewsLease: Bool { self == .up || self == .draining || self == .quarantined }
}

/// How a node's agent learns about its VMs; VMs only move between nodes with the same driver.
public enum InventoryDriver: String, Sendable, Codable, CaseIterable {
    case hypervJSON = "hyperv-json"
    case libvirt
}

/// A cluster member as the coordinator knows it.
public struct Node: Hashable, Sendable, Codable {
    public var name: NodeName
    public var state: NodeState
    public var driver: InventoryDriver?
    /// Memory the node offers to VMs (`memoryMiB` in its agent config); `nil` means not enforced.
    public var memoryMiB: Int?
    /// When the node's last complete inventory report arrived.
    public var lastInventoryAt: Timestamp?
    /// When the node's last heartbeat arrived.
    public var lastHeartbeatAt: Timestamp?

    public init(
        name: NodeName,
        state: NodeState = .up,
        driver: InventoryDriver? = .hypervJSON,
        memoryMiB: Int? = nil,
        lastInventoryAt: Timestamp? = nil,
        lastHeartbeatAt: Timestamp? = nil
    ) {
        self.name = name
        self.state = state
        self.driver = driver
        self.memoryMiB = memoryMiB
        self.lastInventoryAt = lastInventoryAt
        self.lastHeartbeatAt = lastHeartbeatAt
    }
}
