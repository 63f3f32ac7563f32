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

    public init(
        highlyAvailable: Bool? = nil,
        possibleOwners: [NodeName] = [],
        preferredOwners: [NodeName] = [],
        antiAffinityClass: String? = nil,
        priority: FailoverPriority = .medium,
        threshold: FailoverThreshold = .default
    ) {
        self.highlyAvailable = highlyAvailable
        self.possibleOwners = possibleOwners
        self.preferredOwners = preferredOwners
        self.antiAffinityClass = antiAffinityClass
        self.priority = priority
        self.threshold = threshold
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
