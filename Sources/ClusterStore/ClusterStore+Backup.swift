import ChainModel
import Foundation
import GRDB

extension ClusterStore {
    /// A consistent copy of the whole database at `path` (SQLite's online backup API: a snapshot of one moment, taken
    /// while the coordinator keeps serving), checked with `PRAGMA integrity_check`.
    ///
    /// Refuses to overwrite an existing file. The copy is marked as a backup (`backup_origin`): a coordinator started on
    /// it knows its owners may be stale and rebuilds them from the agents' epochs for one lease (SPEC §6).
    public func backup(to path: String, at now: Timestamp) throws(StoreError) {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw StoreError(.conflict, "\(path) already exists; a backup never overwrites a file")
        }
        do {
            try copy(to: path, at: now)
        } catch {
            // Nothing half-written is left behind.
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
    }

    private func copy(to path: String, at now: Timestamp) throws(StoreError) {
        try translatingErrors {
            let destination = try DatabaseQueue(path: path)
            try writer.backup(to: destination)
            try destination.write { db in
                try db.execute(
                    sql: "INSERT OR REPLACE INTO backup_origin (id, taken_at) VALUES (1, ?)",
                    arguments: [now.databaseValue]
                )
            }
            let verdict = try destination.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") }
            try destination.close()
            guard verdict == "ok" else {
                throw StoreError(.unavailable, "the backup failed its integrity check: \(verdict ?? "no answer")")
            }
        }
    }
}

extension ClusterStore {
    /// When the backup this database was restored from was taken, or `nil` for a database that was never a backup.
    public func backupOrigin() throws(StoreError) -> Timestamp? {
        try translatingErrors {
            try writer.read { db in
                try Int64.fetchOne(db, sql: "SELECT taken_at FROM backup_origin WHERE id = 1")
                    .map { Timestamp(millisecondsSinceEpoch: $0) }
            }
        }
    }

    /// Forgets that this database was restored from a backup (its owners have been rebuilt from the agents).
    public func forgetBackupOrigin() throws(StoreError) {
        try translatingErrors {
            try writer.write { db in try db.execute(sql: "DELETE FROM backup_origin") }
        }
    }

    /// Whether the database knows no VM at all: a new or lost database, whose owners come from the agents.
    public func knowsNoVM() throws(StoreError) -> Bool {
        try translatingErrors {
            try writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM (SELECT 1 FROM vm LIMIT 1)") == 0 }
        }
    }
}
