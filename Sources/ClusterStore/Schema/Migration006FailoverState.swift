/// What failover must remember across coordinator restarts (SPEC §5-6).
///
/// - `failover_block`: VMs left on a failed node, with why no target passed; `vm clear` deletes the row.
/// - `vm.failover_cleared_at`: failovers before it no longer count against the VM's threshold.
/// - `node_event`-style history goes to the existing `event` table.
/// - The `failover_blocked` view documents the table for `chainkeeper query`.
enum Migration006FailoverState {
    static let identifier = "006-failover-state"

    static let sql = """
        CREATE TABLE failover_block (
            vm_id TEXT PRIMARY KEY NOT NULL REFERENCES vm(id) ON DELETE CASCADE,
            node TEXT NOT NULL,
            summary TEXT NOT NULL,
            reasons TEXT NOT NULL CHECK (json_valid(reasons)),
            blocked_at INTEGER NOT NULL
        ) STRICT;

        ALTER TABLE vm ADD COLUMN failover_cleared_at INTEGER;

        CREATE INDEX migration_failovers ON migration(vm_id, updated_at) WHERE kind = 'failover' AND state = 'committed';

        CREATE VIEW failover_blocked AS
            SELECT v.name AS vm, b.vm_id AS vm_id, b.node AS node, b.summary AS summary, b.reasons AS reasons,
                   datetime(b.blocked_at / 1000, 'unixepoch') AS blocked_at
            FROM failover_block b JOIN vm v ON v.id = b.vm_id;
        """
}
