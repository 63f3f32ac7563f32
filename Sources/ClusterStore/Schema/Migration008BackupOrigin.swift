/// Marks a database file made by `chainkeeper backup` (issue 20).
///
/// `backup` writes one row into the copy, never into the live database. A coordinator that starts on a file with the
/// row knows it runs on a restored backup: migrations committed after the backup made its owners stale, so for its
/// first lease it lets agents holding a higher epoch take their VMs back (SPEC §6), then deletes the row.
enum Migration008BackupOrigin {
    static let identifier = "008-backup-origin"

    static let sql = """
        CREATE TABLE backup_origin (
            id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
            taken_at INTEGER NOT NULL
        ) STRICT;
        """
}
