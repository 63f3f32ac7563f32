/// A VM's definition as SPEC §4 describes it, with paths as the receiving node sees them (rebased onto its mounts).
public struct VMDefinition: Codable, Sendable, Hashable {
    public struct Snapshot: Codable, Sendable, Hashable {
        public var id: String
        public var name: String
        public var parentId: String?
        /// Milliseconds since the Unix epoch.
        public var created: Int64?
        public var configurationPath: String?
        public var memoryPath: String?
        public var savedStatePath: String?
        public var disks: [String]
        /// (`hyperv-json` v2) `standard`, `production`, `recovery`, `replica`, `planned`, `missing`.
        public var type: String?

        public init(
            id: String,
            name: String,
            parentId: String?,
            created: Int64?,
            configurationPath: String?,
            memoryPath: String?,
            savedStatePath: String?,
            disks: [String]
        ) {
            self.id = id
            self.name = name
            self.parentId = parentId
            self.created = created
            self.configurationPath = configurationPath
            self.memoryPath = memoryPath
            self.savedStatePath = savedStatePath
            self.disks = disks
        }
    }

    public var id: String
    public var name: String
    public var state: String
    public var highlyAvailable: Bool
    public var memoryMiB: Int
    public var configurationPath: String?
    public var runtimeStatePath: String?
    public var guestStatePath: String?
    public var disks: [String]
    public var snapshots: [Snapshot]
    /// The hypervisor's own definition of the VM (libvirt: domain and snapshot XML).
    ///
    /// Read by the agent's inventory; in an adopt command, the copy the coordinator holds (issue 23). Never in a report:
    /// reports carry its digest.
    public var metadata: HypervisorMetadata?
    /// Disks that are not files (libvirt `network` and `block` disks), with their source.
    public var sources: [DiskSource]?
    /// Guest state beyond `guestStatePath` (libvirt: an emulated TPM's state file).
    public var guestStateFiles: [String]?
    /// What the inventory says an overlay's backing file is (libvirt snapshot XML), checked against the headers.
    public var declaredBackings: [DeclaredBacking]?
    /// (`hyperv-json` v2) Hyper-V's `SnapshotFileLocation`: where the next checkpoint's files are written.
    public var checkpointFileLocation: String?
    /// (`hyperv-json` v2) where Hyper-V writes the smart paging file.
    public var smartPagingFilePath: String?
    /// (`hyperv-json` v2) the checkpoint the running state descends from.
    public var currentSnapshotId: String?
    /// (`hyperv-json` v2) ISO files mounted in DVD drives: part of the file set, kind `media`.
    public var dvdDrives: [String]?
    /// (`hyperv-json` v2) a checkpoint delete whose merge has not finished.
    public var mergePending: Bool?

    /// A disk that is not a file: reachable only from nodes whose `sharedSources` cover it, else local to its node.
    public struct DiskSource: Codable, Sendable, Hashable {
        /// `network` or `block`.
        public var type: String
        /// `PROTOCOL:NAME` for a network disk (`rbd:pool/image`), the device path for a block disk.
        public var source: String
        /// The checkpoint whose state it holds, or `nil` for the VM's current disk.
        public var snapshotId: String?

        public init(type: String, source: String, snapshotId: String?) {
            self.type = type
            self.source = source
            self.snapshotId = snapshotId
        }
    }

    /// An overlay and the backing file the inventory names for it.
    public struct DeclaredBacking: Codable, Sendable, Hashable {
        public var overlay: String
        public var backing: String

        public init(overlay: String, backing: String) {
            self.overlay = overlay
            self.backing = backing
        }
    }

    public init(
        id: String,
        name: String,
        state: String,
        highlyAvailable: Bool,
        memoryMiB: Int,
        configurationPath: String?,
        runtimeStatePath: String?,
        guestStatePath: String?,
        disks: [String],
        snapshots: [Snapshot],
        sources: [DiskSource]? = nil,
        declaredBackings: [DeclaredBacking]? = nil
    ) {
        self.sources = sources
        self.declaredBackings = declaredBackings
        self.id = id
        self.name = name
        self.state = state
        self.highlyAvailable = highlyAvailable
        self.memoryMiB = memoryMiB
        self.configurationPath = configurationPath
        self.runtimeStatePath = runtimeStatePath
        self.guestStatePath = guestStatePath
        self.disks = disks
        self.snapshots = snapshots
    }
}

/// A file the coordinator expects the target to find, with the identity the owner last reported.
public struct ExpectedFile: Codable, Sendable, Hashable {
    /// As the receiving node sees it.
    public var path: String
    public var volumeId: String?
    public var relativePath: String?
    public var kind: String
    /// A disk's identity (VHDX DataWriteGuid, VHD unique id), when known.
    public var identifier: String?

    public init(path: String, volumeId: String?, relativePath: String?, kind: String, identifier: String?) {
        self.path = path
        self.volumeId = volumeId
        self.relativePath = relativePath
        self.kind = kind
        self.identifier = identifier
    }
}

