/// The first cluster schema.
///
/// Shipped migrations are never edited: a change is a new migration.
///
/// Times are integers, milliseconds since the Unix epoch. Every table is STRICT, and the rules the
/// Swift code also enforces (one active migration per VM, epochs that only grow, a checkpoint tree
/// without cycles, the migration state machine) are enforced here too, so the data stays consistent
/// however wrong a caller gets.
enum Migration001ClusterSchema {
    static let identifier = "001-cluster-schema"

    static let sql = """
        CREATE TABLE node (
            name TEXT PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 253),
            state TEXT NOT NULL DEFAULT 'up' CHECK (state IN ('up', 'down', 'fenced', 'draining')),
            driver TEXT CHECK (driver IN ('hyperv-json', 'libvirt')),
            memory_mib INTEGER CHECK (memory_mib >= 0),
            registered_at INTEGER NOT NULL,
            last_heartbeat_at INTEGER,
            last_inventory_at INTEGER,
            lease_expires_at INTEGER
        ) STRICT;

        CREATE TABLE volume (
            id TEXT PRIMARY KEY NOT NULL CHECK (length(id) > 0),
            name TEXT NOT NULL,
            first_seen_at INTEGER NOT NULL
        ) STRICT;

        CREATE TABLE volume_mount (
            volume_id TEXT NOT NULL REFERENCES volume(id) ON DELETE CASCADE,
            node TEXT NOT NULL REFERENCES node(name) ON DELETE CASCADE,
            mount_path TEXT NOT NULL,
            fs_type TEXT,
            read_only INTEGER NOT NULL DEFAULT 0 CHECK (read_only IN (0, 1)),
            free_bytes INTEGER CHECK (free_bytes >= 0),
            reported_at INTEGER NOT NULL,
            last_probe_at INTEGER,
            PRIMARY KEY (volume_id, node)
        ) STRICT;
        CREATE INDEX volume_mount_node ON volume_mount(node);

        CREATE TABLE vm (
            id TEXT PRIMARY KEY NOT NULL CHECK (length(id) > 0),
            name TEXT NOT NULL,
            owner TEXT NOT NULL REFERENCES node(name),
            epoch INTEGER NOT NULL CHECK (epoch >= 1),
            state TEXT NOT NULL CHECK (state IN ('Running', 'Off', 'Saved', 'Paused')),
            highly_available INTEGER NOT NULL CHECK (highly_available IN (0, 1)),
            memory_mib INTEGER NOT NULL DEFAULT 0 CHECK (memory_mib >= 0),
            registered_at INTEGER NOT NULL,
            inventory_at INTEGER
        ) STRICT;
        CREATE INDEX vm_owner ON vm(owner);
        CREATE INDEX vm_name ON vm(name);
        CREATE TRIGGER vm_epoch_only_grows BEFORE UPDATE OF epoch ON vm
        WHEN NEW.epoch < OLD.epoch
        BEGIN
            SELECT RAISE(ABORT, 'epoch-decrease: a VM''s epoch only grows');
        END;

        -- Which nodes list a VM in their inventory; a non-owner here is `registered-on-non-owner`.
        CREATE TABLE vm_listing (
            vm_id TEXT NOT NULL REFERENCES vm(id) ON DELETE CASCADE,
            node TEXT NOT NULL REFERENCES node(name) ON DELETE CASCADE,
            reported_at INTEGER NOT NULL,
            PRIMARY KEY (vm_id, node)
        ) STRICT;

        CREATE TABLE checkpoint (
            vm_id TEXT NOT NULL REFERENCES vm(id) ON DELETE CASCADE,
            id TEXT NOT NULL CHECK (length(id) > 0),
            name TEXT NOT NULL,
            parent_id TEXT CHECK (parent_id IS NULL OR parent_id <> id),
            created_at INTEGER,
            PRIMARY KEY (vm_id, id),
            FOREIGN KEY (vm_id, parent_id) REFERENCES checkpoint(vm_id, id)
        ) STRICT;
        CREATE INDEX checkpoint_parent ON checkpoint(vm_id, parent_id);
        CREATE TRIGGER checkpoint_no_cycle_on_insert BEFORE INSERT ON checkpoint
        WHEN NEW.parent_id IS NOT NULL
        BEGIN
            SELECT RAISE(ABORT, 'checkpoint-cycle: a checkpoint cannot be its own ancestor')
            WHERE NEW.id IN (
                WITH RECURSIVE ancestor(id) AS (
                    SELECT NEW.parent_id
                    UNION
                    SELECT c.parent_id FROM checkpoint c JOIN ancestor a ON c.id = a.id
                    WHERE c.vm_id = NEW.vm_id AND c.parent_id IS NOT NULL
                )
                SELECT id FROM ancestor
            );
        END;
        CREATE TRIGGER checkpoint_no_cycle_on_update BEFORE UPDATE OF parent_id, id ON checkpoint
        WHEN NEW.parent_id IS NOT NULL
        BEGIN
            SELECT RAISE(ABORT, 'checkpoint-cycle: a checkpoint cannot be its own ancestor')
            WHERE NEW.id IN (
                WITH RECURSIVE ancestor(id) AS (
                    SELECT NEW.parent_id
                    UNION
                    SELECT c.parent_id FROM checkpoint c JOIN ancestor a ON c.id = a.id
                    WHERE c.vm_id = NEW.vm_id AND c.parent_id IS NOT NULL
                )
                SELECT id FROM ancestor
            );
        END;

        CREATE TABLE file (
            id INTEGER PRIMARY KEY,
            vm_id TEXT NOT NULL REFERENCES vm(id) ON DELETE CASCADE,
            volume_id TEXT REFERENCES volume(id),
            relative_path TEXT,
            node TEXT REFERENCES node(name),
            path TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (
                kind IN ('configuration', 'runtime-state', 'guest-state', 'saved-state', 'memory', 'disk')
            ),
            format TEXT CHECK (format IN ('vhdx', 'vhd', 'qcow2', 'raw')),
            size INTEGER NOT NULL DEFAULT 0 CHECK (size >= 0),
            identifier TEXT,
            checkpoint_id TEXT,
            problem TEXT CHECK (problem IN ('file-missing', 'chain-broken', 'disk-needs-log-replay')),
            problem_detail TEXT,
            CHECK (
                (volume_id IS NOT NULL AND relative_path IS NOT NULL AND node IS NULL)
                OR (volume_id IS NULL AND relative_path IS NULL AND node IS NOT NULL)
            ),
            FOREIGN KEY (vm_id, checkpoint_id) REFERENCES checkpoint(vm_id, id)
        ) STRICT;
        CREATE UNIQUE INDEX file_on_volume ON file(vm_id, volume_id, relative_path) WHERE volume_id IS NOT NULL;
        CREATE UNIQUE INDEX file_on_node ON file(vm_id, node, path) WHERE node IS NOT NULL;
        CREATE INDEX file_volume_path ON file(volume_id, relative_path);
        CREATE INDEX file_checkpoint ON file(vm_id, checkpoint_id);

        -- A disk chain, leaf to base, is the list of disks an inventory names plus these links.
        CREATE TABLE disk_chain_link (
            child_file_id INTEGER PRIMARY KEY REFERENCES file(id) ON DELETE CASCADE,
            parent_file_id INTEGER NOT NULL REFERENCES file(id) ON DELETE CASCADE,
            CHECK (child_file_id <> parent_file_id)
        ) STRICT;
        CREATE INDEX disk_chain_link_parent ON disk_chain_link(parent_file_id);

        CREATE TABLE disk_chain (
            id INTEGER PRIMARY KEY,
            vm_id TEXT NOT NULL REFERENCES vm(id) ON DELETE CASCADE,
            checkpoint_id TEXT,
            position INTEGER NOT NULL CHECK (position >= 0),
            leaf_file_id INTEGER NOT NULL REFERENCES file(id) ON DELETE CASCADE,
            FOREIGN KEY (vm_id, checkpoint_id) REFERENCES checkpoint(vm_id, id)
        ) STRICT;
        CREATE INDEX disk_chain_vm ON disk_chain(vm_id, checkpoint_id, position);

        CREATE TABLE anti_affinity_class (
            name TEXT PRIMARY KEY NOT NULL CHECK (length(name) > 0),
            enforced INTEGER NOT NULL DEFAULT 0 CHECK (enforced IN (0, 1))
        ) STRICT;

        CREATE TABLE placement_policy (
            vm_id TEXT PRIMARY KEY NOT NULL REFERENCES vm(id) ON DELETE CASCADE,
            highly_available INTEGER CHECK (highly_available IN (0, 1)),
            possible_owners TEXT NOT NULL DEFAULT '[]'
                CHECK (json_valid(possible_owners) AND json_type(possible_owners) = 'array'),
            preferred_owners TEXT NOT NULL DEFAULT '[]'
                CHECK (json_valid(preferred_owners) AND json_type(preferred_owners) = 'array'),
            anti_affinity_class TEXT REFERENCES anti_affinity_class(name),
            priority TEXT NOT NULL DEFAULT 'medium' CHECK (priority IN ('high', 'medium', 'low', 'none')),
            max_failovers INTEGER NOT NULL DEFAULT 3 CHECK (max_failovers >= 0),
            failover_period_ms INTEGER NOT NULL DEFAULT 21600000 CHECK (failover_period_ms > 0)
        ) STRICT;

        -- The migration journal (SPEC §6). Each step is written before it is acted on.
        CREATE TABLE migration (
            id TEXT PRIMARY KEY NOT NULL CHECK (length(id) > 0),
            vm_id TEXT NOT NULL REFERENCES vm(id),
            kind TEXT NOT NULL CHECK (kind IN ('migration', 'failover', 'drain')),
            source TEXT NOT NULL,
            target TEXT NOT NULL,
            epoch INTEGER NOT NULL CHECK (epoch >= 2),
            state TEXT NOT NULL CHECK (
                state IN ('planned', 'preflight', 'source-released', 'target-adopted', 'committed', 'aborted')
            ),
            abort_reason TEXT,
            reasons TEXT CHECK (reasons IS NULL OR json_valid(reasons)),
            requested_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            CHECK (source <> target),
            CHECK (state <> 'aborted' OR abort_reason IS NOT NULL)
        ) STRICT;
        CREATE UNIQUE INDEX migration_one_active_per_vm ON migration(vm_id)
            WHERE state NOT IN ('committed', 'aborted');
        CREATE UNIQUE INDEX migration_epoch_used_once ON migration(vm_id, epoch);
        CREATE INDEX migration_created ON migration(created_at);
        CREATE TRIGGER migration_state_machine BEFORE UPDATE OF state ON migration
        WHEN NEW.state <> OLD.state AND NOT (
            (OLD.state = 'planned' AND NEW.state IN ('preflight', 'aborted'))
            OR (OLD.state = 'preflight' AND NEW.state IN ('source-released', 'target-adopted', 'aborted'))
            OR (OLD.state = 'source-released' AND NEW.state IN ('target-adopted', 'aborted'))
            OR (OLD.state = 'target-adopted' AND NEW.state = 'committed')
        )
        BEGIN
            SELECT RAISE(ABORT, 'migration-transition: not a step of the migration state machine');
        END;

        CREATE TABLE migration_step (
            migration_id TEXT NOT NULL REFERENCES migration(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL CHECK (seq >= 0),
            state TEXT NOT NULL CHECK (
                state IN ('planned', 'preflight', 'source-released', 'target-adopted', 'committed', 'aborted')
            ),
            at INTEGER NOT NULL,
            detail TEXT,
            PRIMARY KEY (migration_id, seq)
        ) STRICT;

        -- History of everything that changed ownership or needed an administrator. No foreign keys:
        -- history outlives the nodes and VMs it mentions.
        CREATE TABLE event (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at INTEGER NOT NULL,
            kind TEXT NOT NULL CHECK (length(kind) > 0),
            vm_id TEXT,
            node TEXT,
            migration_id TEXT,
            actor TEXT NOT NULL,
            message TEXT NOT NULL,
            detail TEXT CHECK (detail IS NULL OR json_valid(detail))
        ) STRICT;
        CREATE INDEX event_vm ON event(vm_id, at);
        CREATE INDEX event_at ON event(at);

        CREATE TABLE inventory_error (
            id INTEGER PRIMARY KEY,
            node TEXT NOT NULL REFERENCES node(name) ON DELETE CASCADE,
            vm_id TEXT,
            vm_name TEXT,
            message TEXT NOT NULL,
            reported_at INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX inventory_error_node ON inventory_error(node);
        """
}
