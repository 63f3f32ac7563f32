import ChainModel
import DiskFormats
import Foundation
import GRDB

/// The agent's own SQLite database: the header cache that lets a rescan skip unchanged files, and the outbox of
/// reports not yet delivered to the coordinator.
///
/// One connection, every commit synced (`synchronous=FULL`): a report acknowledged into the outbox survives a crash.
public struct AgentDatabase: Sendable {
    public let queue: DatabaseQueue

    public init(path: String) throws(AgentStoreError) {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.label = "chainkeeper-agent"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
            try Self.migrator.migrate(queue)
        } catch {
            throw AgentStoreError("cannot open the agent database at \(path): \(Self.describe(error))")
        }
    }

    /// The named schema migrations, in order; shipped migrations are never edited.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("001-agent-schema") { db in
            try db.execute(
                sql: """
                    -- What a header parse learned about one file, valid while the file's identity, size and
                    -- modification time are unchanged.
                    CREATE TABLE disk_header (
                        path TEXT PRIMARY KEY,
                        device INTEGER NOT NULL,
                        inode INTEGER NOT NULL,
                        size INTEGER NOT NULL,
                        mtime_ns INTEGER NOT NULL,
                        info TEXT NOT NULL
                    ) STRICT;

                    -- Messages for the coordinator, oldest first; a row leaves only once delivered.
                    CREATE TABLE outbox (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        kind TEXT NOT NULL CHECK (kind IN ('report')),
                        created_at INTEGER NOT NULL,
                        body BLOB NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        last_error TEXT
                    ) STRICT;
                    """
            )
        }
        migrator.registerMigration("002-vm-epochs") { db in
            try db.execute(
                sql: """
                    -- The highest epoch this agent has seen per VM (SPEC §6), and what it did at that epoch: a command
                    -- with a lower epoch is refused. An adopted VM keeps its definition, so the agent reports it
                    -- even before its hypervisor's inventory lists it.
                    CREATE TABLE vm_epoch (
                        vm_id TEXT PRIMARY KEY,
                        epoch INTEGER NOT NULL CHECK (epoch >= 1),
                        role TEXT NOT NULL CHECK (role IN ('adopted', 'released')),
                        definition TEXT,
                        updated_at INTEGER NOT NULL
                    ) STRICT;
                    """
            )
        }
        return migrator
    }

    /// `PRAGMA synchronous` of the connection (2 is FULL).
    public func synchronousMode() throws(AgentStoreError) -> Int {
        try run { try queue.read { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 } }
    }

    // MARK: Header cache

    public func loadHeaders() throws(AgentStoreError) -> [String: CachedHeader] {
        try run {
            try queue.read { db in
                var headers: [String: CachedHeader] = [:]
                let decoder = JSONDecoder()
                for row in try Row.fetchAll(db, sql: "SELECT * FROM disk_header") {
                    let text: String = row["info"]
                    // A row this version cannot read is simply parsed again.
                    guard let info = try? decoder.decode(DiskImageInfo.self, from: Data(text.utf8)) else { continue }
                    let header = CachedHeader(
                        path: row["path"],
                        identity: FileIdentity(
                            device: UInt64(bitPattern: row["device"]),
                            inode: UInt64(bitPattern: row["inode"])
                        ),
                        size: UInt64(bitPattern: row["size"]),
                        modifiedNanoseconds: row["mtime_ns"],
                        info: info
                    )
                    headers[header.path] = header
                }
                return headers
            }
        }
    }

    /// Stores the headers parsed this rescan and forgets files that were not seen.
    public func saveHeaders(_ changed: [CachedHeader], keeping seen: Set<String>) throws(AgentStoreError) {
        try run {
            try queue.write { db in
                let encoder = JSONEncoder()
                encoder.outputFormatting = .sortedKeys
                let insert = try db.cachedStatement(
                    sql:
                        "INSERT OR REPLACE INTO disk_header (path, device, inode, size, mtime_ns, info) VALUES (?, ?, ?, ?, ?, ?)"
                )
                for header in changed {
                    let info = String(decoding: try encoder.encode(header.info), as: UTF8.self)
                    try insert.execute(arguments: [
                        header.path, Int64(bitPattern: header.identity.device),
                        Int64(bitPattern: header.identity.inode),
                        Int64(bitPattern: header.size), header.modifiedNanoseconds, info,
                    ])
                }
                let stored = try String.fetchAll(db, sql: "SELECT path FROM disk_header")
                let delete = try db.cachedStatement(sql: "DELETE FROM disk_header WHERE path = ?")
                for path in stored where !seen.contains(path) { try delete.execute(arguments: [path]) }
            }
        }
    }

    // MARK: Epochs

    /// The highest epoch seen for a VM, or nil.
    public func epoch(of vm: String) throws(AgentStoreError) -> Int64? {
        try run {
            try queue.read { db in
                try Int64.fetchOne(db, sql: "SELECT epoch FROM vm_epoch WHERE vm_id = ?", arguments: [vm])
            }
        }
    }

    /// Records what this node did with a VM at `epoch`.
    ///
    /// If a higher epoch was already seen, nothing changes and the stored epoch is returned. The check and the write
    /// are one transaction.
    public func record(
        vm: String,
        epoch: Int64,
        role: String,
        definition: Data?,
        at now: Timestamp
    ) throws(AgentStoreError) -> Int64? {
        try run {
            try queue.write { db -> Int64? in
                if let stored = try Int64.fetchOne(
                    db,
                    sql: "SELECT epoch FROM vm_epoch WHERE vm_id = ?",
                    arguments: [vm]
                ),
                    stored > epoch
                {
                    return stored
                }
                try db.execute(
                    sql: """
                        INSERT INTO vm_epoch (vm_id, epoch, role, definition, updated_at) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT(vm_id) DO UPDATE SET epoch = excluded.epoch, role = excluded.role,
                            definition = excluded.definition, updated_at = excluded.updated_at
                        """,
                    arguments: [
                        vm, epoch, role, definition.map { String(decoding: $0, as: UTF8.self) },
                        now.millisecondsSinceEpoch,
                    ]
                )
                return nil
            }
        }
    }

    /// Raises the VM's epoch for an operation on it (a checkpoint), keeping what this node did with it.
    ///
    /// Returns the stored epoch when a higher one was already seen. The check and the write are one transaction.
    public func raiseEpoch(vm: String, to epoch: Int64, at now: Timestamp) throws(AgentStoreError) -> Int64? {
        try run {
            try queue.write { db -> Int64? in
                if let stored = try Int64.fetchOne(
                    db,
                    sql: "SELECT epoch FROM vm_epoch WHERE vm_id = ?",
                    arguments: [vm]
                ),
                    stored > epoch
                {
                    return stored
                }
                try db.execute(
                    sql: """
                        INSERT INTO vm_epoch (vm_id, epoch, role, definition, updated_at) VALUES (?, ?, 'adopted', NULL, ?)
                        ON CONFLICT(vm_id) DO UPDATE SET epoch = excluded.epoch, updated_at = excluded.updated_at
                        """,
                    arguments: [vm, epoch, now.millisecondsSinceEpoch]
                )
                return nil
            }
        }
    }

    /// VMs this node adopted (with their definitions) and VMs it released.
    public func handOffs() throws(AgentStoreError) -> (adopted: [Data], released: Set<String>, epochs: [String: Int64])
    {
        try run {
            try queue.read { db in
                var adopted: [Data] = []
                var released: Set<String> = []
                var epochs: [String: Int64] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT vm_id, role, epoch, definition FROM vm_epoch") {
                    if (row["role"] as String) == "released" {
                        released.insert(row["vm_id"])
                        continue
                    }
                    epochs[row["vm_id"]] = row["epoch"]
                    if let definition = row["definition"] as String? { adopted.append(Data(definition.utf8)) }
                }
                return (adopted, released, epochs)
            }
        }
    }

    // MARK: Outbox

    /// Queues a report for the coordinator.
    ///
    /// A report is the node's whole state, so a newer one supersedes any older report still waiting (in the same
    /// transaction): nothing the coordinator needs is lost, and a long outage does not pile up stale reports.
    public func enqueueReport(_ body: Data, at now: Timestamp) throws(AgentStoreError) {
        try run {
            try queue.write { db in
                try db.execute(sql: "DELETE FROM outbox WHERE kind = 'report'")
                try db.execute(
                    sql: "INSERT INTO outbox (kind, created_at, body) VALUES ('report', ?, ?)",
                    arguments: [now.millisecondsSinceEpoch, body]
                )
            }
        }
    }

    /// The oldest message waiting, if any.
    public func nextMessage() throws(AgentStoreError) -> OutboxMessage? {
        try run {
            try queue.read { db in
                try Row.fetchOne(db, sql: "SELECT * FROM outbox ORDER BY seq LIMIT 1").map { row in
                    OutboxMessage(
                        sequence: row["seq"],
                        kind: row["kind"],
                        createdAt: Timestamp(millisecondsSinceEpoch: row["created_at"]),
                        body: row["body"],
                        attempts: row["attempts"]
                    )
                }
            }
        }
    }

    public func markDelivered(_ sequence: Int64) throws(AgentStoreError) {
        try run {
            try queue.write { db in try db.execute(sql: "DELETE FROM outbox WHERE seq = ?", arguments: [sequence]) }
        }
    }

    public func markFailed(_ sequence: Int64, reason: String) throws(AgentStoreError) {
        try run {
            try queue.write { db in
                try db.execute(
                    sql: "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
                    arguments: [String(reason.prefix(1000)), sequence]
                )
            }
        }
    }

    public func outboxCount() throws(AgentStoreError) -> Int {
        try run { try queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM outbox") ?? 0 } }
    }

    private func run<T>(_ body: () throws -> T) throws(AgentStoreError) -> T {
        do {
            return try body()
        } catch {
            throw AgentStoreError("agent database: \(Self.describe(error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError { return error.message ?? "\(error)" }
        return "\(error)"
    }
}

/// A header parsed earlier, with the file version it belongs to.
public struct CachedHeader: Sendable, Hashable {
    public var path: String
    public var identity: FileIdentity
    public var size: UInt64
    public var modifiedNanoseconds: Int64
    public var info: DiskImageInfo

    public init(path: String, identity: FileIdentity, size: UInt64, modifiedNanoseconds: Int64, info: DiskImageInfo) {
        self.path = path
        self.identity = identity
        self.size = size
        self.modifiedNanoseconds = modifiedNanoseconds
        self.info = info
    }
}

/// A message waiting in the outbox.
public struct OutboxMessage: Sendable, Hashable {
    public var sequence: Int64
    public var kind: String
    public var createdAt: Timestamp
    public var body: Data
    public var attempts: Int
}

/// The agent's database failed; the message says which operation and why.
public struct AgentStoreError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
