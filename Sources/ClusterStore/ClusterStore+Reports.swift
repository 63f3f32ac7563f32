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
            }
        }
    }

    static func recordReport(
        node: NodeName,
        driver: InventoryDriver,
        memoryMiB: Int?,
        at now: Timestamp,
        in db: Database
    ) throws {
        try db.execute(
            sql: """
                INSERT INTO node (name, state, driver, memory_mib, registered_at, last_heartbeat_at,
                                  last_inventory_at)
                VALUES (?, 'up', ?, ?, ?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET
                    driver = excluded.driver, memory_mib = excluded.memory_mib,
                    last_heartbeat_at = excluded.last_heartbeat_at,
                    last_inventory_at = excluded.last_inventory_at
                """,
            arguments: [
                node.rawValue, driver.rawValue, memoryMiB, now.databaseValue, now.databaseValue,
                now.databaseValue,
            ]
        )
    }

    /// Replaces the volumes a node reports.
    ///
    /// A mount counts as verified now when the node read back a nonce written to that volume (by any node, itself
    /// included) within `probeWindow`.
    public func recordVolumes(
        of node: NodeName,
        _ volumes: [VolumeReport],
        probeWindow: Duration,
        at now: Timestamp
    ) throws(StoreError) {
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
    ) throws {
        let oldest = (now - probeWindow).databaseValue
        try db.execute(sql: "DELETE FROM volume_probe WHERE written_at < ?", arguments: [oldest])
        let kept = volumes.map(\.volume.id.rawValue)
        let placeholders = kept.map { _ in "?" }.joined(separator: ", ")
        try db.execute(
            sql: "DELETE FROM volume_mount WHERE node = ?"
                + (kept.isEmpty ? "" : " AND volume_id NOT IN (\(placeholders))"),
            arguments: StatementArguments([node.rawValue] + kept)
        )
        for report in volumes {
            let id = report.volume.id.rawValue
            try db.execute(
                sql: """
                    INSERT INTO volume (id, name, first_seen_at) VALUES (?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET name = excluded.name
                    """,
                arguments: [id, report.volume.name, now.databaseValue]
            )
            var verified = false
            for nonce in report.probeRead {
                let count = try Int.fetchOne(
                    db,
                    sql: "SELECT count(*) FROM volume_probe WHERE volume_id = ? AND nonce = ?",
                    arguments: [id, nonce]
                )
                if (count ?? 0) > 0 { verified = true }
            }
            try db.execute(
                sql: """
                    INSERT INTO volume_mount (volume_id, node, mount_path, fs_type, reported_at, last_probe_at,
                                              free_bytes, read_only)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(volume_id, node) DO UPDATE SET
                        mount_path = excluded.mount_path, fs_type = excluded.fs_type,
                        reported_at = excluded.reported_at,
                        last_probe_at = COALESCE(excluded.last_probe_at, volume_mount.last_probe_at),
                        free_bytes = excluded.free_bytes, read_only = excluded.read_only
                    """,
                arguments: [
                    id, node.rawValue, report.mountPath, report.filesystemType, now.databaseValue,
                    verified ? now.databaseValue : nil, report.freeBytes, report.readOnly,
                ]
            )
            if let nonce = report.probeWritten, (8...128).contains(nonce.count) {
                try db.execute(
                    sql: """
                        INSERT INTO volume_probe (volume_id, nonce, node, written_at) VALUES (?, ?, ?, ?)
                        ON CONFLICT(volume_id, nonce) DO NOTHING
                        """,
                    arguments: [id, nonce, node.rawValue, now.databaseValue]
                )
            }
        }
    }

    /// Replaces the differencing disks a node found on its volumes.
    public func recordDiscoveredDisks(
        of node: NodeName,
        _ disks: [(volume: VolumeID, relativePath: String, path: String)],
        at now: Timestamp
    ) throws(StoreError) {
        try translatingErrors {
            try writer.write { db in try Self.recordDiscoveredDisks(of: node, disks, at: now, in: db) }
        }
    }

    static func recordDiscoveredDisks(
        of node: NodeName,
        _ disks: [(volume: VolumeID, relativePath: String, path: String)],
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
