/// The state that must never diverge between coordinators (SPEC §1, issue 8): VM owners and epochs, the migration
/// journal and its history, node states, placement policy, and leadership.
///
/// Two implementations: `EmbeddedCoordinationStore` (the coordinator's own SQLite file, the default) and
/// `EtcdCoordinationStore` (etcd 3.4, for several coordinators). Every write carries the writer's `LeaderTerm` and is
/// refused with `not-leader` once that term has ended, in the same transaction as the write. What agents' reports can
/// rebuild (inventories, files, chains, reachability) is not here: each coordinator keeps it in its own database.
///
/// Times come in as arguments: neither implementation reads a clock.
public protocol CoordinationStore: Sendable {
    /// Whether writes land in the coordinator's own database, so nothing needs copying there.
    var isEmbedded: Bool { get }

    // MARK: Leadership

    /// Takes leadership for `ttl` if nobody holds it; `nil` when another coordinator does.
    func campaign(as candidate: LeaderInfo, ttl: Duration, at now: Timestamp) async throws(StoreError) -> LeaderTerm?
    /// Keeps the term alive for another `ttl`; `not-leader` once it has ended.
    func renew(_ term: LeaderTerm, ttl: Duration, at now: Timestamp) async throws(StoreError)
    /// Ends the term now.
    func resign(_ term: LeaderTerm) async throws(StoreError)
    /// The current leader, if any.
    func leader(at now: Timestamp) async throws(StoreError) -> LeaderTerm?

    // MARK: Ownership

    /// Records the first owner of a VM the cluster has just learned about; returns the owner on record, which is the
    /// earlier one if the VM was already known.
    ///
    /// `epoch` and `reserved` (the highest epoch a migration of the VM already used) are kept as given, so a cluster
    /// moving from the embedded backend to etcd never reuses an epoch. `name` is shown in history.
    func claim(
        _ vm: VMID,
        name: String,
        owner: NodeName,
        epoch: Epoch,
        reserved: Epoch,
        term: LeaderTerm
    ) async throws(StoreError) -> Ownership
    /// One VM's owner and epoch, or nil when the VM is unknown.
    func owner(of vm: VMID) async throws(StoreError) -> Ownership?
    /// Every VM's owner and epoch.
    func owners() async throws(StoreError) -> [VMID: Ownership]

    // MARK: Journal

    /// Journals a migration at `planned` and reserves the VM's next epoch; `conflict` if the VM is not owned by
    /// `source` or another migration of it is under way, `dangling-reference` if the VM is unknown.
    func planMigration(
        vm: VMID,
        source: NodeName,
        target: NodeName,
        kind: MigrationRecord.Kind,
        requestedBy: String,
        operation: String?,
        at now: Timestamp,
        term: LeaderTerm
    ) async throws(StoreError) -> MigrationRecord
    /// One step along the state machine (not to `committed` or `aborted`); `invalid-transition` otherwise.
    @discardableResult
    func advanceMigration(
        _ id: String,
        to state: MigrationRecord.State,
        detail: String?,
        at now: Timestamp,
        term: LeaderTerm
    ) async throws(StoreError) -> JournalCopy?
    /// Ends a migration as aborted; with `adoptedBack` the VM's epoch becomes the migration's (the source adopted
    /// the VM again at it).
    @discardableResult
    func abortMigration(
        _ id: String,
        reason: String,
        reasons: String?,
        adoptedBack: Bool,
        at now: Timestamp,
        term: LeaderTerm
    ) async throws(StoreError) -> JournalCopy?
    /// Moves the owner and epoch and marks the migration committed, in one write.
    @discardableResult
    func commitMigration(_ id: String, at now: Timestamp, term: LeaderTerm) async throws(StoreError) -> JournalCopy?
    func migration(id: String) async throws(StoreError) -> MigrationRecord?
    /// Migrations neither committed nor aborted: what a new leader must finish.
    func activeMigrations() async throws(StoreError) -> [MigrationRecord]
    /// Newest first; at most `limit`.
    func history(vm: VMID?, limit: Int) async throws(StoreError) -> [MigrationRecord]

    // MARK: Nodes and policy

