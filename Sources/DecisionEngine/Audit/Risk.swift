import ChainModel

/// How bad a risk is: a critical risk makes its VM *stranded* (SPEC §5).
public enum Severity: String, Sendable, Hashable, Codable, Comparable {
    case critical
    case warning

    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs == .critical && rhs == .warning }
}

/// The audit's codes (SPEC §5).
public enum RiskCode: String, Sendable, Hashable, Codable, CaseIterable {
    case fileOnLocalVolume = "file-on-local-volume"
    case fileMissing = "file-missing"
    case chainBroken = "chain-broken"
    case diskNeedsLogReplay = "disk-needs-log-replay"
    case registeredOnNonOwner = "registered-on-non-owner"
    case failoverBlocked = "failover-blocked"
    case limitedFailover = "limited-failover"
    case volumeNotVerified = "volume-not-verified"
    case inventoryStale = "inventory-stale"
    case orphanDisk = "orphan-disk"
    case inventoryError = "inventory-error"
    /// An HA VM's next checkpoint (or smart paging) files would be written where a possible owner cannot read them.
    case checkpointLocationLocal = "checkpoint-location-local"
    /// A VM at Hyper-V's 50 checkpoints, or with a chain deeper than `maxChainDepth`.
    case checkpointLimit = "checkpoint-limit"
    /// A volume's free space is below `minFreeSpace` of its size.
    case volumeSpaceLow = "volume-space-low"
    case nodeIsolated = "node-isolated"
    case volumeLost = "volume-lost"
    case nodeQuarantined = "node-quarantined"

    public var severity: Severity {
        switch self {
        case .fileOnLocalVolume, .fileMissing, .chainBroken, .diskNeedsLogReplay, .registeredOnNonOwner,
            .failoverBlocked, .volumeLost:
            .critical
        case .limitedFailover, .volumeNotVerified, .inventoryStale, .orphanDisk, .inventoryError, .nodeIsolated,
            .nodeQuarantined, .checkpointLocationLocal, .checkpointLimit, .volumeSpaceLow:
            .warning
        }
    }

    /// The order risks are listed in: the SPEC's table order.
    public var order: Int { Self.allCases.firstIndex(of: self) ?? 0 }

    init(_ problem: FileProblem) {
        switch problem {
        case .missing: self = .fileMissing
        case .chainBroken: self = .chainBroken
        case .needsLogReplay: self = .diskNeedsLogReplay
        }
    }
}

/// One risk in the cluster: `{code, severity, message, vm?, node?, volume?, path?}`.
public struct Risk: Hashable, Sendable {
    public var code: RiskCode
    public var message: String
    /// The VM's name, and its id for scripts.
    public var vm: String?
    public var vmID: VMID?
    public var node: NodeName?
    /// The volume's name, and its id for scripts.
    public var volume: String?
    public var volumeID: VolumeID?
    public var path: String?
    /// (a stranded file) the volume `repair` would copy it to, by name: every possible owner reaches it.
    public var repairTo: String?

    public var severity: Severity { code.severity }

    public init(
        code: RiskCode,
        message: String,
        vm: String? = nil,
        vmID: VMID? = nil,
        node: NodeName? = nil,
        volume: String? = nil,
        volumeID: VolumeID? = nil,
        path: String? = nil
    ) {
        self.code = code
        self.message = message
        self.vm = vm
        self.vmID = vmID
        self.node = node
        self.volume = volume
        self.volumeID = volumeID
        self.path = path
    }
}
