import ChainModel

/// The default backend: the coordinator's own SQLite database holds the critical state, and the leadership row
/// keeps a second coordinator started on the same database from acting.
public struct EmbeddedCoordinationStore: CoordinationStore {
    public let store: ClusterStore

    public init(store: ClusterStore) { self.store = store }

    public var isEmbedded: Bool { true }

    public func campaign(as candidate: LeaderInfo, ttl: Duration, at now: Timestamp) throws(StoreError) -> LeaderTerm? {
        try store.campaign(as: candidate, ttl: ttl, at: now)
    }

    public func renew(_ term: LeaderTerm, ttl: Duration, at now: Timestamp) throws(StoreError) {
        try store.renew(term, ttl: ttl, at: now)
    }

    public func resign(_ term: LeaderTerm) throws(StoreError) { try store.resign(term) }

    public func leader(at now: Timestamp) throws(StoreError) -> LeaderTerm? { try store.leader(at: now) }

    /// Reports insert a VM with its first owner here already, so a claim only reads it back.
    public func claim(
        _ vm: VMID,
        name: String,
        owner: NodeName,
        epoch: Epoch,
        reserved: Epoch,
        term: LeaderTerm
    ) throws(StoreError) -> Ownership {
        guard let known = try store.owners()[vm] else {
            throw StoreError(.danglingReference, "the cluster does not know VM \(vm.rawValue)")
        }
        return known
    }

    public func owner(of vm: VMID) throws(StoreError) -> Ownership? { try store.claimable(vm)?.ownership }

    public func owners() throws(StoreError) -> [VMID: Ownership] { try store.owners() }

    public func planMigration(
        vm: VMID,
        source: NodeName,
        target: NodeName,
        kind: MigrationRecord.Kind,
        requestedBy: String,
        operation: String?,
        at now: Timestamp,
        term: LeaderTerm
    ) throws(StoreError) -> MigrationRecord {
        try store.planMigration(
            vm: vm,
            source: source,
            target: target,
            kind: kind,
            requestedBy: requestedBy,
            operation: operation,
            at: now,
            term: term
        )
    }

    @discardableResult
    public func advanceMigration(
        _ id: String,
        to state: MigrationRecord.State,
        detail: String?,
        at now: Timestamp,
        term: LeaderTerm
    ) throws(StoreError) -> JournalCopy? {
        guard !state.isFinal else {
            guard let record = try store.migration(id: id) else {
                throw StoreError(.danglingReference, "no migration \(id)")
            }
            throw StoreError(
                .invalidTransition,
                "migration \(id) cannot go from \(record.state.rawValue) to \(state.rawValue)"
            )
        }
        // The held state is checked inside the step's own write: reading the whole record first was 14 % of the
        // coordinator's CPU during a 1,250-VM failover (issue 27).
        try store.advanceMigration(id, to: state, detail: detail, at: now, term: term)
        return nil
    }

    @discardableResult
    public func abortMigration(
        _ id: String,
        reason: String,
        reasons: String?,
        adoptedBack: Bool,
        at now: Timestamp,
        term: LeaderTerm
    ) throws(StoreError) -> JournalCopy? {
        try store.abortMigration(id, reason: reason, reasons: reasons, adoptedBack: adoptedBack, at: now, term: term)
        return nil
    }

    @discardableResult
    public func commitMigration(_ id: String, at now: Timestamp, term: LeaderTerm) throws(StoreError) -> JournalCopy? {
        try store.commitMigration(id, at: now, term: term)
        return nil
    }

    public func migration(id: String) throws(StoreError) -> MigrationRecord? { try store.migration(id: id) }

    public func activeMigrations() throws(StoreError) -> [MigrationRecord] { try store.activeMigrations() }

    public func history(vm: VMID?, limit: Int) throws(StoreError) -> [MigrationRecord] {
        try store.history(vm: vm, limit: limit)
    }

    public func setNodeState(
        _ node: NodeName,
        to state: NodeState,
        because: String,
        actor: String,
        at now: Timestamp,
        term: LeaderTerm
    ) throws(StoreError) {
        try store.setNodeState(node, to: state, because: because, actor: actor, at: now, term: term)
    }

    public func nodeStates() throws(StoreError) -> [NodeName: NodeState] {
        Dictionary(uniqueKeysWithValues: try store.nodes().map { ($0.name, $0.state) })
    }

    public func savePolicy(_ policy: PlacementPolicy, for vm: VMID, term: LeaderTerm) throws(StoreError) {
        try store.savePolicy(policy, for: vm, term: term)
    }

    public func policies() throws(StoreError) -> [VMID: PlacementPolicy] { try store.policies() }

    public func saveClass(_ antiAffinityClass: AntiAffinityClass, term: LeaderTerm) throws(StoreError) {
        try store.saveClass(antiAffinityClass, term: term)
    }

    public func classes() throws(StoreError) -> [String: Bool] { try store.classes() }

    public func seed(_ state: CriticalState, term: LeaderTerm) throws(StoreError) -> Int { 0 }

    /// Everything, always: the embedded store is the coordinator's own database, so nothing needs copying and this
    /// only serves the interface's contract.
    public func changes(since revision: Int64?) throws(StoreError) -> CriticalChanges {
        CriticalChanges(
            owners: try store.owners(),
            journal: try store.history(vm: nil, limit: Int.max),
            nodeStates: try nodeStates(),
            policies: try store.policies(),
            classes: try store.classes(),
            revision: 0
        )
    }
}

extension CriticalState {
    /// Everything the embedded database `store` holds of the critical state.
    public init(of store: ClusterStore) throws(StoreError) {
        var claims: [VMID: Claim] = [:]
        for (vm, claim) in try store.allClaimable() {
            claims[vm] = Claim(name: claim.name, ownership: claim.ownership, reserved: claim.reserved)
        }
        self.init(
            claims: claims,
            journal: try store.history(vm: nil, limit: Int.max),
            nodeStates: Dictionary(
                uniqueKeysWithValues: try store.nodes().filter { $0.state != .up }.map { ($0.name, $0.state) }
            ),
            policies: try store.policies(),
            classes: try store.classes()
        )
    }
}
