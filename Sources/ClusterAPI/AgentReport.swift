import ChainModel
import FoundationEssentials

/// What an agent sends the coordinator each rescan: its whole view of its node.
///
/// Versioned by the route (`/v1/…`); fields may be added, never renamed.
public struct AgentReport: Codable, Sendable, Hashable {
    public var node: String
    /// `hyperv-json` or `libvirt`.
    public var driver: Reported<InventoryDriver>
    public var memoryMiB: Int?
    public var volumes: [ReportedVolume]
    public var vms: [ReportedVM]
    public var inventoryErrors: [ReportedInventoryError]
    /// Differencing disks found on volumes, used by a VM or not (for `orphan-disk`).
    public var discoveredDisks: [ReportedDisk]
    /// How another node's libvirt reaches this node's for a live migration (`inventory.peerURI`; libvirt nodes).
    public var hypervisorURI: String?
    /// VMs whose entry is the one this agent last delivered, by its `digest`, without their body (issue 27).
    ///
    /// A coordinator that holds that entry from this node counts them unchanged, any other asks for them again
    /// (`ReportAnswer.resendVMs`). Listed like `vms`.
    public var unchangedVMs: [UnchangedVM]?

    public init(
        node: String,
        driver: Reported<InventoryDriver>,
        memoryMiB: Int? = nil,
        volumes: [ReportedVolume] = [],
        vms: [ReportedVM] = [],
        inventoryErrors: [ReportedInventoryError] = [],
        discoveredDisks: [ReportedDisk] = []
    ) {
        self.node = node
        self.driver = driver
        self.memoryMiB = memoryMiB
        self.volumes = volumes
        self.vms = vms
        self.inventoryErrors = inventoryErrors
        self.discoveredDisks = discoveredDisks
    }
}

extension ReportedVM {
    /// This entry with `digest` set: `sha256:` and the hex SHA-256 (`sha256`, given: the pure core holds no hash) of
    /// its JSON with sorted keys and no `digest`.
    public func withDigest<Hash: Sequence<UInt8>>(sha256: (Data) -> Hash) -> ReportedVM {
        var entry = self
        entry.digest = nil
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        guard let canonical = try? encoder.encode(entry) else { return entry }
        entry.digest = HypervisorMetadata.digest(of: canonical, sha256: sha256)
        return entry
    }
}

/// A VM the report lists by the digest of the entry last delivered for it.
public struct UnchangedVM: Codable, Sendable, Hashable {
    public var id: String
    /// `ReportedVM.digest` of that entry.
    public var digest: String

    public init(id: String, digest: String) {
        self.id = id
        self.digest = digest
    }
}

/// A volume marker the agent found, where it is mounted there, and its probe evidence.
public struct ReportedVolume: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var mountPath: String
    public var filesystemType: String?
    /// The nonce this agent wrote under the volume's `.chainkeeper/probe/` this rescan.
    public var probeWritten: String?
    /// Nonces this agent read back from the probe directory (its own and other nodes').
    public var probeRead: [String]
    /// Free space on the volume's file system as this node sees it (statvfs), in bytes.
    public var freeBytes: Int64?
    /// Mounted read-only on this node.
    public var readOnly: Bool?
    /// The filesystem's size (statvfs), for the audit's `minFreeSpace` (issue 24).
    public var totalBytes: Int64?

    public init(
        id: String,
        name: String,
        mountPath: String,
        filesystemType: String? = nil,
        probeWritten: String? = nil,
        probeRead: [String] = [],
        freeBytes: Int64? = nil,
        readOnly: Bool? = nil
    ) {
        self.id = id
        self.name = name
        self.mountPath = mountPath
        self.filesystemType = filesystemType
        self.probeWritten = probeWritten
        self.probeRead = probeRead
        self.freeBytes = freeBytes
        self.readOnly = readOnly
    }
}

