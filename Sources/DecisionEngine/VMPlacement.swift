import ChainModel

/// The little the engine needs to know about every VM in the cluster to judge a node's load:
/// where it runs, whether it holds memory there, and how much.
public struct VMPlacement: Hashable, Sendable {
    public var id: VMID
    public var name: String
    public var owner: NodeName
    public var state: PowerState
    public var memoryMiB: Int

    /// `memoryMiB` is clamped to `0...ValueBounds.memoryMiB`, so a node's sum cannot overflow whatever was stored.
    public init(id: VMID, name: String, owner: NodeName, state: PowerState, memoryMiB: Int) {
        self.id = id
        self.name = name
        self.owner = owner
        self.state = state
        self.memoryMiB = ValueBounds.clamp(memoryMiB, to: ValueBounds.memoryMiB)
    }

    public init(_ vm: VM) {
        self.init(id: vm.id, name: vm.name, owner: vm.owner, state: vm.state, memoryMiB: vm.memoryMiB)
    }
}

/// What a node carries: memory held by its Running/Paused VMs, how many VMs it owns, and which
/// anti-affinity classes its running VMs belong to.
public struct NodeLoad: Hashable, Sendable {
    public var memoryUsedMiB: Int = 0
    public var vmCount: Int = 0
    /// Running or Paused VMs per anti-affinity class.
    public var runningByClass: [String: [VMID]] = [:]

    public init() {}
}
