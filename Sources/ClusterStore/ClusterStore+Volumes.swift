import ChainModel
import GRDB

extension ClusterStore {
    /// Records a volume marker.
    ///
    /// The name follows the marker; the first-seen time is kept.
    public func saveVolume(_ volume: Volume, at now: Timestamp) throws(StoreError) {
        try translatingErrors {
            try writer.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO volume (id, name, first_seen_at) VALUES (?, ?, ?)
                        ON CONFLICT(id) DO UPDATE SET name = excluded.name
                        """,
                    arguments: [volume.id.rawValue, volume.name, now.databaseValue]
                )
            }
        }
    }

    /// An administrator's name for a volume: from now on only an administrator renames it (issue 20).
    ///
    /// Throws `dangling-reference` for an unknown volume id.
    public func renameVolume(_ volume: VolumeID, to name: String, actor: String, at now: Timestamp) throws(StoreError) {
        try translatingErrors {
            try writer.write { db in
                guard
                    let old = try String.fetchOne(
                        db,
                        sql: "SELECT name FROM volume WHERE id = ?",
                        arguments: [volume.rawValue]
                    )
                else { throw StoreError(.danglingReference, "no volume has the id \(volume.rawValue)") }
                try db.execute(
                    sql: "UPDATE volume SET name = ?, named_by = NULL, named_by_admin = 1 WHERE id = ?",
                    arguments: [name, volume.rawValue]
                )
                try Self.event(
                    kind: "volume-renamed",
                    node: nil,
                    actor: actor,
                    message: "volume \(volume.rawValue) renamed from '\(old)' to '\(name)'",
                    at: now,
                    in: db
                )
            }
        }
    }

    /// Records that a node mounts a volume, and when its probe last passed there.
    public func saveMount(_ mount: VolumeMount, at now: Timestamp) throws(StoreError) {
        try translatingErrors {
            try writer.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO volume_mount (volume_id, node, mount_path, fs_type, reported_at, last_probe_at)
                        VALUES (?, ?, ?, ?, ?, ?)
                        ON CONFLICT(volume_id, node) DO UPDATE SET
                            mount_path = excluded.mount_path, fs_type = excluded.fs_type,
                            reported_at = excluded.reported_at,
                            last_probe_at = COALESCE(excluded.last_probe_at, volume_mount.last_probe_at)
                        """,
                    arguments: [
                        mount.volume.rawValue, mount.node.rawValue, mount.mountPath, mount.filesystemType,
                        now.databaseValue, mount.lastProbeAt?.databaseValue,
                    ]
                )
            }
        }
    }

    /// Every volume, by id.
    public func volumes() throws(StoreError) -> [Volume] {
        try translatingErrors {
            try writer.read { db in
                try Row.fetchAll(db, sql: "SELECT id, name FROM volume ORDER BY id").map {
                    Volume(id: VolumeID($0["id"] as String), name: $0["name"])
                }
            }
        }
    }

    /// Every (volume, node) mount.
    public func mounts() throws(StoreError) -> [VolumeMount] {
        try translatingErrors {
            try writer.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM volume_mount ORDER BY volume_id, node").map(Self.mount(from:))
            }
        }
    }

    static func mount(from row: Row) -> VolumeMount {
        VolumeMount(
            volume: VolumeID(row["volume_id"] as String),
            node: NodeName(row["node"] as String),
            mountPath: row["mount_path"],
            filesystemType: row["fs_type"],
            lastProbeAt: RowDecoding.timestamp(row, "last_probe_at"),
            freeBytes: row["free_bytes"],
            readOnly: row["read_only"],
            totalBytes: row["total_bytes"]
        )
    }
}
