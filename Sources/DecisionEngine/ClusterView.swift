import ChainModel

/// Everything the engine reads about the cluster at one instant.
///
/// Shells build it from the store; the simulator builds it from its virtual cluster. `now` is the only clock the engine
/// sees.
public struct ClusterView: Sendable {
    public var now: Timestamp
    public var settings: ClusterSettings
    public var nodes: [NodeName: Node]
    public var volumes: [VolumeID: Volume]
    /// Reachability: which node mounts which volume, and when the probe last passed there.
    public var mounts: [VolumeID: [NodeName: VolumeMount]]
    public var policies: [VMID: PlacementPolicy]
    public var classes: [String: AntiAffinityClass]
    /// VMs with a migration, failover or other operation under way.
    public var operationsInProgress: Set<VMID>
    /// What each of those is (`migration`, `checkpoint-delete`, …).
    public var operationKinds: [VMID: String] = [:]
    public internal(set) var placements: [VMID: VMPlacement]
    public internal(set) var load: [NodeName: NodeLoad]

    public init(
        now: Timestamp,
        settings: ClusterSettings = ClusterSettings(),
        nodes: [Node],
        volumes: [Volume] = [],
        mounts: [VolumeMount] = [],
        placements: [VMPlacement] = [],
        policies: [VMID: PlacementPolicy] = [:],
        classes: [AntiAffinityClass] = [],
        operationsInProgress: Set<VMID> = []
    ) {
        self.now = now
        self.settings = settings
        self.nodes = Dictionary(nodes.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        self.volumes = Dictionary(volumes.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
        var byVolume: [VolumeID: [NodeName: VolumeMount]] = [:]
        for mount in mounts { byVolume[mount.volume, default: [:]][mount.node] = mount }
        self.mounts = byVolume
        self.policies = policies
        self.classes = Dictionary(classes.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        self.operationsInProgress = operationsInProgress
        // Sized once: a coordinator builds this view of 80,000 VMs after commits, and growing it cost rehashes.
        self.placements = Dictionary(minimumCapacity: placements.count)
        self.load = Dictionary(minimumCapacity: nodes.count)
        for placement in placements { add(placement) }
    }

    /// The VM's policy, or the default one.
    public func policy(for vm: VMID) -> PlacementPolicy { policies[vm] ?? .default }

    /// Whether the VM counts as highly available: the policy's `--ha` wins over the inventory.
    public func isHighlyAvailable(_ vm: VM) -> Bool { policy(for: vm.id).highlyAvailable ?? vm.highlyAvailable }

    /// Memory still free on `node`, or `nil` when the node does not say what it offers.
    public func freeMemoryMiB(on node: NodeName) -> Int? {
        guard let offered = nodes[node]?.memoryMiB else { return nil }
        // Both sides are bounded (`VMPlacement` clamps each VM), so the difference cannot overflow.
        return ValueBounds.clamp(offered, to: ValueBounds.memoryMiB) - (load[node]?.memoryUsedMiB ?? 0)
    }

    /// Records that a VM now runs on `node` (used when planning several moves in a row).
    public mutating func place(_ vm: VMID, on node: NodeName) {
        guard var placement = placements[vm] else { return }
        remove(placement)
        placement.owner = node
        add(placement)
    }

    mutating func add(_ placement: VMPlacement) {
        if let previous = placements.updateValue(placement, forKey: placement.id) { count(previous, by: -1) }
        count(placement, by: 1)
    }

    mutating func remove(_ placement: VMPlacement) {
        guard let stored = placements.removeValue(forKey: placement.id) else { return }
        count(stored, by: -1)
    }

    /// Adds (`by: 1`) or takes away (`by: -1`) a VM's share of its owner's load, in place.
    private mutating func count(_ placement: VMPlacement, by sign: Int) {
        let holdsMemory = placement.state.holdsMemory
        let antiAffinity = holdsMemory && !policies.isEmpty ? policies[placement.id]?.antiAffinityClass : nil
        Self.count(
            placement,
            by: sign,
            holdsMemory: holdsMemory,
            class: antiAffinity,
            in: &load[placement.owner, default: NodeLoad()]
        )
    }

    private static func count(
        _ placement: VMPlacement,
        by sign: Int,
        holdsMemory: Bool,
        class antiAffinity: String?,
        in nodeLoad: inout NodeLoad
    ) {
        nodeLoad.vmCount += sign
        guard holdsMemory else { return }
        nodeLoad.memoryUsedMiB += sign * placement.memoryMiB
        guard let antiAffinity else { return }
        if sign > 0 {
            nodeLoad.runningByClass[antiAffinity, default: []].append(placement.id)
        } else {
            nodeLoad.runningByClass[antiAffinity]?.removeAll { $0 == placement.id }
        }
    }
}
