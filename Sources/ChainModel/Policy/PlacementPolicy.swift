/// Failover priority, as in Hyper-V: higher priorities fail over first; `none` never fails over
/// automatically.
public enum FailoverPriority: String, Sendable, Codable, CaseIterable, Comparable {
    case high
    case medium
    case low
    case none

    /// Lower ranks fail over first.
    public var rank: Int {
        switch self {
        case .high: 0
        case .medium: 1
        case .low: 2
        case .none: 3
        }
    }

    public static func < (lhs: FailoverPriority, rhs: FailoverPriority) -> Bool { lhs.rank < rhs.rank }
}

/// At most `maxFailovers` automatic failovers within `period`.
public struct FailoverThreshold: Hashable, Sendable {
    public var maxFailovers: Int
    public var period: Duration

    public init(maxFailovers: Int = 3, period: Duration = .seconds(6 * 3600)) {
        self.maxFailovers = maxFailovers
        self.period = period
    }

    public static let `default` = FailoverThreshold()
}

extension PlacementPolicy {
    /// The largest `--max-failovers` accepted.
    public static let maxFailoversBound = 1_000_000
    /// The longest `--failover-period` accepted: ten years (the failover record is read back 90 days).
    public static let failoverPeriodBound: Duration = .seconds(10 * 366 * 24 * 3600)
}

/// What a node cut off from the coordinator (but not from its storage) does with a VM (SPEC §6).
public enum IsolationResponse: String, Sendable, Codable, CaseIterable {
    /// Keeps it running, unmonitored (the default: a coordinator outage of any length stops nothing).
    case keepRunning = "keep-running"
    /// Stops it after `isolationTimeout`, but only when peers' records show that other nodes still run (so that it is
    /// this node that is cut off, not the coordinator that is gone); then it can fail over.
    case stop
}

/// What `drain` does with a VM that has a stranded file (`policy set --stranded`, issue 25).
public enum StrandedResponse: String, Sendable, Codable, CaseIterable {
    /// Leaves it where it is, with its reasons (the default).
    case refuse
    /// Repairs it onto its checkpoint volume (else the volume a repair would suggest) first, then moves it. Failover
    /// never repairs: the source is gone.
    case repair
}

/// Where a VM may run, held by the coordinator (SPEC §5).
public struct PlacementPolicy: Hashable, Sendable {
    /// Overrides the inventory's HA flag when set.
    public var highlyAvailable: Bool?
    /// Nodes the VM may run on; empty means every node.
    public var possibleOwners: [NodeName]
    /// Nodes to try first, in order.
    public var preferredOwners: [NodeName]
    public var antiAffinityClass: String?
    public var priority: FailoverPriority
    public var threshold: FailoverThreshold
    /// What an isolated node does with the VM (SPEC §6, `--isolation`).
    public var isolation: IsolationResponse
    /// Where the VM's next checkpoint files go (`--checkpoint-volume`, SPEC §7), and where `repair` puts stranded
    /// files by default; nil: beside the disks.
    public var checkpointVolume: VolumeID?
    /// What `drain` does when the VM has a stranded file (`--stranded`).
    public var stranded: StrandedResponse

    public init(
        highlyAvailable: Bool? = nil,
        possibleOwners: [NodeName] = [],
        preferredOwners: [NodeName] = [],
        antiAffinityClass: String? = nil,
        priority: FailoverPriority = .medium,
        threshold: FailoverThreshold = .default,
        isolation: IsolationResponse = .keepRunning,
        checkpointVolume: VolumeID? = nil,
        stranded: StrandedResponse = .refuse
    ) {
        self.checkpointVolume = checkpointVolume
        self.stranded = stranded
        self.highlyAvailable = highlyAvailable
        self.possibleOwners = possibleOwners
        self.preferredOwners = preferredOwners
        self.antiAffinityClass = antiAffinityClass
        self.priority = priority
        self.threshold = threshold
        self.isolation = isolation
    }

    public static let `default` = PlacementPolicy()

    /// Whether `node` may own the VM under this policy.
    public func allows(_ node: NodeName) -> Bool {
        possibleOwners.isEmpty || possibleOwners.contains(node)
    }
}

/// An anti-affinity class: VMs of one class should not run on the same node.
///
/// Soft by default: an enforced class refuses the placement, a soft one only ranks such nodes last.
public struct AntiAffinityClass: Hashable, Sendable {
    public var name: String
    public var enforced: Bool

    public init(name: String, enforced: Bool = false) {
        self.name = name
        self.enforced = enforced
    }
}
