/// The read-only views `chainkeeper query` exposes (documented in docs/query.md).
///
/// Scripts depend on their names and columns: a view may gain columns in a later migration, never lose one.
enum Migration002QueryViews {
    static let identifier = "002-query-views"

    static let sql = """
        CREATE VIEW vms AS
        SELECT
            vm.id AS id,
            vm.name AS name,
            vm.owner AS owner,
            vm.epoch AS epoch,
            vm.state AS state,
            COALESCE(p.highly_available, vm.highly_available) AS highly_available,
            vm.memory_mib AS memory_mib,
            COALESCE(p.priority, 'medium') AS priority,
            p.anti_affinity_class AS anti_affinity_class,
            (SELECT count(*) FROM checkpoint c WHERE c.vm_id = vm.id) AS checkpoints,
            (SELECT count(*) FROM file f WHERE f.vm_id = vm.id) AS files,
            strftime('%Y-%m-%dT%H:%M:%SZ', vm.inventory_at / 1000, 'unixepoch') AS inventory_at
        FROM vm LEFT JOIN placement_policy p ON p.vm_id = vm.id;

        CREATE VIEW checkpoints AS
        SELECT
            c.vm_id AS vm_id,
            vm.name AS vm_name,
            c.id AS id,
            c.name AS name,
            c.parent_id AS parent_id,
            strftime('%Y-%m-%dT%H:%M:%SZ', c.created_at / 1000, 'unixepoch') AS created_at
        FROM checkpoint c JOIN vm ON vm.id = c.vm_id;

        CREATE VIEW files AS
        SELECT
            f.vm_id AS vm_id,
            vm.name AS vm_name,
            f.checkpoint_id AS checkpoint_id,
            f.kind AS kind,
            f.path AS path,
            f.volume_id AS volume_id,
            v.name AS volume_name,
            f.relative_path AS relative_path,
            f.node AS local_node,
            f.format AS format,
            f.size AS size,
            f.identifier AS identifier,
            parent.path AS parent_path,
            f.problem AS problem,
            f.problem_detail AS problem_detail
        FROM file f
        JOIN vm ON vm.id = f.vm_id
        LEFT JOIN volume v ON v.id = f.volume_id
        LEFT JOIN disk_chain_link l ON l.child_file_id = f.id
        LEFT JOIN file parent ON parent.id = l.parent_file_id;

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

        CREATE VIEW volumes AS
        SELECT
            v.id AS id,
            v.name AS name,
            (SELECT count(*) FROM volume_mount m WHERE m.volume_id = v.id) AS node_count
        FROM volume v;

        CREATE VIEW reachability AS
        SELECT
            m.volume_id AS volume_id,
            v.name AS volume_name,
            m.node AS node,
            m.mount_path AS mount_path,
            m.fs_type AS fs_type,
            m.read_only AS read_only,
            m.free_bytes AS free_bytes,
            strftime('%Y-%m-%dT%H:%M:%SZ', m.last_probe_at / 1000, 'unixepoch') AS last_probe_at
        FROM volume_mount m JOIN volume v ON v.id = m.volume_id;

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
            strftime('%Y-%m-%dT%H:%M:%SZ', m.updated_at / 1000, 'unixepoch') AS updated_at
        FROM migration m JOIN vm ON vm.id = m.vm_id;
        """
}
