import ChainModel
import Foundation
import GRDB
import Synchronization

extension ClusterStore {
    /// Journals a new migration at `planned`, reserving the VM's next epoch: one above both its current epoch and
    /// every epoch an earlier migration of it used, whether that committed or aborted.
    ///
    /// Refused with `conflict` if another migration of the VM is under way, and with `conflict` if the VM is no longer
    /// owned by `source` (it moved since the caller looked).
    public func planMigration(
        vm: VMID,
        source: NodeName,
        target: NodeName,
        kind: MigrationRecord.Kind,
        requestedBy: String,
        operation: String? = nil,
        at now: Timestamp,
        term: LeaderTerm? = nil
    ) throws(StoreError) -> MigrationRecord {
        let id = UUID().uuidString.lowercased()
        let planned = Mutex<(name: String, epoch: Int64)?>(nil)
        try translatingErrors {
            try journal.write(writer) { db in
                try Self.requireLeader(term, in: db)
                guard
                    let row = try Row.fetchOne(
                        db.cachedStatement(sql: "SELECT owner, epoch, name FROM vm WHERE id = ?"),
                        arguments: [vm.rawValue]
                    )
                else { throw StoreError(.danglingReference, "the cluster does not know VM \(vm.rawValue)") }
                guard (row["owner"] as String) == source.rawValue else {
                    throw StoreError(.conflict, "the VM is owned by \(row["owner"] as String), not \(source.rawValue)")
                }
                let used =
                    try Int64.fetchOne(
                        db.cachedStatement(sql: "SELECT max(epoch) FROM migration WHERE vm_id = ?"),
                        arguments: [vm.rawValue]
                    )
                    ?? 0
                guard let epoch = Epoch(max(row["epoch"] as Int64, used)).next?.rawValue else {
                    throw StoreError.epochExhausted(vm)
                }
                try db.cachedStatement(
                    sql: """
                        INSERT INTO migration (id, vm_id, kind, source, target, epoch, state, requested_by, created_at,
                                               updated_at, operation)
                        VALUES (?, ?, ?, ?, ?, ?, 'planned', ?, ?, ?, ?)
                        """
                ).execute(
                    arguments: [
                        id, vm.rawValue, kind.rawValue, source.rawValue, target.rawValue, epoch, requestedBy,
                        now.databaseValue, now.databaseValue, operation,
                    ]
                )
                try Self.addStep(id, .planned, detail: Self.plannedDetail(epoch), at: now, in: db)
                planned.withLock { $0 = (row["name"], epoch) }
            }
        }
        // The record as written, not read back: a failover plans hundreds a second (issue 27).
        guard let (name, epoch) = planned.withLock({ $0 }) else {
            throw StoreError(.unavailable, "the planned migration vanished")
        }
        return MigrationRecord(
            id: id,
            vm: vm,
            vmName: name,
            kind: kind,
            source: source,
            target: target,
            epoch: Epoch(epoch),
            state: .planned,
            requestedBy: requestedBy,
            operation: operation,
            createdAt: now,
            updatedAt: now,
            steps: [MigrationRecord.Step(state: .planned, at: now, detail: Self.plannedDetail(epoch))]
        )
    }

    /// The detail of a plan's first step.
    static func plannedDetail(_ epoch: Int64) -> String { "epoch \(epoch) reserved" }

    /// Moves a migration one step along the state machine (the database refuses any other move), with a step row.
    public func advanceMigration(
        _ id: String,
        to state: MigrationRecord.State,
        detail: String?,
        at now: Timestamp,
        term: LeaderTerm? = nil
    ) throws(StoreError) {
        precondition(state != .committed && state != .aborted, "commit and abort have their own methods")
        try translatingErrors {
            try journal.write(writer) { db in
                try Self.requireLeader(term, in: db)
                guard
                    let held = try Row.fetchOne(
                        db.cachedStatement(sql: "SELECT state, kind FROM migration WHERE id = ?"),
                        arguments: [id]
                    )
                else {
                    throw StoreError(.danglingReference, "no migration \(id)")
                }
                let from: String = held[0]
                guard let kind = MigrationRecord.Kind(rawValue: held[1]),
                    MigrationRecord.State(rawValue: from)?.canMove(to: state, kind: kind) == true
                else {
                    throw StoreError(.invalidTransition, "migration \(id) cannot go from \(from) to \(state.rawValue)")
                }
                try db.cachedStatement(sql: "UPDATE migration SET state = ?, updated_at = ? WHERE id = ?").execute(
                    arguments: [state.rawValue, now.databaseValue, id]
                )
                try Self.addStep(id, state, detail: detail, at: now, in: db)
            }
        }
    }

