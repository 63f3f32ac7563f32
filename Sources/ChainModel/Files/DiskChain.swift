/// One disk chain: from a disk the inventory lists (a VM's current leaf, or a checkpoint's disk)
/// through the parent locators to the base.
public struct DiskChain: Hashable, Sendable {
    /// The checkpoint whose disk this is, or `nil` for the VM's current disks.
    public var checkpoint: CheckpointID?
    /// Leaf first, base last.
    ///
    /// A broken chain ends where the walk stopped.
    public var elements: [FileLocation]

    public init(checkpoint: CheckpointID? = nil, elements: [FileLocation]) {
        self.checkpoint = checkpoint
        self.elements = elements
    }

    public var leaf: FileLocation? { elements.first }
}
