import ChainModel
import GRDB

/// The coordinator's cluster database: one SQLite file in WAL mode, opened so that every commit is synced
/// (`synchronous=FULL`) before it is acknowledged.
///
/// Ownership and journal rows must survive a power loss, and GRDB's pool would otherwise leave the writer at NORMAL.
public struct ClusterStore: Sendable {
    /// The database; exposed for tests and for the read-only query path.
    public let writer: DatabasePool
    /// Commits since the store was opened (the coordinator is the database's only writer).
    public let commits: CommitCounter
    /// The VMs commits registered, which an etcd leader claims.
    public let registrations: RegistrationLog
    /// The nodes' states, kept in memory between the commits that change them (`NodeStateCache`).
    public let nodeStates: NodeStateCache
    /// The migration journal's writes, committed together when operations run at once (`GroupCommit`).
    let journal = GroupCommit()
    /// Copies of etcd's journal writes, committed together at `synchronous=NORMAL` (`copyJournal`).
    let copies = GroupCommit(relaxed: true)

    /// Opens (creating if needed) and migrates the database at `path`.
    public init(path: String) throws(StoreError) {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(10)
        configuration.label = "chainkeeper-cluster"
        // One reader per thread that may read at once (event loops for heartbeats, the admin, report, failover and
        // failover-run lanes) with room: a heartbeat's read must never wait for a reader (GRDB's default is 5).
        configuration.maximumReaderCount = 16
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            // After GRDB's WAL setup, which sets NORMAL on the writer connection.
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
                // A whole node report is one transaction; a larger page cache keeps it from spilling
                // dirty pages into the WAL before it commits.
                try db.execute(sql: "PRAGMA cache_size = -65536")
                // Statement and savepoint journals in memory, not in temporary files.
                try db.execute(sql: "PRAGMA temp_store = MEMORY")
            }
            try Self.migrator.migrate(pool)
            let counter = CommitCounter()
            let registrations = RegistrationLog()
            let nodeStates = NodeStateCache()
            pool.writeWithoutTransaction { db in
                db.add(transactionObserver: counter, extent: .databaseLifetime)
                db.add(transactionObserver: registrations, extent: .databaseLifetime)
                db.add(transactionObserver: nodeStates.changes, extent: .databaseLifetime)
            }
            self.commits = counter
            self.registrations = registrations
            self.nodeStates = nodeStates
        } catch let error as DatabaseError {
            throw StoreError(
                .unavailable,
                "cannot open the cluster database at \(path): \(error.message ?? "\(error)")"
            )
        } catch {
            throw StoreError(.unavailable, "cannot open the cluster database at \(path): \(error)")
        }
        self.writer = pool
    }

    /// The named schema migrations, in order.
    ///
    /// Shipped migrations are never edited.
    public static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration(Migration001ClusterSchema.identifier) { db in
            try db.execute(sql: Migration001ClusterSchema.sql)
        }
        migrator.registerMigration(Migration002QueryViews.identifier) { db in
            try db.execute(sql: Migration002QueryViews.sql)
        }
        migrator.registerMigration(Migration003ProbesAndDiscoveredDisks.identifier) { db in
            try db.execute(sql: Migration003ProbesAndDiscoveredDisks.sql)
        }
        migrator.registerMigration(Migration004ForeignKeyIndexes.identifier) { db in
            try db.execute(sql: Migration004ForeignKeyIndexes.sql)
        }
        migrator.registerMigration(Migration005InventoryDigest.identifier) { db in
            try db.execute(sql: Migration005InventoryDigest.sql)
        }
        migrator.registerMigration(Migration006FailoverState.identifier) { db in
            try db.execute(sql: Migration006FailoverState.sql)
        }
        migrator.registerMigration(Migration007Leadership.identifier) { db in
            try db.execute(sql: Migration007Leadership.sql)
        }
        migrator.registerMigration(Migration008BackupOrigin.identifier) { db in
            try db.execute(sql: Migration008BackupOrigin.sql)
        }
        migrator.registerMigration(Migration009VolumeNaming.identifier) { db in
            try db.execute(sql: Migration009VolumeNaming.sql)
        }
        migrator.registerMigration(Migration010IsolationStates.identifier) { db in
            try db.execute(sql: Migration010IsolationStates.sql)
        }
        migrator.registerMigration(Migration011IsolationResponse.identifier) { db in
            try db.execute(sql: Migration011IsolationResponse.sql)
        }
        migrator.registerMigration(Migration012HypervisorMetadata.identifier) { db in
            try db.execute(sql: Migration012HypervisorMetadata.sql)
        }
        migrator.registerMigration(Migration013OperationJournal.identifier) { db in
            try db.execute(sql: Migration013OperationJournal.sql)
        }
        migrator.registerMigration(Migration014NextFilesAndMedia.identifier) { db in
            try Migration014NextFilesAndMedia.migrate(db)
        }
        migrator.registerMigration(Migration015StrandedResponse.identifier) { db in
            try db.execute(sql: Migration015StrandedResponse.sql)
        }
        migrator.registerMigration(Migration016ReportKey.identifier) { db in
            try db.execute(sql: Migration016ReportKey.sql)
        }
        migrator.registerMigration(Migration017DisksByVolumePath.identifier) { db in
            try db.execute(sql: Migration017DisksByVolumePath.sql)
        }
        migrator.registerMigration(Migration018InventoryShape.identifier) { db in
            try db.execute(sql: Migration018InventoryShape.sql)
        }
        migrator.registerMigration(Migration019InventoryDocuments.identifier) { db in
            try db.execute(sql: Migration019InventoryDocuments.sql)
        }
        return migrator
    }

    /// The writer connection's `PRAGMA synchronous` (2 is FULL).
    public func writerSynchronousMode() throws(StoreError) -> Int {
        try translatingErrors {
            try writer.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
        }
    }

    /// The schema as SQL, sorted by object, preceded by the applied migrations: compared against a
    /// checked-in golden file so that no migration is edited by accident.
    public func schemaDump() throws(StoreError) -> String {
        try translatingErrors {
            try writer.read { db in
                let applied = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid")
                let objects = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT type, name, sql FROM sqlite_master
                        WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' AND name <> 'grdb_migrations'
                        ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'trigger' THEN 2 ELSE 3 END, name
                        """
                )
                var lines = applied.map { "-- migration: \($0)" }
                for object in objects {
                    let sql: String = object["sql"]
                    lines.append("")
                    lines.append(sql + ";")
                }
                return lines.joined(separator: "\n") + "\n"
            }
        }
    }
}
