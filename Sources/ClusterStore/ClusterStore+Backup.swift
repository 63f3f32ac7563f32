import Foundation
import GRDB

extension ClusterStore {
    /// A consistent copy of the whole database at `path` (SQLite's online backup API: a snapshot of one moment, taken
    /// while the coordinator keeps serving), checked with `PRAGMA integrity_check`.
    ///
    /// Refuses to overwrite an existing file.
    public func backup(to path: String) throws(StoreError) {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw StoreError(.conflict, "\(path) already exists; a backup never overwrites a file")
        }
        do {
            try copy(to: path)
        } catch {
            // Nothing half-written is left behind.
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
    }

    private func copy(to path: String) throws(StoreError) {
        try translatingErrors {
            let destination = try DatabaseQueue(path: path)
            try writer.backup(to: destination)
            let verdict = try destination.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") }
            try destination.close()
            guard verdict == "ok" else {
                throw StoreError(.unavailable, "the backup failed its integrity check: \(verdict ?? "no answer")")
            }
        }
    }
}
