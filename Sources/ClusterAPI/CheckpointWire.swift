import ChainModel

/// What a checkpoint operation does (issue 24), journaled with it (`MigrationRecord.operation`) and sent to the owner
/// with its preflight and apply commands.
public struct CheckpointOrder: Codable, Sendable, Hashable {
    public enum Action: String, Codable, Sendable, Hashable {
        case create, delete, revert, repair
    }

    /// (repair) a file to copy to a new place, re-linked there (issue 25).
    public struct Move: Codable, Sendable, Hashable {
        public var from: String
        public var to: String
        /// A `FileKind` raw value.
        public var kind: String
        public var size: Int64

        public init(from: String, to: String, kind: String, size: Int64) {
            self.from = from
            self.to = to
            self.kind = kind
            self.size = size
        }
    }

    /// A file the create will write, where the location rule allowed it.
    public struct File: Codable, Sendable, Hashable {
        /// `overlay` or `memory`.
        public var kind: String
        /// As the owner sees it.
        public var path: String
        /// (overlay) the current disk it covers.
        public var covers: String?

        public init(kind: String, path: String, covers: String?) {
            self.kind = kind
            self.path = path
            self.covers = covers
        }
    }

    public var action: Action
    /// The checkpoint's name (create), or its id as the hypervisor names it (delete, revert).
    public var checkpoint: String
    /// (create) with the VM's memory (`--memory`), or the disks only.
    public var memory: Bool?
    public var description: String?
    /// (delete) the checkpoint and every checkpoint below it.
    public var children: Bool?
    /// (create) the files the location rule allowed.
    public var files: [File]?
    /// (repair) the files to move, in file-set order.
    public var moves: [Move]?
    /// (repair) keep the originals once the VM runs on the copies.
    public var keepOld: Bool?

    public init(
        action: Action,
        checkpoint: String,
        memory: Bool? = nil,
        description: String? = nil,
        children: Bool? = nil,
        files: [File]? = nil,
        moves: [Move]? = nil,
        keepOld: Bool? = nil
    ) {
        self.moves = moves
        self.keepOld = keepOld
        self.action = action
        self.checkpoint = checkpoint
        self.memory = memory
        self.description = description
        self.children = children
        self.files = files
    }

    /// The journal's kind for this action.
    public var kind: MigrationRecord.Kind {
        switch action {
        case .create: .checkpointCreate
        case .delete: .checkpointDelete
        case .revert: .checkpointRevert
        case .repair: .repair
        }
    }
}

/// `POST /v1/vms/{vm}/checkpoints`: `checkpoint create VM NAME [--memory | --disk-only] [--description TEXT]`.
public struct CheckpointCreateRequest: Codable, Sendable, Hashable {
    public var name: String
    /// `--memory`; the default (and `--disk-only`) takes the disks only.
    public var memory: Bool?
    public var description: String?

    public init(name: String, memory: Bool? = nil, description: String? = nil) {
        self.name = name
        self.memory = memory
        self.description = description
    }
}

/// `checkpoint … --json` (SPEC §7): `vm`, `vmId`, `allowed`, `reasons`, then `operationId`, `state` and `epoch` when
/// it was journaled, and `checkpoint`.
public struct CheckpointResponse: Codable, Sendable, Hashable {
    public struct Checkpoint: Codable, Sendable, Hashable {
        public var id: String
        public var name: String
        public var parentId: String?

        public init(id: String, name: String, parentId: String?) {
            self.id = id
            self.name = name
            self.parentId = parentId
        }
    }

    public var vm: String
    public var vmId: String
    public var allowed: Bool
    public var reasons: [ReasonJSON]
    public var operationId: String?
    public var state: String?
    public var epoch: Int64?
    public var checkpoint: Checkpoint?
    /// (create) the files the checkpoint writes, where the location rule allowed them.
    public var files: [CheckpointOrder.File]?

    public init(
        vm: String,
        vmId: String,
        allowed: Bool,
        reasons: [ReasonJSON],
        operationId: String? = nil,
        state: String? = nil,
        epoch: Int64? = nil,
        checkpoint: Checkpoint? = nil,
        files: [CheckpointOrder.File]? = nil
    ) {
        self.vm = vm
        self.vmId = vmId
        self.allowed = allowed
        self.reasons = reasons
        self.operationId = operationId
        self.state = state
        self.epoch = epoch
        self.checkpoint = checkpoint
        self.files = files
    }
}

/// `checkpoint list --json`: `vm`, `current` (the checkpoint the running state descends from, when known) and
/// `snapshots` (the tree, as in `vm show`).
public struct CheckpointListJSON: Codable, Sendable, Hashable {
    public var vm: String
    public var vmId: String
    public var current: String?
    public var snapshots: [VMDetailJSON.Snapshot]

    public init(vm: String, vmId: String, current: String?, snapshots: [VMDetailJSON.Snapshot]) {
        self.vm = vm
        self.vmId = vmId
        self.current = current
        self.snapshots = snapshots
    }
}

/// `POST /v1/vms/{vm}/repair`: `repair VM [--to-volume VOLUME] [--dry-run] [--keep-old]` (issue 25).
public struct RepairRequest: Codable, Sendable, Hashable {
    /// A volume's name or id; absent: the policy's checkpoint volume, else the shared volume every possible owner
    /// reaches with the most free space.
    public var volume: String?
    public var dryRun: Bool?
    public var keepOld: Bool?

    public init(volume: String? = nil, dryRun: Bool? = nil, keepOld: Bool? = nil) {
        self.volume = volume
        self.dryRun = dryRun
        self.keepOld = keepOld
    }
}

/// `repair --json` (SPEC §7): `vm`, `vmId`, `allowed`, `reasons`, then `operationId`, `state` and `epoch` when it was
/// journaled, `volume`, and `files` (`{from, to, size}`).
public struct RepairResponse: Codable, Sendable, Hashable {
    public struct File: Codable, Sendable, Hashable {
        public var from: String
        public var to: String
        public var size: Int64
        public var kind: String
        /// `stranded`, or `above-stranded`: a disk whose chain passes through a stranded file moves with it, so no
        /// file is ever re-linked in place.
        public var why: String?

        public init(from: String, to: String, size: Int64, kind: String, why: String? = nil) {
            self.from = from
            self.to = to
            self.size = size
            self.kind = kind
            self.why = why
        }
    }

    public var vm: String
    public var vmId: String
    public var allowed: Bool
    public var reasons: [ReasonJSON]
    public var operationId: String?
    public var state: String?
    public var epoch: Int64?
    public var volume: String
    public var volumeId: String
    public var dryRun: Bool
    public var files: [File]
    /// (done) the originals were kept (`--keep-old`).
    public var keptOld: Bool?
    /// (done) the VM's `failover-blocked` mark was cleared: a fresh report shows no stranded file.
    public var failoverCleared: Bool?
    /// (done) what the owner did, or why it stopped.
    public var message: String?

    public init(
        vm: String,
        vmId: String,
        allowed: Bool,
        reasons: [ReasonJSON],
        volume: String,
        volumeId: String,
        dryRun: Bool,
        files: [File]
    ) {
        self.vm = vm
        self.vmId = vmId
        self.allowed = allowed
        self.reasons = reasons
        self.volume = volume
        self.volumeId = volumeId
        self.dryRun = dryRun
        self.files = files
    }
}
