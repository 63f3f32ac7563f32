import ChainModel
import Foundation
import GRDB

/// What the coordination interface reads from the embedded database, and what a coordinator on the etcd backend copies
/// into its own database from etcd (its replica of the state that must never diverge).
extension ClusterStore {
    /// Every VM's owner and epoch.
    public func owners() throws(StoreError) -> [VMID: Ownership] {
        try translatingErrors {
            try writer.read { db in
                var owners: [VMID: Ownership] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT id, owner, epoch FROM vm") {
                    owners[VMID(row[0] as String)] = Ownership(
                        owner: NodeName(row[1] as String),
                        epoch: Epoch(row[2] as Int64)
                    )
                }
                return owners
            }
        }
    }

    /// Every anti-affinity class and whether it is enforced.
    public func classes() throws(StoreError) -> [String: Bool] {
        try translatingErrors {
            try writer.read { db in
                var classes: [String: Bool] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT name, enforced FROM anti_affinity_class") {
                    classes[row[0] as String] = row[1] as Bool
                }
                return classes
            }
        }
    }

    /// Every stored placement policy.
    public func policies() throws(StoreError) -> [VMID: PlacementPolicy] {
        try translatingErrors {
            try writer.read { db in
                var policies: [VMID: PlacementPolicy] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT * FROM placement_policy") {
                    policies[VMID(row["vm_id"] as String)] = try Self.policy(from: row)
                }
                return policies
            }
        }
    }

    /// What a claim of a VM carries: its name, owner and epoch, and the highest epoch any migration of it reserved.
    public typealias Claimable = (name: String, ownership: Ownership, reserved: Epoch)

    /// A VM's claim, or nil if the database does not know it.
    public func claimable(_ vm: VMID) throws(StoreError) -> Claimable? {
        try translatingErrors {
            try writer.read { db in
                try Row.fetchOne(db, sql: "\(Self.claimableSelect) WHERE id = ?", arguments: [vm.rawValue]).map {
                    Self.claimable(from: $0).claim
                }
            }
        }
    }

    /// Every VM this database knows, with what a claim carries (a new etcd leader claims those etcd lacks).
    public func allClaimable() throws(StoreError) -> [VMID: Claimable] {
        try translatingErrors {
            try writer.read { db in
                var result: [VMID: Claimable] = [:]
                let rows = try Row.fetchCursor(db, sql: Self.claimableSelect)
                while let row = try rows.next() {
                    let (vm, claim) = Self.claimable(from: row)
                    result[vm] = claim
                }
                return result
            }
        }
    }

    /// The claims of the VMs at these rows of `vm` (`RegistrationLog`); a row since deleted is left out.
    public func claimable(rowIDs: [Int64]) throws(StoreError) -> [VMID: Claimable] {
        try translatingErrors {
            try writer.read { db in
                var result: [VMID: Claimable] = [:]
                try Self.forEachRow(of: Self.claimableSelect, rowIDs: rowIDs, in: db) { row in
                    let (vm, claim) = Self.claimable(from: row)
                    result[vm] = claim
                }
                return result
            }
        }
    }

    private static let claimableSelect = """
        SELECT id, name, owner, epoch, (SELECT max(epoch) FROM migration WHERE vm_id = vm.id) AS reserved FROM vm
        """

    private static func claimable(from row: Row) -> (vm: VMID, claim: Claimable) {
        let epoch = Epoch(row["epoch"] as Int64)
        return (
            VMID(row["id"] as String),
            (
                row["name"],
                Ownership(owner: NodeName(row["owner"] as String), epoch: epoch),
                max(epoch, Epoch((row["reserved"] as Int64?) ?? 0))
            )
        )
    }

    /// What `applyAuthority` did: rows changed, and the VMs and nodes it skipped because no report named them yet.
    public struct AppliedAuthority: Sendable {
        public var changed = 0
        public var unknownVMs: Set<VMID> = []
        public var unknownNodes: Set<NodeName> = []
    }

    /// Which of `nodes` this database knows, looked up one by one (a step's copy names one or two).
    static func existingNodes(_ nodes: Set<NodeName>, in db: Database) throws -> Set<String> {
        let lookup = try db.cachedStatement(sql: "SELECT 1 FROM node WHERE name = ?")
        return Set(try nodes.filter { try Bool.fetchOne(lookup, arguments: [$0.rawValue]) != nil }.map(\.rawValue))
    }

    /// Which of `vms` the database holds, by id in batches of 500 bound parameters.
    static func existingVMs(_ vms: Set<VMID>, in db: Database) throws -> Set<String> {
        let ids = vms.map(\.rawValue)
        var known: Set<String> = []
        for start in stride(from: 0, to: ids.count, by: 500) {
            let batch = Array(ids[start..<min(start + 500, ids.count)])
            let marks = Array(repeating: "?", count: batch.count).joined(separator: ", ")
            known.formUnion(
                try String.fetchAll(
                    db.cachedStatement(sql: "SELECT id FROM vm WHERE id IN (\(marks))"),
                    arguments: StatementArguments(batch)
                )
            )
        }
        return known
    }

    /// Copies the authoritative state into this database, in one transaction.
    ///
    /// Owners and epochs of VMs this database knows (from reports) are set; an epoch lower than the local one is
    /// left alone, as epochs only grow. Journal records replace their local copies whole (a replica may see a
    /// migration skip states it missed). Records of VMs or nodes not yet reported here are skipped and named in the
    /// answer, for the caller to offer again.
    @discardableResult
    public func applyAuthority(
        owners: [VMID: Ownership],
        migrations: [MigrationRecord],
        nodeStates: [NodeName: NodeState],
        policies: [VMID: PlacementPolicy],
        classes: [String: Bool] = [:]
    ) throws(StoreError) -> AppliedAuthority {
        try translatingErrors {
            // At `synchronous=NORMAL`, the one write of this database that is not: etcd is the authority and has synced
            // the record already, and a coordinator copies etcd's whole state again when it starts (its copy point
            // lives in memory), so a copy lost with the power is copied again before it is read. Syncing each copy
            // was a sixth of the coordinator's CPU during an etcd failover (issue 27, docs/decisions.md).
            try writer.writeAtNormalSync { db in
                try Self.applyAuthority(
                    owners: owners,
                    migrations: migrations,
                    nodeStates: nodeStates,
                    policies: policies,
                    classes: classes,
                    in: db
                )
            }
        }
    }

    /// Copies one journal write etcd returned: its record, and its VM's owner and epoch when the write changed them.
    ///
    /// As `applyAuthority` does, but in a transaction shared with the copies other operations make meanwhile (a
    /// 1,250-VM failover copies 6,250 steps; 32 threads copying them one transaction each took 1.6 s of CPU, together
    /// 0.7 s; issue 27). At `synchronous=NORMAL`, for the reason given in `applyAuthority`.
    public func copyJournal(_ written: JournalCopy) throws(StoreError) {
        var owners: [VMID: Ownership] = [:]
        if let ownership = written.ownership { owners[written.record.vm] = ownership }
        let (record, copiedOwners) = (written.record, owners)
        try translatingErrors {
            try copies.write(writer) { db in
                _ = try Self.applyAuthority(
                    owners: copiedOwners,
                    migrations: [record],
                    nodeStates: [:],
                    policies: [:],
                    classes: [:],
                    in: db
                )
            }
        }
    }

    private static func applyAuthority(
        owners: [VMID: Ownership],
        migrations: [MigrationRecord],
        nodeStates: [NodeName: NodeState],
        policies: [VMID: PlacementPolicy],
        classes: [String: Bool],
        in db: Database
    ) throws -> AppliedAuthority {
        var applied = AppliedAuthority()
        // Only the VMs named here, looked up by id: a journal step's copy names one VM, and reading every id
        // of an 80,000-VM cluster inside the writer made each step of an etcd failover cost ~40 ms of it
        // (issue 27: a 1,250-VM failover did not finish in 150 s).
        let named = Set(owners.keys).union(migrations.map(\.vm)).union(policies.keys)
        let known = try Self.existingVMs(named, in: db)
        let nodes = try Self.existingNodes(Set(nodeStates.keys).union(owners.values.map(\.owner)), in: db)
        for vm in named where !known.contains(vm.rawValue) {
            applied.unknownVMs.insert(vm)
        }
        for node in Set(nodeStates.keys).union(owners.values.map(\.owner)) where !nodes.contains(node.rawValue) {
            applied.unknownNodes.insert(node)
        }
        var changed = 0
        for (vm, ownership) in owners
        where known.contains(vm.rawValue) && nodes.contains(ownership.owner.rawValue) {
            // Cached statements here and below: an etcd failover copies each of its thousands of journal steps.
            try db.cachedStatement(
                sql: """
                    UPDATE vm SET owner = ?, epoch = ?
                    WHERE id = ? AND epoch <= ? AND (owner <> ? OR epoch <> ?)
                    """
            ).execute(
                arguments: [
                    ownership.owner.rawValue, ownership.epoch.rawValue, vm.rawValue, ownership.epoch.rawValue,
                    ownership.owner.rawValue, ownership.epoch.rawValue,
                ]
            )
            changed += db.changesCount
        }
        for record in migrations where known.contains(record.vm.rawValue) {
            let local = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT state, (SELECT count(*) FROM migration_step WHERE migration_id = id), vm_id, epoch
                        FROM migration WHERE id = ?
                        """
                ),
                arguments: [record.id]
            )
            if let local, (local[0] as String) == record.state.rawValue, (local[1] as Int) == record.steps.count {
                continue
            }
            if let local, (local[2] as String) == record.vm.rawValue, (local[3] as Int64) == record.epoch.rawValue,
                (local[1] as Int) <= record.steps.count, try Self.advanceCopy(record, from: local[1], in: db)
            {
                changed += 1
                continue
            }
            try Self.replaceMigration(record, in: db)
            changed += 1
        }
        for (node, state) in nodeStates where nodes.contains(node.rawValue) {
            try db.cachedStatement(sql: "UPDATE node SET state = ? WHERE name = ? AND state <> ?").execute(
                arguments: [state.rawValue, node.rawValue, state.rawValue]
            )
            changed += db.changesCount
        }
        for (vm, policy) in policies where known.contains(vm.rawValue) {
            let local = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM placement_policy WHERE vm_id = ?"),
                arguments: [vm.rawValue]
            ).map(Self.policy(from:))
            guard local != policy else { continue }
            try Self.writePolicy(policy, for: vm, in: db)
            changed += 1
        }
        for (name, enforced) in classes {
            try db.execute(
                sql: """
                    INSERT INTO anti_affinity_class (name, enforced) VALUES (?, ?)
                    ON CONFLICT(name) DO UPDATE SET enforced = excluded.enforced WHERE enforced <> excluded.enforced
                    """,
                arguments: [name, enforced]
            )
            changed += db.changesCount
        }
        applied.changed = changed
        return applied
    }

    /// Brings a copied record one or more steps on, in place.
    ///
    /// Its columns are updated and the steps it does not hold yet appended, instead of the record and all its steps
    /// deleted and written again (each step of a failover is copied; issue 27). False, with nothing changed, when the
    /// state machine trigger refuses the jump (a replica that missed states) or a step is already held: the caller
    /// then replaces the record.
    static func advanceCopy(_ record: MigrationRecord, from held: Int, in db: Database) throws -> Bool {
        do {
            try db.inSavepoint {
                try db.cachedStatement(
                    sql: """
                        UPDATE migration SET state = ?, abort_reason = ?, reasons = ?, updated_at = ?, operation = ?
                        WHERE id = ?
                        """
                ).execute(
                    arguments: [
                        record.state.rawValue, record.abortReason, record.reasons, record.updatedAt.databaseValue,
                        record.operation, record.id,
                    ]
                )
                let step = try db.cachedStatement(
                    sql: "INSERT INTO migration_step (migration_id, seq, state, at, detail) VALUES (?, ?, ?, ?, ?)"
                )
                for (seq, entry) in record.steps.enumerated().dropFirst(held) {
                    try step.execute(
                        arguments: [record.id, seq, entry.state.rawValue, entry.at.databaseValue, entry.detail]
                    )
                }
                return .commit
            }
            return true
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            return false
        }
    }

    /// Replaces a journal record and its steps (the state machine trigger only guards steps taken here, not copies).
    static func replaceMigration(_ record: MigrationRecord, in db: Database) throws {
        try db.cachedStatement(sql: "DELETE FROM migration WHERE id = ? OR (vm_id = ? AND epoch = ?)").execute(
            arguments: [record.id, record.vm.rawValue, record.epoch.rawValue]
        )
        try db.cachedStatement(
            sql: """
                INSERT INTO migration (id, vm_id, kind, source, target, epoch, state, abort_reason, reasons,
                                       requested_by, created_at, updated_at, operation)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(
            arguments: [
                record.id, record.vm.rawValue, record.kind.rawValue, record.source.rawValue, record.target.rawValue,
                record.epoch.rawValue, record.state.rawValue, record.abortReason, record.reasons, record.requestedBy,
                record.createdAt.databaseValue, record.updatedAt.databaseValue, record.operation,
            ]
        )
        let step = try db.cachedStatement(
            sql: "INSERT INTO migration_step (migration_id, seq, state, at, detail) VALUES (?, ?, ?, ?, ?)"
        )
        for (seq, entry) in record.steps.enumerated() {
            try step.execute(arguments: [record.id, seq, entry.state.rawValue, entry.at.databaseValue, entry.detail])
        }
    }
}