    /// Ends a migration as aborted with a reason (and the preflight's reasons, as JSON); the owner is untouched.
    ///
    /// `adoptedBack` says the source adopted the VM again at the migration's epoch (after a failed adopt): the VM's
    /// epoch then becomes the migration's, as the source's agent now holds it.
    public func abortMigration(
        _ id: String,
        reason: String,
        reasons: String?,
        adoptedBack: Bool = false,
        at now: Timestamp,
        term: LeaderTerm? = nil
    ) throws(StoreError) {
        try translatingErrors {
            try journal.write(writer) { db in
                try Self.requireLeader(term, in: db)
                if adoptedBack {
                    try db.execute(
                        sql: """
                            UPDATE vm SET epoch = (SELECT epoch FROM migration WHERE id = ?)
                            WHERE id = (SELECT vm_id FROM migration WHERE id = ?)
                              AND owner = (SELECT source FROM migration WHERE id = ?)
                              AND epoch < (SELECT epoch FROM migration WHERE id = ?)
                            """,
                        arguments: [id, id, id, id]
                    )
                }
                try db.execute(
                    sql: """
                        UPDATE migration SET state = 'aborted', abort_reason = ?, reasons = ?, updated_at = ?
                        WHERE id = ?
                        """,
                    arguments: [reason, reasons, now.databaseValue, id]
                )
                try Self.addStep(id, .aborted, detail: reason, at: now, in: db)
            }
        }
    }

    /// Commits ownership in one transaction.
    ///
    /// The VM's owner becomes the target and its epoch the migration's, and the journal says committed: at every
    /// moment the VM has exactly one owner in the database.
    public func commitMigration(_ id: String, at now: Timestamp, term: LeaderTerm? = nil) throws(StoreError) {
        try translatingErrors {
            try journal.write(writer) { db in
                try Self.requireLeader(term, in: db)
                guard
                    let row = try Row.fetchOne(
                        db,
                        sql: "SELECT vm_id, target, epoch FROM migration WHERE id = ?",
                        arguments: [id]
                    )
                else { throw StoreError(.danglingReference, "no migration \(id)") }
                try db.execute(
                    sql: "UPDATE vm SET owner = ?, epoch = ? WHERE id = ?",
                    arguments: [row["target"] as String, row["epoch"] as Int64, row["vm_id"] as String]
                )
                // The old owner's inventory no longer describes the VM's home; the target's next report will.
                try db.execute(
                    sql: "DELETE FROM vm_listing WHERE vm_id = ? AND node <> ?",
                    arguments: [row["vm_id"] as String, row["target"] as String]
                )
                try db.execute(
                    sql: "UPDATE migration SET state = 'committed', updated_at = ? WHERE id = ?",
                    arguments: [now.databaseValue, id]
                )
                try Self.addStep(
                    id,
                    .committed,
                    detail: "owner \(row["target"] as String), epoch \(row["epoch"] as Int64)",
                    at: now,
                    in: db
                )
            }
        }
    }

    public func migration(id: String) throws(StoreError) -> MigrationRecord? {
        try migrations(where: "m.id = ?", [id]).first
    }

    /// Migrations neither committed nor aborted (what recovery must finish).
    public func activeMigrations() throws(StoreError) -> [MigrationRecord] {
        try migrations(where: "m.state NOT IN ('committed', 'aborted')", [])
    }

    /// History, newest first; for one VM when `vm` is given.
    public func history(vm: VMID? = nil, limit: Int = 500) throws(StoreError) -> [MigrationRecord] {
        if let vm { return try migrations(where: "m.vm_id = ?", [vm.rawValue], limit: limit) }
        return try migrations(where: "1", [], limit: limit)
    }

    private func migrations(
        where condition: String,
        _ arguments: [String],
        limit: Int = 10_000
    ) throws(StoreError) -> [MigrationRecord] {
        try translatingErrors {
            try writer.read { db in
                let rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT m.*, v.name AS vm_name FROM migration m JOIN vm v ON v.id = m.vm_id
                        WHERE \(condition) ORDER BY m.created_at DESC, m.rowid DESC LIMIT \(limit)
                        """,
                    arguments: StatementArguments(arguments)
                )
                return try rows.map { row in
                    let id: String = row["id"]
                    let steps = try Row.fetchAll(
                        db,
                        sql: "SELECT state, at, detail FROM migration_step WHERE migration_id = ? ORDER BY seq",
                        arguments: [id]
                    ).map { step in
                        MigrationRecord.Step(
                            state: MigrationRecord.State(rawValue: step["state"]) ?? .aborted,
                            at: Timestamp(millisecondsSinceEpoch: step["at"]),
                            detail: step["detail"]
                        )
                    }
                    return MigrationRecord(
                        id: id,
                        vm: VMID(row["vm_id"] as String),
                        vmName: row["vm_name"],
                        kind: MigrationRecord.Kind(rawValue: row["kind"]) ?? .migration,
                        source: NodeName(row["source"] as String),
                        target: NodeName(row["target"] as String),
                        epoch: Epoch(row["epoch"] as Int64),
                        state: MigrationRecord.State(rawValue: row["state"]) ?? .aborted,
                        abortReason: row["abort_reason"],
                        reasons: row["reasons"],
                        requestedBy: row["requested_by"],
                        operation: row["operation"],
                        createdAt: Timestamp(millisecondsSinceEpoch: row["created_at"]),
                        updatedAt: Timestamp(millisecondsSinceEpoch: row["updated_at"]),
                        steps: steps
                    )
                }
            }
        }
    }

    static func addStep(
        _ id: String,
        _ state: MigrationRecord.State,
        detail: String?,
        at now: Timestamp,
        in db: Database
    )
        throws
    {
        try db.cachedStatement(
            sql: """
                INSERT INTO migration_step (migration_id, seq, state, at, detail)
                VALUES (?, (SELECT count(*) FROM migration_step WHERE migration_id = ?), ?, ?, ?)
                """
        ).execute(arguments: [id, id, state.rawValue, now.databaseValue, detail])
    }
}
