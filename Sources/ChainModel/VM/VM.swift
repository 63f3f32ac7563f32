/// A VM with everything its owner's agent reported about it.
public struct VM: Hashable, Sendable {
    public var id: VMID
    public var name: String
    public var ownership: Ownership
    public var state: PowerState
    /// Whether the inventory marks it highly available; the placement policy may override it.
    public var highlyAvailable: Bool
    public var memoryMiB: Int
    public var checkpoints: [Checkpoint]
    public var files: [VMFile]
    public var chains: [DiskChain]
    /// The hypervisor metadata a hand-off carries (libvirt VMs), when the owner reports one.
    public var metadata: HypervisorMetadataState?
    /// Where the hypervisor will write the VM's next files (Hyper-V: the checkpoint file location, the smart paging
    /// file), as the owner placed them on its volumes.
    public var nextFiles: [NextFileLocation] = []
    /// The hypervisor reports a checkpoint merge that has not finished (Hyper-V after a delete on a running VM).
    public var mergePending = false

    public init(
        id: VMID,
        name: String,
        ownership: Ownership,
        state: PowerState = .off,
        highlyAvailable: Bool = true,
        memoryMiB: Int = 0,
        checkpoints: [Checkpoint] = [],
        files: [VMFile] = [],
        chains: [DiskChain] = [],
        metadata: HypervisorMetadataState? = nil
    ) {
        self.metadata = metadata
        self.id = id
        self.name = name
        self.ownership = ownership
        self.state = state
        self.highlyAvailable = highlyAvailable
        self.memoryMiB = memoryMiB
        self.checkpoints = checkpoints
        self.files = files
        self.chains = chains
    }

    public var owner: NodeName { ownership.owner }
}
