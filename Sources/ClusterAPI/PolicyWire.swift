/// `policy show --json`: a VM's placement policy (SPEC §5), with the defaults filled in.
public struct PolicyJSON: Codable, Sendable, Hashable {
    public var vm: String
    public var vmId: String
    /// The policy's `--ha`, or nil when the inventory decides.
    public var highlyAvailable: Bool?
    /// What counts: the policy's `--ha`, else the inventory's.
    public var effectiveHighlyAvailable: Bool
    /// Empty means every node.
    public var possibleOwners: [String]
    public var preferredOwners: [String]
    public var antiAffinityClass: String?
    public var antiAffinityEnforced: Bool?
    public var priority: String
    public var maxFailovers: Int
    /// A duration such as `6h`.
    public var failoverPeriod: String
    /// What an isolated node does with the VM: `keep-running` or `stop` (SPEC §6); absent from older coordinators.
    public var isolation: String?
    /// The volume the next checkpoint's files go to (`--checkpoint-volume`), by name; absent: beside the disks.
    public var checkpointVolume: String?
    public var checkpointVolumeId: String?
    /// What `drain` does when the VM has a stranded file: `refuse` or `repair`; absent from older coordinators.
    public var stranded: String?

    public init(
        vm: String,
        vmId: String,
        highlyAvailable: Bool?,
        effectiveHighlyAvailable: Bool,
        possibleOwners: [String],
        preferredOwners: [String],
        antiAffinityClass: String?,
        antiAffinityEnforced: Bool?,
        priority: String,
        maxFailovers: Int,
        failoverPeriod: String,
        isolation: String? = nil,
        checkpointVolume: String? = nil,
        checkpointVolumeId: String? = nil,
        stranded: String? = nil
    ) {
        self.stranded = stranded
        self.checkpointVolume = checkpointVolume
        self.checkpointVolumeId = checkpointVolumeId
        self.vm = vm
        self.vmId = vmId
        self.highlyAvailable = highlyAvailable
        self.effectiveHighlyAvailable = effectiveHighlyAvailable
        self.possibleOwners = possibleOwners
        self.preferredOwners = preferredOwners
        self.antiAffinityClass = antiAffinityClass
        self.antiAffinityEnforced = antiAffinityEnforced
        self.priority = priority
        self.maxFailovers = maxFailovers
        self.failoverPeriod = failoverPeriod
        self.isolation = isolation
    }
}

/// `policy set`: only the fields given change; `clear` starts from the defaults.
public struct PolicyUpdate: Codable, Sendable, Hashable {
    public var clear: Bool
    public var highlyAvailable: Bool?
    public var possibleOwners: [String]?
    public var preferredOwners: [String]?
    /// An empty string removes the class.
    public var antiAffinityClass: String?
    public var priority: String?
    public var maxFailovers: Int?
    public var failoverPeriod: String?
    /// `keep-running` or `stop`.
    public var isolation: String?
    /// A volume's name or id (the coordinator stores its id); an empty string removes it.
    public var checkpointVolume: String?
    /// `refuse` or `repair`.
    public var stranded: String?

    public init(
        clear: Bool = false,
        highlyAvailable: Bool? = nil,
        possibleOwners: [String]? = nil,
        preferredOwners: [String]? = nil,
        antiAffinityClass: String? = nil,
        priority: String? = nil,
        maxFailovers: Int? = nil,
        failoverPeriod: String? = nil,
        isolation: String? = nil,
        checkpointVolume: String? = nil,
        stranded: String? = nil
    ) {
        self.stranded = stranded
        self.checkpointVolume = checkpointVolume
        self.clear = clear
        self.highlyAvailable = highlyAvailable
        self.possibleOwners = possibleOwners
        self.preferredOwners = preferredOwners
        self.antiAffinityClass = antiAffinityClass
        self.priority = priority
        self.maxFailovers = maxFailovers
        self.failoverPeriod = failoverPeriod
        self.isolation = isolation
    }
}

/// `policy class CLASS --enforce BOOL`.
public struct ClassUpdate: Codable, Sendable, Hashable {
    public var enforced: Bool

    public init(enforced: Bool) { self.enforced = enforced }
}

/// `PUT /v1/volumes/{id}`: an administrator names a volume (from then on only an administrator renames it).
public struct VolumeUpdate: Codable, Sendable, Hashable {
    public var name: String

    public init(name: String) { self.name = name }
}
