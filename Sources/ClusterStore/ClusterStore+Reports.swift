import ChainModel
import GRDB

/// One volume as an agent reported it, with its probe evidence.
public struct VolumeReport: Sendable {
    public var volume: Volume
    public var mountPath: String
    public var filesystemType: String?
    public var probeWritten: String?
    public var probeRead: [String]
    public var freeBytes: Int64?
    public var readOnly: Bool
    public var totalBytes: Int64?

    public init(
        volume: Volume,
        mountPath: String,
        filesystemType: String?,
        probeWritten: String?,
        probeRead: [String],
        freeBytes: Int64? = nil,
        readOnly: Bool = false
    ) {
        self.volume = volume
        self.mountPath = mountPath
        self.filesystemType = filesystemType
        self.probeWritten = probeWritten
        self.probeRead = probeRead
        self.freeBytes = freeBytes.map { max(0, $0) }
        self.readOnly = readOnly
    }
}

extension ClusterStore {
    /// Records a node's report header: creates the node (up) on its first report, refreshes its
    /// driver, memory and report times, and leaves its state alone (draining stays draining).
    public func recordReport(
        node: NodeName,
        driver: InventoryDriver,
        memoryMiB: Int?,
        at now: Timestamp
    ) throws(StoreError) {
        try translatingErrors {
            try writer.write { db in
                try Self.recordReport(node: node, driver: driver, memoryMiB: memoryMiB, at: now, in: db)
                try Self.recordInventoryTime(of: node, at: now, in: db)
            }
        }
    }

    /// The header part of `recordReport`: the node, its driver, memory and heartbeat time, not its inventory time.
    static func recordReport(
        node: NodeName,
        driver: InventoryDriver,
        memoryMiB: Int?,
        at now: Timestamp,
        in db: Database
    ) throws {
        try db.execute(
            sql: """
                INSERT INTO node (name, state, driver, memory_mib, registered_at, last_heartbeat_at)
                VALUES (?, 'up', ?, ?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET
                    driver = excluded.driver, memory_mib = excluded.memory_mib,
                    last_heartbeat_at = excluded.last_heartbeat_at
                """,
            arguments: [node.rawValue, driver.rawValue, memoryMiB, now.databaseValue, now.databaseValue]
        )
    }

    /// The node's inventory is as fresh as `now` (`inventory-stale` reads it): written only once a whole report is
    /// applied, so that the VMs a stopped or interrupted report did not reach never look fresher than they are.
    static func recordInventoryTime(of node: NodeName, at now: Timestamp, in db: Database) throws {
        try db.execute(
            sql: "UPDATE node SET last_inventory_at = ? WHERE name = ?",
            arguments: [now.databaseValue, node.rawValue]
        )
    }

    /// Replaces the volumes a node reports.
    ///
    /// A mount counts as verified now when the node read back a nonce written to that volume within `probeWindow` by
    /// another node, or by itself while no other node reports the volume: a node's own nonce proves it reaches its own
    /// mount, never that the volume is shared (a node could copy another's marker onto its own disk). A shared source
    /// (`VolumeID.isSharedSource`) has no nonce to read: each node's declaration is its proof.
    ///
    /// A volume's name is the one its first reporter gave; only that node, or an administrator, renames it. Returns
    /// the disagreements, as inventory errors for this node, and the volumes other nodes report that this node's mount
    /// has not been verified on yet (it read no other node's nonce: it should read the probe directory again soon).
    @discardableResult
    public func recordVolumes(
        of node: NodeName,
        _ volumes: [VolumeReport],
        probeWindow: Duration,
        at now: Timestamp
    ) throws(StoreError) -> (disagreements: [InventoryError], unverified: [VolumeID]) {
        try translatingErrors {
            try writer.write { db in
                try Self.recordVolumes(of: node, volumes, probeWindow: probeWindow, at: now, in: db)
            }
        }
    }

