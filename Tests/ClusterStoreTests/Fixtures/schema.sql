-- migration: 001-cluster-schema
-- migration: 002-query-views
-- migration: 003-probes-and-discovered-disks
-- migration: 004-foreign-key-indexes
-- migration: 005-inventory-digest
-- migration: 006-failover-state
-- migration: 007-leadership
-- migration: 008-backup-origin
-- migration: 009-volume-naming
-- migration: 010-isolation-states
-- migration: 011-isolation-response
-- migration: 012-hypervisor-metadata
-- migration: 013-operation-journal
-- migration: 014-next-files-and-media
-- migration: 015-stranded-response
-- migration: 016-report-key
-- migration: 017-disks-by-volume-path
-- migration: 018-inventory-shape
-- migration: 019-inventory-documents

CREATE TABLE anti_affinity_class (
    name TEXT PRIMARY KEY NOT NULL CHECK (length(name) > 0),
    enforced INTEGER NOT NULL DEFAULT 0 CHECK (enforced IN (0, 1))
) STRICT;

CREATE TABLE backup_origin (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    taken_at INTEGER NOT NULL
) STRICT;

CREATE TABLE discovered_disk (
    volume_id TEXT NOT NULL REFERENCES volume(id) ON DELETE CASCADE,
    relative_path TEXT NOT NULL,
    node TEXT NOT NULL REFERENCES node(name) ON DELETE CASCADE,
    path TEXT NOT NULL,
    reported_at INTEGER NOT NULL,
    PRIMARY KEY (volume_id, relative_path, node)
) STRICT;

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

CREATE TABLE failover_block (
    vm_id TEXT PRIMARY KEY NOT NULL REFERENCES vm(id) ON DELETE CASCADE,
    node TEXT NOT NULL,
    summary TEXT NOT NULL,
    reasons TEXT NOT NULL CHECK (json_valid(reasons)),
    blocked_at INTEGER NOT NULL
) STRICT;

CREATE TABLE inventory_error (
    id INTEGER PRIMARY KEY,
    node TEXT NOT NULL REFERENCES node(name) ON DELETE CASCADE,
    vm_id TEXT,
    vm_name TEXT,
    message TEXT NOT NULL,
    reported_at INTEGER NOT NULL
) STRICT;

CREATE TABLE leadership (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    token INTEGER NOT NULL CHECK (token >= 1),
    expires_at INTEGER NOT NULL
) STRICT;

CREATE TABLE "migration" (
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

CREATE TABLE "migration_step" (
    migration_id TEXT NOT NULL REFERENCES "migration"(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL CHECK (seq >= 0),
    state TEXT NOT NULL CHECK (
        state IN ('planned', 'preflight', 'source-released', 'target-adopted', 'applying', 'applied',
                  'committed', 'aborted')
    ),
    at INTEGER NOT NULL,
    detail TEXT,
    PRIMARY KEY (migration_id, seq)
) STRICT;

CREATE TABLE "node" (
    name TEXT PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 253),
    state TEXT NOT NULL DEFAULT 'up'
        CHECK (state IN ('up', 'down', 'fenced', 'draining', 'isolated', 'quarantined')),
    driver TEXT CHECK (driver IN ('hyperv-json', 'libvirt')),
    memory_mib INTEGER CHECK (memory_mib >= 0),
    registered_at INTEGER NOT NULL,
    last_heartbeat_at INTEGER,
    last_inventory_at INTEGER,
    lease_expires_at INTEGER
, hypervisor_uri TEXT CHECK (hypervisor_uri IS NULL OR length(hypervisor_uri) <= 1024)) STRICT;

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
, isolation TEXT NOT NULL DEFAULT 'keep-running'
    CHECK (isolation IN ('keep-running', 'stop')), checkpoint_volume TEXT
    CHECK (checkpoint_volume IS NULL OR length(checkpoint_volume) BETWEEN 1 AND 255), stranded TEXT NOT NULL DEFAULT 'refuse'
    CHECK (stranded IN ('refuse', 'repair'))) STRICT;

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
, inventory_digest TEXT, failover_cleared_at INTEGER, metadata_digest TEXT CHECK (metadata_digest IS NULL OR length(metadata_digest) = 71), next_files TEXT
    CHECK (next_files IS NULL OR (json_valid(next_files) AND length(next_files) <= 16384)), merge_pending INTEGER NOT NULL DEFAULT 0 CHECK (merge_pending IN (0, 1)), report_key TEXT, disks_digest TEXT) STRICT;