/// One VM as the agent found it, its chains already walked.
public struct ReportedVM: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var state: Reported<PowerState>
    public var highlyAvailable: Bool
    public var memoryMiB: Int
    public var checkpoints: [ReportedCheckpoint]
    public var files: [ReportedFile]
    /// Each chain as indices into `files`, leaf first.
    public var chains: [ReportedChain]
    /// The epoch at which this node adopted the VM, when it did (SPEC §6): lets a coordinator that lost its database
    /// rebuild ownership, the highest epoch winning.
    public var epoch: Int64?
    /// The digest of the VM's hypervisor metadata (`HypervisorMetadata`, libvirt VMs): the body goes only when a
    /// coordinator asks for it (`ReportAnswer.missingMetadata`).
    public var metadataDigest: String?
    /// `sha256:` and 64 hex digits of this entry's JSON with sorted keys and without this field (`withDigest()`): what
    /// a later report names the entry by in `AgentReport.unchangedVMs`.
    public var digest: String?
    /// (`hyperv-json` v2) where the VM's next files go (the checkpoint file location, the smart paging file), placed
    /// on this node's volumes like files.
    public var nextFiles: [ReportedNextFile]?
    /// (`hyperv-json` v2) Hyper-V reports a checkpoint merge that has not finished.
    public var mergePending: Bool?

    public init(
        id: String,
        name: String,
        state: Reported<PowerState>,
        highlyAvailable: Bool,
        memoryMiB: Int,
        checkpoints: [ReportedCheckpoint] = [],
        files: [ReportedFile] = [],
        chains: [ReportedChain] = []
    ) {
        self.id = id
        self.name = name
        self.state = state
        self.highlyAvailable = highlyAvailable
        self.memoryMiB = memoryMiB
        self.checkpoints = checkpoints
        self.files = files
        self.chains = chains
    }
}

public struct ReportedCheckpoint: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var parentId: String?
    /// Milliseconds since the Unix epoch.
    public var created: Int64?

    public init(id: String, name: String, parentId: String? = nil, created: Int64? = nil) {
        self.id = id
        self.name = name
        self.parentId = parentId
        self.created = created
    }
}

public struct ReportedFile: Codable, Sendable, Hashable {
    /// As the agent sees it.
    public var path: String
    /// The volume holding it, and the path relative to the volume root; both absent for a file
    /// under no volume marker.
    public var volumeId: String?
    public var relativePath: String?
    public var kind: Reported<FileKind>
    public var format: Reported<DiskFormat>?
    public var size: Int64
    public var identifier: String?
    public var checkpointId: String?
    /// `file-missing`, `chain-broken` or `disk-needs-log-replay`.
    public var problem: Reported<FileProblem>?
    public var problemDetail: String?

    public init(
        path: String,
        volumeId: String? = nil,
        relativePath: String? = nil,
        kind: Reported<FileKind>,
        format: Reported<DiskFormat>? = nil,
        size: Int64 = 0,
        identifier: String? = nil,
        checkpointId: String? = nil,
        problem: Reported<FileProblem>? = nil,
        problemDetail: String? = nil
    ) {
        self.path = path
        self.volumeId = volumeId
        self.relativePath = relativePath
        self.kind = kind
        self.format = format
        self.size = size
        self.identifier = identifier
        self.checkpointId = checkpointId
        self.problem = problem
        self.problemDetail = problemDetail
    }
}

public struct ReportedChain: Codable, Sendable, Hashable {
    public var checkpointId: String?
    public var files: [Int]

    public init(checkpointId: String? = nil, files: [Int]) {
        self.checkpointId = checkpointId
        self.files = files
    }
}

public struct ReportedInventoryError: Codable, Sendable, Hashable {
    public var vm: String?
    public var message: String

    public init(vm: String?, message: String) {
        self.vm = vm
        self.message = message
    }
}

public struct ReportedDisk: Codable, Sendable, Hashable {
    public var volumeId: String
    public var relativePath: String
    public var path: String

    public init(volumeId: String, relativePath: String, path: String) {
        self.volumeId = volumeId
        self.relativePath = relativePath
        self.path = path
    }
}

/// A directory where the hypervisor will write a VM's next files (`ReportedVM.nextFiles`).
public struct ReportedNextFile: Codable, Sendable, Hashable {
    /// `checkpoint` (Hyper-V's checkpoint file location) or `smart-paging`.
    public var role: String
    public var path: String
    public var volumeId: String?
    public var relativePath: String?

    public init(role: String, path: String, volumeId: String? = nil, relativePath: String? = nil) {
        self.role = role
        self.path = path
        self.volumeId = volumeId
        self.relativePath = relativePath
    }
}
