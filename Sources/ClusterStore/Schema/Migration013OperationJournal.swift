/// Checkpoint and repair operations share the migration journal (issue 24, SPEC §7: one operation per VM at a time,
/// epochs, crash recovery).
///
/// SQLite cannot change a CHECK constraint in place, so `migration` and `migration_step` are rebuilt (the copy keeps
/// every row) with: the operation kinds, source equal to target for them (the owner), the states `applying` and
/// `applied`, and `operation`, the JSON of what the operation does. The `migrations` view gains `operation`; the
/// indexes and the state-machine trigger are recreated, the trigger with separate steps for moves and operations.
enum Migration013OperationJournal {
    static let identifier = "013-operation-journal"

    static let sql = """
        DROP VIEW migrations;
        CREATE TABLE migration_new (
            id TEXT PRIMARY KEY NOT NULL CHECK (length(id) > 0),
            vm_id TEXT NOT NULL REFERENCES vm(id),
            kind TEXT NOT NULL CHECK (kind IN ('migration', 'failover', 'drain', 'checkpoint-create',
                                                'checkpoint-delete', 'checkpoint-revert', 'repair')),
            source TEXT NOT NULL,
            target TEXT NOT NULL,
            epoch INTEGER NOT NULL CHECK (epoch >= 2),
            state TEXT NOT NULL CHECK (
                state IN ('planned', 'preflight', 'source-released', 'target-adopted', 'applying', 'applied',
                          'committed', 'aborted')
            ),
            abort_reason TEXT,
            reasons TEXT CHECK (reasons IS NULL OR json_valid(reasons)),
            requested_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            operation TEXT CHECK (operation IS NULL OR (json_valid(operation) AND length(operation) <= 65536)),
            CHECK ((kind IN ('migration', 'failover', 'drain') AND source <> target AND operation IS NULL)
                OR (kind NOT IN ('migration', 'failover', 'drain') AND source = target AND operation IS NOT NULL)),
            CHECK (state <> 'aborted' OR abort_reason IS NOT NULL)
        ) STRICT;
        INSERT INTO migration_new (id, vm_id, kind, source, target, epoch, state, abort_reason, reasons, requested_by,
                                   created_at, updated_at)
            SELECT id, vm_id, kind, source, target, epoch, state, abort_reason, reasons, requested_by, created_at,
                   updated_at
            FROM migration;
        CREATE TABLE migration_step_new (
            migration_id TEXT NOT NULL REFERENCES migration_new(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL CHECK (seq >= 0),
            state TEXT NOT NULL CHECK (
                state IN ('planned', 'preflight', 'source-released', 'target-adopted', 'applying', 'applied',
                          'committed', 'aborted')
            ),
            at INTEGER NOT NULL,
            detail TEXT,
            PRIMARY KEY (migration_id, seq)
        ) STRICT;
        INSERT INTO migration_step_new SELECT migration_id, seq, state, at, detail FROM migration_step;
        DROP TABLE migration_step;
        DROP TABLE migration;
        ALTER TABLE migration_new RENAME TO migration;
        ALTER TABLE migration_step_new RENAME TO migration_step;
        CREATE UNIQUE INDEX migration_one_active_per_vm ON migration(vm_id)
            WHERE state NOT IN ('committed', 'aborted');
        CREATE UNIQUE INDEX migration_epoch_used_once ON migration(vm_id, epoch);
        CREATE INDEX migration_created ON migration(created_at);
        CREATE INDEX migration_vm ON migration(vm_id);
        CREATE INDEX migration_failovers ON migration(vm_id, updated_at) WHERE kind = 'failover' AND state = 'committed';
        CREATE TRIGGER migration_state_machine BEFORE UPDATE OF state ON migration
        WHEN NEW.state <> OLD.state AND NOT (
            (OLD.state = 'planned' AND NEW.state IN ('preflight', 'aborted'))
            OR (OLD.kind IN ('migration', 'failover', 'drain') AND (
                (OLD.state = 'preflight' AND NEW.state IN ('source-released', 'target-adopted', 'aborted'))
                OR (OLD.state = 'source-released' AND NEW.state IN ('target-adopted', 'aborted'))
                OR (OLD.state = 'target-adopted' AND NEW.state = 'committed')))
            OR (OLD.kind NOT IN ('migration', 'failover', 'drain') AND (
                (OLD.state = 'preflight' AND NEW.state IN ('applying', 'aborted'))
                OR (OLD.state = 'applying' AND NEW.state IN ('applied', 'aborted'))
                OR (OLD.state = 'applied' AND NEW.state = 'committed')))
        )
        BEGIN
            SELECT RAISE(ABORT, 'migration-transition: not a step of the migration state machine');
        END;
        CREATE VIEW migrations AS
        SELECT
            m.id AS id,
            m.vm_id AS vm_id,
            vm.name AS vm_name,
            m.kind AS kind,
            m.source AS source,
            m.target AS target,
            m.epoch AS epoch,
            m.state AS state,
            m.abort_reason AS abort_reason,
            m.requested_by AS requested_by,
            strftime('%Y-%m-%dT%H:%M:%SZ', m.created_at / 1000, 'unixepoch') AS created_at,
            strftime('%Y-%m-%dT%H:%M:%SZ', m.updated_at / 1000, 'unixepoch') AS updated_at,
            m.operation AS operation
        FROM migration m JOIN vm ON vm.id = m.vm_id;
        """
}
