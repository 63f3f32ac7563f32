import ChainModel
import DecisionEngine

/// `audit --json` (SPEC §7): `{risks: [...]}`.
public struct AuditResponse: Codable, Sendable, Hashable {
    public var risks: [RiskJSON]

    public init(risks: [RiskJSON]) { self.risks = risks }
}

/// One risk: `{code, severity, message, vm?, node?, volume?, path?}` plus ids for scripts.
public struct RiskJSON: Codable, Sendable, Hashable {
    public var code: String
    public var severity: String
    public var message: String
    public var vm: String?
    public var vmId: String?
    public var node: String?
    public var volume: String?
    public var volumeId: String?
    public var path: String?
    /// The volume `repair` would copy the stranded file to (SPEC §7).
    public var repairTo: String?

    public init(_ risk: Risk) {
        repairTo = risk.repairTo
        code = risk.code.rawValue
        severity = risk.severity.rawValue
        message = risk.message
        vm = risk.vm
        vmId = risk.vmID?.rawValue
        node = risk.node?.rawValue
        volume = risk.volume
        volumeId = risk.volumeID?.rawValue
        path = risk.path
    }
}

/// One row of `vms --json`.
public struct VMSummaryJSON: Codable, Sendable, Hashable {
    public var name: String
    public var id: String
    public var owner: String
    public var state: String
    public var highlyAvailable: Bool
    public var stranded: Bool
    public var epoch: Int64
    public var checkpoints: Int
    public var risks: [String]

    public init(
        name: String,
        id: String,
        owner: String,
        state: String,
        highlyAvailable: Bool,
        stranded: Bool,
        epoch: Int64,
        checkpoints: Int,
        risks: [String]
    ) {
        self.name = name
        self.id = id
        self.owner = owner
        self.state = state
        self.highlyAvailable = highlyAvailable
        self.stranded = stranded
        self.epoch = epoch
        self.checkpoints = checkpoints
        self.risks = risks
    }
}

/// One row of `volumes --json`: `{id, name, reachableFrom, kind}`.
public struct VolumeJSON: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var reachableFrom: [String]
    public var kind: String
    /// Nodes that report the marker, verified or not.
    public var reportedBy: [String]
    /// Free space, the smallest any node reported (bytes); absent until an agent measured it.
    public var freeBytes: Int64?

    public init(
        id: String,
        name: String,
        reachableFrom: [String],
        kind: String,
        reportedBy: [String],
        freeBytes: Int64? = nil
    ) {
        self.freeBytes = freeBytes
        self.id = id
        self.name = name
        self.reachableFrom = reachableFrom
        self.kind = kind
        self.reportedBy = reportedBy
    }
}

/// One row of `nodes --json`.
public struct NodeJSON: Codable, Sendable, Hashable {
    public var name: String
    public var state: String
    /// Seconds until the node's lease runs out as the coordinator counts it (negative once it has);
    /// null before the first heartbeat.
    public var leaseExpiresIn: Double?
    public var driver: String?
    public var vmCount: Int
    public var memoryUsedMiB: Int
    public var memoryMiB: Int?

    public init(
        name: String,
        state: String,
        leaseExpiresIn: Double?,
        driver: String?,
        vmCount: Int,
        memoryUsedMiB: Int,
        memoryMiB: Int?
    ) {
        self.name = name
        self.state = state
        self.leaseExpiresIn = leaseExpiresIn
        self.driver = driver
        self.vmCount = vmCount
        self.memoryUsedMiB = memoryUsedMiB
        self.memoryMiB = memoryMiB
    }
}

/// `vm show --json`: `name, id, owner, epoch, state, highlyAvailable, snapshots, files` (SPEC §7).
public struct VMDetailJSON: Codable, Sendable, Hashable {
    public struct Snapshot: Codable, Sendable, Hashable {
        public var id: String
        public var name: String
        public var parentId: String?
        public var created: Int64?
        public var children: [Snapshot]
    }

    public struct File: Codable, Sendable, Hashable {
        public var path: String
        public var kind: String
        public var volume: String?
        public var volumeId: String?
        public var format: String?
        public var size: Int64
        public var snapshotId: String?
        public var identifier: String?
        public var problem: String?
    }

    /// A volume the VM's files are on, and the nodes that reach it now (mounted, and probed there lately).
    ///
    /// Given once per volume rather than per file: a VM has dozens of files on one volume, and a cluster dozens of
    /// nodes.
    public struct VolumeReach: Codable, Sendable, Hashable {
        public var id: String
        public var name: String
        public var reachableFrom: [String]
    }

    public struct Chain: Codable, Sendable, Hashable {
        public var snapshotId: String?
        public var paths: [String]
    }