CREATE TABLE vm_disk (
    volume_id TEXT NOT NULL,
    relative_path TEXT NOT NULL,
    vm_id TEXT NOT NULL REFERENCES vm(id) ON DELETE CASCADE,
    PRIMARY KEY (volume_id, relative_path, vm_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE vm_inventory (
    vm_id TEXT PRIMARY KEY NOT NULL REFERENCES vm(id) ON DELETE CASCADE,
    body TEXT NOT NULL CHECK (json_valid(body))
) STRICT, WITHOUT ROWID;

CREATE TABLE vm_listing (
    vm_id TEXT NOT NULL REFERENCES vm(id) ON DELETE CASCADE,
    node TEXT NOT NULL REFERENCES node(name) ON DELETE CASCADE,
    reported_at INTEGER NOT NULL,
    PRIMARY KEY (vm_id, node)
) STRICT;

CREATE TABLE vm_metadata (
    vm_id TEXT PRIMARY KEY NOT NULL REFERENCES vm(id) ON DELETE CASCADE,
    digest TEXT NOT NULL CHECK (length(digest) = 71),
    body BLOB NOT NULL CHECK (length(body) <= 4194304),
    leaves TEXT NOT NULL,
    snapshots INTEGER NOT NULL CHECK (snapshots >= 0),
    received_at INTEGER NOT NULL
) STRICT;

CREATE TABLE volume (
    id TEXT PRIMARY KEY NOT NULL CHECK (length(id) > 0),
    name TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL
, named_by TEXT, named_by_admin INTEGER NOT NULL DEFAULT 0 CHECK (named_by_admin IN (0, 1))) STRICT;

CREATE TABLE volume_mount (
    volume_id TEXT NOT NULL REFERENCES volume(id) ON DELETE CASCADE,
    node TEXT NOT NULL REFERENCES node(name) ON DELETE CASCADE,
    mount_path TEXT NOT NULL,
    fs_type TEXT,
    read_only INTEGER NOT NULL DEFAULT 0 CHECK (read_only IN (0, 1)),
    free_bytes INTEGER CHECK (free_bytes >= 0),
    reported_at INTEGER NOT NULL,
    last_probe_at INTEGER, total_bytes INTEGER CHECK (total_bytes IS NULL OR total_bytes >= 0),
    PRIMARY KEY (volume_id, node)
) STRICT;

CREATE TABLE volume_probe (
    volume_id TEXT NOT NULL REFERENCES volume(id) ON DELETE CASCADE,
    nonce TEXT NOT NULL CHECK (length(nonce) BETWEEN 8 AND 128),
    node TEXT NOT NULL REFERENCES node(name) ON DELETE CASCADE,
    written_at INTEGER NOT NULL,
    PRIMARY KEY (volume_id, nonce)
) STRICT;

CREATE INDEX event_at ON event(at);

CREATE INDEX event_vm ON event(vm_id, at);

CREATE INDEX inventory_error_node ON inventory_error(node);

CREATE INDEX migration_created ON migration(created_at);

CREATE UNIQUE INDEX migration_epoch_used_once ON migration(vm_id, epoch);

CREATE INDEX migration_failovers ON migration(vm_id, updated_at) WHERE kind = 'failover' AND state = 'committed';

CREATE UNIQUE INDEX migration_one_active_per_vm ON migration(vm_id)
    WHERE state NOT IN ('committed', 'aborted');

CREATE INDEX migration_vm ON migration(vm_id);

CREATE INDEX vm_disk_vm ON vm_disk(vm_id);

CREATE INDEX vm_name ON vm(name);

CREATE INDEX vm_owner ON vm(owner);

CREATE INDEX volume_mount_node ON volume_mount(node);

CREATE INDEX volume_probe_written ON volume_probe(written_at);

CREATE TRIGGER leadership_token_only_grows BEFORE UPDATE OF token ON leadership
WHEN NEW.token <= OLD.token
BEGIN
    SELECT RAISE(ABORT, 'leadership-token: a new term needs a larger token');
END;

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

CREATE TRIGGER vm_epoch_only_grows BEFORE UPDATE OF epoch ON vm
WHEN NEW.epoch < OLD.epoch
BEGIN
    SELECT RAISE(ABORT, 'epoch-decrease: a VM''s epoch only grows');
END;

CREATE VIEW checkpoints AS
SELECT
    i.vm_id AS vm_id,
    vm.name AS vm_name,
    c.value ->> 0 AS id,
    c.value ->> 1 AS name,
    c.value ->> 2 AS parent_id,
    strftime('%Y-%m-%dT%H:%M:%SZ', (c.value ->> 3) / 1000, 'unixepoch') AS created_at
FROM vm_inventory i JOIN vm ON vm.id = i.vm_id JOIN json_each(i.body, '$.checkpoints') c;

CREATE VIEW failover_blocked AS
    SELECT v.name AS vm, b.vm_id AS vm_id, b.node AS node, b.summary AS summary, b.reasons AS reasons,
           datetime(b.blocked_at / 1000, 'unixepoch') AS blocked_at
    FROM failover_block b JOIN vm v ON v.id = b.vm_id;

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

CREATE VIEW volumes AS
SELECT
    v.id AS id,
    v.name AS name,
    (SELECT count(*) FROM volume_mount m WHERE m.volume_id = v.id) AS node_count
FROM volume v;
