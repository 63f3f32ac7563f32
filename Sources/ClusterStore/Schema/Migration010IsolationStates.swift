/// Two node states for isolation (issue 22, SPEC §6).
///
/// `isolated`: its lease ran out, its storage heartbeat did not; `quarantined`: it flapped. SQLite cannot change a CHECK constraint, so the table is rebuilt with the same columns and
/// rows; the view over it is dropped and made again around the rebuild.
enum Migration010IsolationStates {
    static let identifier = "010-isolation-states"

    static let sql = """
        DROP VIEW nodes;

        CREATE TABLE node_new (
            name TEXT PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 253),
            state TEXT NOT NULL DEFAULT 'up'
                CHECK (state IN ('up', 'down', 'fenced', 'draining', 'isolated', 'quarantined')),
            driver TEXT CHECK (driver IN ('hyperv-json', 'libvirt')),
            memory_mib INTEGER CHECK (memory_mib >= 0),
            registered_at INTEGER NOT NULL,
            last_heartbeat_at INTEGER,
            last_inventory_at INTEGER,
            lease_expires_at INTEGER
        ) STRICT;

        INSERT INTO node_new (
            name, state, driver, memory_mib, registered_at, last_heartbeat_at, last_inventory_at, lease_expires_at
        )
        SELECT name, state, driver, memory_mib, registered_at, last_heartbeat_at, last_inventory_at, lease_expires_at
        FROM node;

        DROP TABLE node;

        ALTER TABLE node_new RENAME TO node;

        CREATE VIEW nodes AS
        SELECT
            n.name AS name,
            n.state AS state,
            n.driver AS driver,
            n.memory_mib AS memory_mib,
            (SELECT COALESCE(sum(vm.memory_mib), 0) FROM vm
                WHERE vm.owner = n.name AND vm.state IN ('Running', 'Paused')) AS memory_used_mib,
            (SELECT count(*) FROM vm WHERE vm.owner = n.name) AS vm_count,
            strftime('%Y-%m-%dT%H:%M:%SZ', n.last_heartbeat_at / 1000, 'unixepoch') AS last_heartbeat_at,
            strftime('%Y-%m-%dT%H:%M:%SZ', n.last_inventory_at / 1000, 'unixepoch') AS last_inventory_at,
            strftime('%Y-%m-%dT%H:%M:%SZ', n.lease_expires_at / 1000, 'unixepoch') AS lease_expires_at
        FROM node n;
        """
}