/// A step of a migration that an agent carries out (SPEC §6), fetched by long-poll.
public struct AgentCommand: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable, Hashable {
        /// The target re-verifies the whole file set through its own mounts.
        case preflight
        /// The source runs its `release` hook and stops treating the VM as its own.
        case release
        /// The receiving node runs its `adopt` hook and tracks the VM from now on.
        case adopt
        /// The owner carries out an operation (`checkpoint`): journaled `applying` before it is sent.
        case apply
    }

    public var id: String
    public var kind: Kind
    public var migrationId: String
    public var vmId: String
    public var vmName: String
    /// The migration's epoch: agents refuse a command whose epoch is below the highest they have seen for the VM.
    public var epoch: Int64
    public var source: String
    public var target: String
    public var definition: VMDefinition?
    public var expected: [ExpectedFile]
    /// A failover (the source was declared down, or its record lists the VM stopped): the target's preflight reads the
    /// source's storage heartbeat itself and refuses `source-alive` while it is fresh and lists the VM running
    /// (SPEC §6).
    public var failover: Bool?
    /// (release, libvirt) the digest of the metadata the coordinator holds: the source refuses to release when its own
    /// differs, since the target would redefine an older snapshot tree.
    public var metadataDigest: String?
    /// The libvirt URIs the two nodes reported (`hypervisorURI`): the source migrates to `targetURI`; an adopt back or
    /// a recovery asks the other node's libvirt where the domain runs.
    public var sourceURI: String?
    public var targetURI: String?
    /// (release) `migrate --offline`: stop the VM and let the target start it, instead of a live migration.
    public var offline: Bool?
    /// (preflight, apply of a checkpoint operation) what to do; the owner verifies it at the preflight and carries it
    /// out at the apply, once per `migrationId`.
    public var checkpoint: CheckpointOrder?

    public init(
        id: String,
        kind: Kind,
        migrationId: String,
        vmId: String,
        vmName: String,
        epoch: Int64,
        source: String,
        target: String,
        definition: VMDefinition? = nil,
        expected: [ExpectedFile] = [],
        failover: Bool? = nil
    ) {
        self.id = id
        self.kind = kind
        self.migrationId = migrationId
        self.vmId = vmId
        self.vmName = vmName
        self.epoch = epoch
        self.source = source
        self.target = target
        self.definition = definition
        self.expected = expected
        self.failover = failover
    }
}

/// What an agent answers to a command.
public struct CommandResult: Codable, Sendable, Hashable {
    public var ok: Bool
    /// Why a preflight refused (SPEC §5 codes), or why a hook failed.
    public var reasons: [ReasonJSON]
    public var message: String?

    public init(ok: Bool, reasons: [ReasonJSON] = [], message: String? = nil) {
        self.ok = ok
        self.reasons = reasons
        self.message = message
    }

    /// The reason code of an agent that holds no lease (it just started, or fenced itself) and refuses every command
    /// until the coordinator readmits it: "not yet", not "cannot".
    public static let notAdmitted = "not-admitted"

    /// Whether the agent refused only because it holds no lease.
    public var isNotAdmitted: Bool { !ok && reasons.contains { $0.code == Self.notAdmitted } }
}

/// `POST /v1/vms/{vm}/migrate`.
public struct MigrateRequest: Codable, Sendable, Hashable {
    public var target: String
    /// `migrate --offline`: a cold move (the VM stops on the source and starts on the target) instead of a live one;
    /// never chosen by Chainkeeper itself.
    public var offline: Bool?

    public init(target: String, offline: Bool? = nil) {
        self.target = target
        self.offline = offline
    }
}

/// One migration in `history --json`.
public struct HistoryEntryJSON: Codable, Sendable, Hashable {
    public struct Step: Codable, Sendable, Hashable {
        public var state: String
        /// Milliseconds since the Unix epoch.
        public var at: Int64
        public var detail: String?

        public init(state: String, at: Int64, detail: String?) {
            self.state = state
            self.at = at
            self.detail = detail
        }
    }

    public var id: String
    public var vm: String
    public var vmId: String
    public var kind: String
    public var source: String
    public var target: String
    public var epoch: Int64
    public var state: String
    public var abortReason: String?
    public var reasons: [ReasonJSON]
    public var requestedBy: String
    public var createdAt: Int64
    public var updatedAt: Int64
    public var steps: [Step]

    public init(
        id: String,
        vm: String,
        vmId: String,
        kind: String,
        source: String,
        target: String,
        epoch: Int64,
        state: String,
        abortReason: String?,
        reasons: [ReasonJSON],
        requestedBy: String,
        createdAt: Int64,
        updatedAt: Int64,
        steps: [Step]
    ) {
        self.id = id
        self.vm = vm
        self.vmId = vmId
        self.kind = kind
        self.source = source
        self.target = target
        self.epoch = epoch
        self.state = state
        self.abortReason = abortReason
        self.reasons = reasons
        self.requestedBy = requestedBy
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.steps = steps
    }
}
