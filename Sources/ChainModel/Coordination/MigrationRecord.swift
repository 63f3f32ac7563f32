/// A journaled migration (SPEC §6): written before each step is acted on.
public struct MigrationRecord: Sendable, Hashable, Codable {
    public enum State: String, Sendable, Hashable, Codable, CaseIterable {
        case planned
        case preflight
        case sourceReleased = "source-released"
        case targetAdopted = "target-adopted"
        case committed
        case aborted
        /// An operation on the owner (checkpoint, repair, issue 24): journaled before the owner is asked to apply it.
        case applying
        /// The owner answered that the operation is done; the commit follows.
        case applied

        public var isFinal: Bool { self == .committed || self == .aborted }

        /// The steps of the SPEC §6 state machine for a record of `kind` (the same rule the schema's trigger keeps):
        /// a move goes through `source-released`/`target-adopted`, an operation through `applying`/`applied`.
        public func canMove(to next: State, kind: Kind) -> Bool {
            switch (self, next) {
            case (.planned, .preflight), (.planned, .aborted), (.preflight, .aborted): true
            case (.preflight, .sourceReleased), (.preflight, .targetAdopted), (.sourceReleased, .targetAdopted),
                (.sourceReleased, .aborted), (.targetAdopted, .committed):
                !kind.isOperation
            case (.preflight, .applying), (.applying, .applied), (.applying, .aborted), (.applied, .committed):
                kind.isOperation
            default: false
            }
        }
    }

    /// What asked for the move: an administrator (`migration`), a drain, or the failover manager (`failover`, whose
    /// source is fenced and has no release step).
    ///
    /// Stored and shown as its raw value.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        case migration
        case failover
        case drain
        /// Operations on the owner that share the journal with moves (SPEC §7): source and target are the owner.
        case checkpointCreate = "checkpoint-create"
        case checkpointDelete = "checkpoint-delete"
        case checkpointRevert = "checkpoint-revert"
        case repair

        /// Whether the source is asked to release the VM: not in a failover, whose source is fenced.
        public var releasesSource: Bool { self != .failover }

        /// An operation on the owner rather than a move: `planned → preflight → applying → applied → committed`.
        public var isOperation: Bool {
            switch self {
            case .migration, .failover, .drain: false
            case .checkpointCreate, .checkpointDelete, .checkpointRevert, .repair: true
            }
        }
    }

    public struct Step: Sendable, Hashable, Codable {
        public var state: State
        public var at: Timestamp
        public var detail: String?

        public init(state: State, at: Timestamp, detail: String?) {
            self.state = state
            self.at = at
            self.detail = detail
        }
    }

    public var id: String
    public var vm: VMID
    public var vmName: String
    public var kind: Kind
    public var source: NodeName
    public var target: NodeName
    public var epoch: Epoch
    public var state: State
    public var abortReason: String?
    /// The reasons a preflight gave, as JSON (`[{code, message, path?}]`).
    public var reasons: String?
    public var requestedBy: String
    /// What an operation (`Kind.isOperation`) does, as JSON (`CheckpointOrder` for a checkpoint); nil for a move.
    public var operation: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var steps: [Step]

    public init(
        id: String,
        vm: VMID,
        vmName: String,
        kind: Kind,
        source: NodeName,
        target: NodeName,
        epoch: Epoch,
        state: State,
        abortReason: String? = nil,
        reasons: String? = nil,
        requestedBy: String,
        operation: String? = nil,
        createdAt: Timestamp,
        updatedAt: Timestamp,
        steps: [Step]
    ) {
        self.operation = operation
        self.id = id
        self.vm = vm
        self.vmName = vmName
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
