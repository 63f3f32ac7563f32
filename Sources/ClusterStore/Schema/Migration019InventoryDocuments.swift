/// A VM's checkpoints, files and chains as one JSON document per VM (issue 27).
///
/// A node's first 1,000-VM report wrote about 85,000 rows (16 checkpoints, 51 files, their chains and chain links
/// per VM) and four or five index entries per file, and that SQLite work was the critical path of the report: 0.55 s
/// against 0.11 s for one document per VM and its disks' rows, measured on the same 8,000-VM database. Nothing reads
/// one file of a VM without the others, so nothing is lost by keeping them together.
///
/// - `vm_inventory.body` (checked to be JSON on every write):
///   `{"checkpoints": [[id, name, parent id, created ms]…], "files": [[volume id, relative path, node, path, kind,
///   format, size, identifier, checkpoint id, problem, problem detail, parent index]…], "chains": [[checkpoint id,
///   leaf index]…]}`. A file is either on a volume (volume id and relative path) or on a node; `parent index` is the
///   position in `files` of the next disk towards the base of its chain; checkpoints are in the byte order of their
///   ids.
/// - `vm_disk`: each disk a VM has on a shared volume, so that a disk found on a volume is matched to its VM with one
///   index lookup (`ClusterStore.auditInputs`).
/// - `vm.disks_digest` (was `inventory_shape`): the digest of a VM's `vm_disk` rows; equal digests need no rewrite.
///
/// The query views `vms`, `checkpoints` and `files` keep their names and columns (docs/query.md) and read the
/// documents with SQLite's JSON functions.
enum Migration019InventoryDocuments {
    static let identifier = "019-inventory-documents"

    static let sql = """
        CREATE TABLE vm_inventory (
            vm_id TEXT PRIMARY KEY NOT NULL REFERENCES vm(id) ON DELETE CASCADE,
            body TEXT NOT NULL CHECK (json_valid(body))
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE vm_disk (
            volume_id TEXT NOT NULL,
            relative_path TEXT NOT NULL,
            vm_id TEXT NOT NULL REFERENCES vm(id) ON DELETE CASCADE,
            PRIMARY KEY (volume_id, relative_path, vm_id)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX vm_disk_vm ON vm_disk(vm_id);

        INSERT INTO vm_inventory (vm_id, body)
        SELECT v.id, json_object(
            'checkpoints', json((
                SELECT json_group_array(json_array(c.id, c.name, c.parent_id, c.created_at))
                FROM (SELECT * FROM checkpoint WHERE vm_id = v.id ORDER BY id) c
            )),
            'files', json((
                SELECT json_group_array(json_array(
                    f.volume_id, f.relative_path, f.node, f.path, f.kind, f.format, f.size, f.identifier,
                    f.checkpoint_id, f.problem, f.problem_detail,
                    CASE WHEN f.parent_file_id IS NULL THEN NULL ELSE (
                        SELECT count(*) FROM file p WHERE p.vm_id = f.vm_id AND p.id < f.parent_file_id
                    ) END
                ))
                FROM (
                    SELECT file.*, l.parent_file_id FROM file
                    LEFT JOIN disk_chain_link l ON l.child_file_id = file.id
                    WHERE file.vm_id = v.id ORDER BY file.id
                ) f
            )),
            'chains', json((
                SELECT json_group_array(json_array(
                    d.checkpoint_id, (SELECT count(*) FROM file p WHERE p.vm_id = d.vm_id AND p.id < d.leaf_file_id)
                ))
                FROM (SELECT * FROM disk_chain WHERE vm_id = v.id ORDER BY position) d
            ))
        )
        FROM vm v;

        INSERT OR IGNORE INTO vm_disk (volume_id, relative_path, vm_id)
        SELECT volume_id, relative_path, vm_id FROM file WHERE kind = 'disk' AND volume_id IS NOT NULL;

        DROP VIEW vms;
        DROP VIEW checkpoints;
        DROP VIEW files;
        DROP TABLE disk_chain_link;
        DROP TABLE disk_chain;
        DROP TABLE file;
        DROP TABLE checkpoint;

        ALTER TABLE vm RENAME COLUMN inventory_shape TO disks_digest;
        UPDATE vm SET disks_digest = NULL;

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
            COALESCE((SELECT json_array_length(i.body, '$.checkpoints') FROM vm_inventory i WHERE i.vm_id = vm.id), 0)
                AS checkpoints,
            COALESCE((SELECT json_array_length(i.body, '$.files') FROM vm_inventory i WHERE i.vm_id = vm.id), 0)
                AS files,
            strftime('%Y-%m-%dT%H:%M:%SZ', vm.inventory_at / 1000, 'unixepoch') AS inventory_at
        FROM vm LEFT JOIN placement_policy p ON p.vm_id = vm.id;

        CREATE VIEW checkpoints AS
        SELECT
            i.vm_id AS vm_id,
            vm.name AS vm_name,
            c.value ->> 0 AS id,
            c.value ->> 1 AS name,
            c.value ->> 2 AS parent_id,
            strftime('%Y-%m-%dT%H:%M:%SZ', (c.value ->> 3) / 1000, 'unixepoch') AS created_at
        FROM vm_inventory i JOIN vm ON vm.id = i.vm_id JOIN json_each(i.body, '$.checkpoints') c;

        CREATE VIEW files AS
        SELECT
            i.vm_id AS vm_id,
            vm.name AS vm_name,
            f.value ->> 8 AS checkpoint_id,
            f.value ->> 4 AS kind,
            f.value ->> 3 AS path,
            f.value ->> 0 AS volume_id,
            v.name AS volume_name,
            f.value ->> 1 AS relative_path,
            f.value ->> 2 AS local_node,
            f.value ->> 5 AS format,
            f.value ->> 6 AS size,
            f.value ->> 7 AS identifier,
            i.body ->> ('$.files[' || (f.value ->> 11) || '][3]') AS parent_path,
            f.value ->> 9 AS problem,
            f.value ->> 10 AS problem_detail
        FROM vm_inventory i
        JOIN vm ON vm.id = i.vm_id
        JOIN json_each(i.body, '$.files') f
        LEFT JOIN volume v ON v.id = f.value ->> 0;
        """
}
