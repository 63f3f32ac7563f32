/// One node's storage heartbeat record on one shared volume (SPEC §6): the second channel, through the storage, that
/// tells a node cut off from the coordinator (isolated) from one that has failed.
///
/// Readers judge a record by how long its `counter` has stayed unchanged on their own monotonic clock, never by a time
/// written in it.
public struct StorageHeartbeat: Hashable, Sendable {
    /// The writer's own view of itself.
    public enum Condition: String, Hashable, Sendable, Codable, CaseIterable {
        /// Holds its lease.
        case running
        /// Lost its lease, still writes this record: its VMs keep running (except `stop` ones).
        case isolated
        /// Fenced itself: its fence hook ran.
        case fenced
    }

    /// One HA VM the node owns.
    public struct Entry: Hashable, Sendable {
        public var vm: VMID
        public var epoch: Epoch
        /// `false` only once the VM's process has exited.
        public var running: Bool

        public init(vm: VMID, epoch: Epoch, running: Bool) {
            self.vm = vm
            self.epoch = epoch
            self.running = running
        }
    }

    public var node: NodeName
    /// Grows with every write.
    public var counter: UInt64
    public var condition: Condition
    public var vms: [Entry]

    public init(node: NodeName, counter: UInt64, condition: Condition, vms: [Entry]) {
        self.node = node
        self.counter = counter
        self.condition = condition
        self.vms = vms
    }

    /// Whether the record lists `vm` as stopped at `epoch` (a VM missing from the record is never read as stopped).
    public func lists(_ vm: VMID, stoppedAt epoch: Epoch) -> Bool {
        vms.contains { $0.vm == vm && $0.epoch == epoch && !$0.running }
    }
}
