import Foundation
import GRDB

/// `hyperv-json` version 2 (issue 24): where an HA VM's next files go, Hyper-V's pending merge, and mounted ISO files.
///
/// - `vm.next_files`: JSON `[{role, path, volumeId?, relativePath?, node?}]`, the checkpoint file location and the
///   smart paging file path as the owner placed them on its volumes (audit `checkpoint-location-local`).
/// - `vm.merge_pending`: a checkpoint delete whose merge has not finished (`check` refuses `operation-in-progress`).
/// - `volume_mount.total_bytes`: the filesystem's size, for the audit's `minFreeSpace` (`volume-space-low`).
/// - `placement_policy.checkpoint_volume`: `policy set --checkpoint-volume` (the volume's id).
/// - `file.kind` gains `media` (an ISO in a DVD drive). SQLite cannot change a CHECK constraint in place, so `file` is
///   rebuilt from its own current definition with the one list changed; its indexes and the views that read it are
///   recreated from their stored SQL, so nothing a later reader sees changes but the new kind.
enum Migration014NextFilesAndMedia {
    static let identifier = "014-next-files-and-media"

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func migrate(_ db: Database) throws {
        guard
            let table = try String.fetchOne(
                db,
                sql: "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'file'"
            )
        else { throw Failure(description: "the file table is missing") }
        let kinds = "'memory', 'disk')"
        guard table.contains(kinds), table.hasPrefix("CREATE TABLE file (") else {
            throw Failure(description: "the file table's definition is not the one this migration rebuilds")
        }
        let rebuilt = table.replacingOccurrences(of: kinds, with: "'memory', 'disk', 'media')")
            .replacingOccurrences(of: "CREATE TABLE file (", with: "CREATE TABLE file_new (")
        let views = try Row.fetchAll(
            db,
            sql: "SELECT name, sql FROM sqlite_master WHERE type = 'view' AND sql LIKE '%file%' ORDER BY name"
        ).map { (name: $0[0] as String, sql: $0[1] as String) }
        let indexes = try String.fetchAll(
            db,
            sql:
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'file' AND sql IS NOT NULL ORDER BY name"
        )
        for view in views { try db.execute(sql: "DROP VIEW \(view.name.quotedDatabaseIdentifier)") }
        try db.execute(sql: rebuilt)
        let columns = try Row.fetchAll(db, sql: "PRAGMA table_info(file)").map {
            ($0["name"] as String).quotedDatabaseIdentifier
        }
        .joined(separator: ", ")
        try db.execute(sql: "INSERT INTO file_new (\(columns)) SELECT \(columns) FROM file")
        try db.execute(sql: "DROP TABLE file")
        try db.execute(sql: "ALTER TABLE file_new RENAME TO file")
        for index in indexes { try db.execute(sql: index) }
        for view in views { try db.execute(sql: view.sql) }
        try db.execute(
            sql: """
                ALTER TABLE vm ADD COLUMN next_files TEXT
                    CHECK (next_files IS NULL OR (json_valid(next_files) AND length(next_files) <= 16384));
                ALTER TABLE vm ADD COLUMN merge_pending INTEGER NOT NULL DEFAULT 0 CHECK (merge_pending IN (0, 1));
                ALTER TABLE volume_mount ADD COLUMN total_bytes INTEGER CHECK (total_bytes IS NULL OR total_bytes >= 0);
                ALTER TABLE placement_policy ADD COLUMN checkpoint_volume TEXT
                    CHECK (checkpoint_volume IS NULL OR length(checkpoint_volume) BETWEEN 1 AND 255);
                """
        )
    }
}