    func setNodeState(
        _ node: NodeName,
        to state: NodeState,
        because: String,
        actor: String,
        at now: Timestamp,
        term: LeaderTerm
    ) async throws(StoreError)
    func nodeStates() async throws(StoreError) -> [NodeName: NodeState]
    func savePolicy(_ policy: PlacementPolicy, for vm: VMID, term: LeaderTerm) async throws(StoreError)
    func policies() async throws(StoreError) -> [VMID: PlacementPolicy]
    /// Whether an anti-affinity class is enforced (`policy class`), part of placement policy.
    func saveClass(_ antiAffinityClass: AntiAffinityClass, term: LeaderTerm) async throws(StoreError)
    /// Every class whose enforcement was set, and the classes policies named.
    func classes() async throws(StoreError) -> [String: Bool]

    /// At least every record written after `revision` (everything when nil), and the revision to ask from next time:
    /// how a coordinator keeps its own copy of the critical state current without reading all of it each time.
    func changes(since revision: Int64?) async throws(StoreError) -> CriticalChanges

    // MARK: Moving backends

    /// Writes each record of `state` this backend does not hold yet, leaving those it holds as they are; returns how
    /// many it wrote. This is how a cluster moves from the embedded backend to etcd with its epochs, journal, node
    /// states and policies unchanged. The embedded store is where such a state comes from, so it writes nothing.
    func seed(_ state: CriticalState, term: LeaderTerm) async throws(StoreError) -> Int
}

/// What a journal write left in a backend other than the coordinator's own database.
///
/// The record as written, and its VM's owner and epoch when the write changed them, so the coordinator copies the
/// write without reading it back (two reads per step were half of an etcd failover's time). The embedded backend,
/// whose writes land in that database already, answers nil.
public struct JournalCopy: Sendable, Equatable {
    public var record: MigrationRecord
    public var ownership: Ownership?

    public init(record: MigrationRecord, ownership: Ownership?) {
        self.record = record
        self.ownership = ownership
    }
}

/// The critical state of a cluster as one backend holds it: what moving to another backend carries over.
public struct CriticalState: Sendable {
    public struct Claim: Sendable, Hashable {
        public var name: String
        public var ownership: Ownership
        /// The highest epoch any migration of the VM used.
        public var reserved: Epoch

        public init(name: String, ownership: Ownership, reserved: Epoch) {
            self.name = name
            self.ownership = ownership
            self.reserved = reserved
        }
    }

    public var claims: [VMID: Claim]
    public var journal: [MigrationRecord]
    /// States other than `up`.
    public var nodeStates: [NodeName: NodeState]
    public var policies: [VMID: PlacementPolicy]
    public var classes: [String: Bool]

    public init(
        claims: [VMID: Claim],
        journal: [MigrationRecord],
        nodeStates: [NodeName: NodeState],
        policies: [VMID: PlacementPolicy],
        classes: [String: Bool] = [:]
    ) {
        self.claims = claims
        self.journal = journal
        self.nodeStates = nodeStates
        self.policies = policies
        self.classes = classes
    }
}

/// Records of the critical state, as `CoordinationStore.changes(since:)` answers.
public struct CriticalChanges: Sendable {
    public var owners: [VMID: Ownership]
    public var journal: [MigrationRecord]
    public var nodeStates: [NodeName: NodeState]
    public var policies: [VMID: PlacementPolicy]
    public var classes: [String: Bool]
    /// Ask from here next time.
    public var revision: Int64

    public init(
        owners: [VMID: Ownership],
        journal: [MigrationRecord],
        nodeStates: [NodeName: NodeState],
        policies: [VMID: PlacementPolicy],
        classes: [String: Bool] = [:],
        revision: Int64
    ) {
        self.owners = owners
        self.journal = journal
        self.nodeStates = nodeStates
        self.policies = policies
        self.classes = classes
        self.revision = revision
    }

    public var isEmpty: Bool {
        owners.isEmpty && journal.isEmpty && nodeStates.isEmpty && policies.isEmpty && classes.isEmpty
    }
}

extension CoordinationStore {
    /// Journals a move (no operation parameters).
    public func planMigration(
        vm: VMID,
        source: NodeName,
        target: NodeName,
        kind: MigrationRecord.Kind,
        requestedBy: String,
        at now: Timestamp,
        term: LeaderTerm
    ) async throws(StoreError) -> MigrationRecord {
        try await planMigration(
            vm: vm,
            source: source,
            target: target,
            kind: kind,
            requestedBy: requestedBy,
            operation: nil,
            at: now,
            term: term
        )
    }
}
