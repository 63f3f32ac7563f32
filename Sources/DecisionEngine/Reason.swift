import ChainModel

/// Why a placement is refused, or what risk a VM carries: the codes of SPEC §5.
public enum ReasonCode: String, Sendable, Codable, CaseIterable, Comparable {
    case fileOnLocalVolume = "file-on-local-volume"
    case volumeNotVerified = "volume-not-verified"
    case fileMissing = "file-missing"
    case chainBroken = "chain-broken"
    case diskNeedsLogReplay = "disk-needs-log-replay"
    case inventoryStale = "inventory-stale"
    /// (libvirt VMs) the coordinator does not hold the domain and snapshot XML the move needs, or holds an older copy
    /// (issue 23): a migration waits for the agent's upload; a failover is held rather than start a stale leaf.
    case metadataStale = "metadata-stale"
    case targetNotEligible = "target-not-eligible"
    case hypervisorMismatch = "hypervisor-mismatch"
    case insufficientMemory = "insufficient-memory"
    case antiAffinity = "anti-affinity"
    case operationInProgress = "operation-in-progress"
    /// (Checkpoint create, SPEC §5) a file the checkpoint would write is on a volume some possible owner of the HA VM
    /// does not reach.
    case checkpointLocationLocal = "checkpoint-location-local"
    /// (Checkpoint create) the volume lacks the free space the new files need.
    case volumeSpaceLow = "volume-space-low"
    /// (Failover preflight) the source's storage heartbeat is fresh and lists the VM running (SPEC §6): the target
    /// waits; the refusal is not held against it.
    case sourceAlive = "source-alive"
    // Why a failover holds a VM (beyond `check`'s codes).
    /// The VM reached its failover threshold (N automatic failovers within the period).
    case failoverThreshold = "failover-threshold"
    /// The VM is already `failover-blocked`; `vm clear` lets failover try again.
    case failoverBlocked = "failover-blocked"
    /// A target's own preflight refused the VM, or the target's agent did not answer it.
    case preflightFailed = "preflight-failed"
    /// The target could not adopt the VM after its old node was fenced.
    case adoptFailed = "adopt-failed"

    /// The order reasons are listed in: the SPEC's table order.
    public var order: Int { Self.allCases.firstIndex(of: self) ?? 0 }

    public static func < (lhs: ReasonCode, rhs: ReasonCode) -> Bool { lhs.order < rhs.order }

    init(_ problem: FileProblem) {
        switch problem {
        case .missing: self = .fileMissing
        case .chainBroken: self = .chainBroken
        case .needsLogReplay: self = .diskNeedsLogReplay
        }
    }
}

/// One reason a placement is refused: a code, a sentence an administrator can act on, and where it
/// applies the file, volume and checkpoint concerned.
public struct Reason: Hashable, Sendable {
    public var code: ReasonCode
    public var message: String
    public var path: String?
    /// The volume's name.
    public var volume: String?
    public var volumeID: VolumeID?
    /// The checkpoint's name.
    public var snapshot: String?
    public var snapshotID: CheckpointID?

    public init(
        code: ReasonCode,
        message: String,
        path: String? = nil,
        volume: String? = nil,
        volumeID: VolumeID? = nil,
        snapshot: String? = nil,
        snapshotID: CheckpointID? = nil
    ) {
        self.code = code
        self.message = message
        self.path = path
        self.volume = volume
        self.volumeID = volumeID
        self.snapshot = snapshot
        self.snapshotID = snapshotID
    }
}

/// The answer to `check(vm, target)`: allowed only when no reason applies.
public struct Verdict: Hashable, Sendable {
    public var vm: VMID
    public var vmName: String
    public var target: NodeName
    public var reasons: [Reason]

    public init(vm: VMID, vmName: String, target: NodeName, reasons: [Reason]) {
        self.vm = vm
        self.vmName = vmName
        self.target = target
        self.reasons = reasons
    }

    public var allowed: Bool { reasons.isEmpty }

    /// The distinct codes among the reasons, in SPEC order.
    public var codes: [ReasonCode] { Array(Set(reasons.map(\.code))).sorted() }
}