    static func recordVolumes(
        of node: NodeName,
        _ volumes: [VolumeReport],
        probeWindow: Duration,
        at now: Timestamp,
        in db: Database
    ) throws -> (disagreements: [InventoryError], unverified: [VolumeID]) {
        let oldest = (now - probeWindow).databaseValue
        try db.execute(sql: "DELETE FROM volume_probe WHERE written_at < ?", arguments: [oldest])
        let kept = volumes.map(\.volume.id.rawValue)
        let placeholders = kept.map { _ in "?" }.joined(separator: ", ")
        try db.execute(
            sql: "DELETE FROM volume_mount WHERE node = ?"
                + (kept.isEmpty ? "" : " AND volume_id NOT IN (\(placeholders))"),
            arguments: StatementArguments([node.rawValue] + kept)
        )
        var disagreements: [InventoryError] = []
        var unverified: [VolumeID] = []
        for report in volumes {
            let id = report.volume.id.rawValue
            // SQLite's SET expressions all read the row as it was: the name changes only for its naming node, and a
            // volume registered before names were owned is claimed by the first node that reports the same name.
            try db.execute(
                sql: """
                    INSERT INTO volume (id, name, first_seen_at, named_by) VALUES (?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET
                        name = CASE WHEN named_by_admin = 0 AND named_by = excluded.named_by
                                    THEN excluded.name ELSE name END,
                        named_by = CASE WHEN named_by_admin = 0 AND named_by IS NULL AND name = excluded.name
                                        THEN excluded.named_by ELSE named_by END
                    """,
                arguments: [id, report.volume.name, now.databaseValue, node.rawValue]
            )
            if let stored = try String.fetchOne(db, sql: "SELECT name FROM volume WHERE id = ?", arguments: [id]),
                stored != report.volume.name
            {
                disagreements.append(
                    InventoryError(
                        node: node,
                        vm: nil,
                        message: "the volume marker \(id) on \(node.rawValue) says '\(report.volume.name)' but the "
                            + "cluster knows the volume as '\(stored)': only the node that registered it, or an "
                            + "administrator, renames a volume; if this marker was copied from another volume, give "
                            + "it a new id with `chainkeeper volume init`"
                    )
                )
            }
            // The nonce this scan wrote counts for what this scan read back (a local volume verifies at once).
            if let nonce = report.probeWritten, (8...128).contains(nonce.count) {
                try db.execute(
                    sql: """
                        INSERT INTO volume_probe (volume_id, nonce, node, written_at) VALUES (?, ?, ?, ?)
                        ON CONFLICT(volume_id, nonce) DO NOTHING
                        """,
                    arguments: [id, nonce, node.rawValue, now.databaseValue]
                )
            }
            let othersReport =
                try Int.fetchOne(
                    db,
                    sql: "SELECT count(*) FROM volume_mount WHERE volume_id = ? AND node <> ?",
                    arguments: [id, node.rawValue]
                ) ?? 0 > 0
            var verified = false
            for nonce in report.probeRead where !verified {
                let writer = try String.fetchOne(
                    db,
                    sql: "SELECT node FROM volume_probe WHERE volume_id = ? AND nonce = ?",
                    arguments: [id, nonce]
                )
                if let writer, writer != node.rawValue || !othersReport || report.volume.id.isSharedSource {
                    verified = true
                }
            }
            try db.execute(
                sql: """
                    INSERT INTO volume_mount (volume_id, node, mount_path, fs_type, reported_at, last_probe_at,
                                              free_bytes, read_only, total_bytes)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(volume_id, node) DO UPDATE SET
                        mount_path = excluded.mount_path, fs_type = excluded.fs_type,
                        reported_at = excluded.reported_at,
                        last_probe_at = COALESCE(excluded.last_probe_at, volume_mount.last_probe_at),
                        free_bytes = excluded.free_bytes, read_only = excluded.read_only,
                        total_bytes = excluded.total_bytes
                    """,
                arguments: [
                    id, node.rawValue, report.mountPath, report.filesystemType, now.databaseValue,
                    verified ? now.databaseValue : nil, report.freeBytes, report.readOnly,
                    report.totalBytes.map { max(0, $0) },
                ]
            )
            if othersReport, !verified,
                (try Int64.fetchOne(
                    db,
                    sql: "SELECT last_probe_at FROM volume_mount WHERE volume_id = ? AND node = ?",
                    arguments: [id, node.rawValue]
                )).map({ $0 < oldest }) ?? true
            {
                unverified.append(report.volume.id)
            }
        }
        return (disagreements, unverified)
    }

    /// Replaces the differencing disks a node found on its volumes.
    public func recordDiscoveredDisks(
        of node: NodeName,
        _ disks: [DiscoveredDisk],
        at now: Timestamp
    ) throws(StoreError) {
        try translatingErrors {
            try writer.write { db in try Self.recordDiscoveredDisks(of: node, disks, at: now, in: db) }
        }
    }

    static func recordDiscoveredDisks(
        of node: NodeName,
        _ disks: [DiscoveredDisk],
        at now: Timestamp,
        in db: Database
    ) throws {
        try db.execute(sql: "DELETE FROM discovered_disk WHERE node = ?", arguments: [node.rawValue])
        let insert = try db.cachedStatement(
            sql: """
                INSERT OR IGNORE INTO discovered_disk (volume_id, relative_path, node, path, reported_at)
                SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM volume WHERE id = ?)
                """
        )
        for disk in disks {
            try insert.execute(arguments: [
                disk.volume.rawValue, disk.relativePath, node.rawValue, disk.path, now.databaseValue,
                disk.volume.rawValue,
            ])
        }
    }
}