    public var name: String
    public var id: String
    public var owner: String
    public var epoch: Int64
    public var state: String
    public var highlyAvailable: Bool
    public var snapshots: [Snapshot]
    public var files: [File]
    public var volumes: [VolumeReach]
    public var chains: [Chain]
    public var risks: [RiskJSON]
    /// The hypervisor metadata the coordinator holds for a libvirt VM (issue 23); absent for VMs whose driver has none.
    public var hypervisorMetadata: MetadataStatusJSON?

    /// The nodes that reach `file` now: its volume's, or only the owner for a file on no volume.
    public func reachableFrom(_ file: File) -> [String] {
        guard let volume = file.volumeId else { return [owner] }
        return volumes.first { $0.id == volume }?.reachableFrom ?? []
    }

    public init(
        name: String,
        id: String,
        owner: String,
        epoch: Int64,
        state: String,
        highlyAvailable: Bool,
        snapshots: [Snapshot],
        files: [File],
        volumes: [VolumeReach],
        chains: [Chain],
        risks: [RiskJSON]
    ) {
        self.name = name
        self.id = id
        self.owner = owner
        self.epoch = epoch
        self.state = state
        self.highlyAvailable = highlyAvailable
        self.snapshots = snapshots
        self.files = files
        self.volumes = volumes
        self.chains = chains
        self.risks = risks
    }
}

extension VMDetailJSON {
    /// The VM's checkpoint tree, roots first (empty when its checkpoints do not form a tree).
    public static func tree(of vm: VM) -> [Snapshot] {
        let tree = (try? CheckpointTree(vm.checkpoints))
        func node(_ id: CheckpointID) -> Snapshot? {
            guard let checkpoint = tree?.checkpoints[id] else { return nil }
            return Snapshot(
                id: id.rawValue,
                name: checkpoint.name,
                parentId: checkpoint.parent?.rawValue,
                created: checkpoint.created?.millisecondsSinceEpoch,
                children: (tree?.children[id] ?? []).compactMap(node)
            )
        }
        return (tree?.roots ?? []).compactMap(node)
    }

    /// The detail of `vm` as the engine sees it in `view`, with the risks that name it.
    public init(_ vm: VM, view: ClusterView, risks: [Risk]) {
        let paths = Dictionary(vm.files.map { ($0.location, $0.path) }, uniquingKeysWith: { first, _ in first })
        let volumeIDs = Set(vm.files.compactMap(\.location.volume)).sorted()
        self.init(
            name: vm.name,
            id: vm.id.rawValue,
            owner: vm.owner.rawValue,
            epoch: vm.ownership.epoch.rawValue,
            state: vm.state.rawValue,
            highlyAvailable: view.isHighlyAvailable(vm),
            snapshots: Self.tree(of: vm),
            files: vm.files.map { file in
                File(
                    path: file.path,
                    kind: file.kind.rawValue,
                    volume: file.location.volume.map { view.volumes[$0]?.name ?? $0.rawValue },
                    volumeId: file.location.volume?.rawValue,
                    format: file.format?.rawValue,
                    size: file.size,
                    snapshotId: file.checkpoint?.rawValue,
                    identifier: file.identifier,
                    problem: file.problem?.rawValue
                )
            },
            volumes: volumeIDs.map { volume in
                VolumeReach(
                    id: volume.rawValue,
                    name: view.volumes[volume]?.name ?? volume.rawValue,
                    reachableFrom: (view.mounts[volume] ?? [:]).values
                        .filter { $0.isVerified(at: view.now, probeInterval: view.settings.probeInterval) }
                        .map(\.node.rawValue).sorted()
                )
            },
            chains: vm.chains.map {
                Chain(snapshotId: $0.checkpoint?.rawValue, paths: $0.elements.map { paths[$0] ?? $0.key })
            },
            risks: risks.filter { $0.vmID == vm.id }.map(RiskJSON.init)
        )
    }
}

/// `GET /v1/leadership`: which coordinator this is, whether it leads, and how fresh a standby's copy is.
public struct LeadershipJSON: Codable, Sendable, Hashable {
    /// `sqlite` (embedded) or `etcd`.
    public var backend: String
    /// `leader` or `standby`.
    public var role: String
    /// This coordinator's advertised URL.
    public var url: String
    /// The leader's URL, when one is known.
    public var leader: String?
    /// The leader's term token (grows with every election), when this coordinator leads.
    public var term: Int64?
    /// How old this coordinator's copy of the critical state is (etcd only).
    public var stalenessMs: Int64?

    public init(
        backend: String,
        role: String,
        url: String,
        leader: String?,
        term: Int64?,
        stalenessMs: Int64?
    ) {
        self.backend = backend
        self.role = role
        self.url = url
        self.leader = leader
        self.term = term
        self.stalenessMs = stalenessMs
    }
}
