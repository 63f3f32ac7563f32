import ChainModel
import DecisionEngine

/// One node of the simulated cluster: its power, its agent process (with the real `AgentLease`), its watchdog and the
/// VMs physically running on it.
struct SimulatedNode: Sendable {
    /// The watchdog process: fires `timeout` after its last feed, then exits.
    struct Watchdog: Sendable {
        var lastFeed: MonotonicTime
        var timeout: Duration
    }

    let name: NodeName
    let memoryMiB: Int?
    var powered = true
    var agentRunning = true
    var pausedUntil: MonotonicTime?
    var partitioned = false
    var lease: AgentLease
    var nextHeartbeat: MonotonicTime
    var watchdog: Watchdog?
    /// VMs executing on this node's hypervisor.
    var running: Set<VMID> = []
    /// VMs the agent treats as its own (what the coordinator told it at admission, plus adopted ones).
    var owned: Set<VMID> = []
    /// Its paths to every shared volume are cut.
    var storageCut = false
    /// Since when its storage heartbeat writes have failed (the last one that succeeded), as its heartbeats say.
    var storageLostSince: MonotonicTime?
    /// Its storage heartbeat counter, and when the next write is due.
    var counter: UInt64 = 0
    var nextStorageWrite: MonotonicTime
    /// What it has read of each peer's record: the counter, since when it has seen it (its own clock), the record.
    var seen: [PeerSlot: SeenRecord] = [:]
    /// The agent's condition as last logged.
    var condition: StorageHeartbeat.Condition = .running
    /// VMs it stopped as its isolation response; its record lists them `stopped`.
    var stoppedByIsolation: Set<VMID> = []

    struct PeerSlot: Hashable, Sendable, Comparable {
        var node: NodeName
        var volume: VolumeID
        static func < (lhs: PeerSlot, rhs: PeerSlot) -> Bool { (lhs.node, lhs.volume) < (rhs.node, rhs.volume) }
    }

    struct SeenRecord: Hashable, Sendable {
        var counter: UInt64?
        var since: MonotonicTime
        var record: StorageHeartbeat?
        /// When the slot was last read: a reader that cannot read reports nothing (no report is not evidence).
        var readAt: MonotonicTime
    }

    init(name: NodeName, memoryMiB: Int?, leaseTTL: Duration, firstHeartbeat: MonotonicTime) {
        self.name = name
        self.memoryMiB = memoryMiB
        lease = AgentLease(leaseTTL: leaseTTL)
        nextHeartbeat = firstHeartbeat
        nextStorageWrite = firstHeartbeat
    }

    /// Whether the agent can act: the node is on, the process alive and not stopped.
    func agentActive(at now: MonotonicTime) -> Bool {
        guard powered, agentRunning else { return false }
        if let pausedUntil, now < pausedUntil { return false }
        return true
    }

    /// Whether the coordinator can reach the agent now (and hear back).
    func reachable(at now: MonotonicTime) -> Bool { agentActive(at: now) && !partitioned }

    /// Whether the agent would carry out a command: reachable and holding a lease.
    func acts(at now: MonotonicTime) -> Bool { reachable(at: now) && lease.standing == .admitted }
}
