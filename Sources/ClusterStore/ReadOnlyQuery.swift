import Foundation
import GRDB
import GRDBSQLite

/// One value of a query result.
public enum SQLValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    /// Blobs are not shown, only their length.
    case blob(Int)
}

/// The rows of a `chainkeeper query`.
public struct QueryResult: Sendable, Hashable {
    public var columns: [String]
    public var rows: [[SQLValue]]
    /// More rows matched than the row limit allowed.
    public var truncated: Bool
}

/// Why a query was not run or did not finish.
public struct QueryError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The statement tries something other than reading the documented views.
        case refused = "query-refused"
        /// Not valid SQL.
        case invalid = "query-invalid"
        /// Ran past the time limit.
        case timeout = "query-timeout"
        case unavailable
    }

    public var code: Code
    public var message: String
    public var description: String { "\(code.rawValue): \(message)" }
}

/// Runs one admin-supplied SELECT over the documented views, with no way to write, attach or load extensions.
///
/// Four walls, each enough on its own for writes: a connection opened read-only; an SQLite authorizer that allows
/// only SELECT, reads of the views of `docs/query.md` (and of tables only through those views), ordinary functions
/// and two read-only pragmas; `sqlite3_stmt_readonly` on the prepared statement; and a limit of zero attached
/// databases. A progress handler stops the statement at the time limit. GRDB has no public authorizer hook, so this
/// one path uses the SQLite C API directly.
enum ReadOnlyQuery {
    static let views: Set<String> = [
        "vms", "checkpoints", "files", "nodes", "volumes", "reachability", "migrations", "failover_blocked",
    ]

    /// State the C callbacks reach through their context pointer.
    final class Guard {
        let deadline: ContinuousClock.Instant
        /// The database's own tables (and SQLite's catalog), readable only through a view.
        ///
        /// Any other name a read names is a common table expression of the query itself.
        let baseTables: Set<String>
        var denial: String?
        var timedOut = false

        init(deadline: ContinuousClock.Instant, baseTables: Set<String>) {
            self.deadline = deadline
            self.baseTables = baseTables
        }
    }

    /// The largest string or blob a query may build (`SQLITE_LIMIT_LENGTH`).
    static let maxValueBytes = 1 << 20

    static func run(
        sql: String,
        databasePath: String,
        timeLimit: Duration,
        maxRows: Int,
        maxBytes: Int
    ) throws(QueryError) -> QueryResult {
        var connection: OpaquePointer?
        let flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX
        guard sqlite3_open_v2(databasePath, &connection, flags, nil) == SQLITE_OK, let db = connection else {
            let message = connection.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(connection)
            throw QueryError(code: .unavailable, message: "cannot open the cluster database read-only: \(message)")
        }
        defer { sqlite3_close(db) }
        sqlite3_busy_timeout(db, 5000)
        sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0)
        // No string or blob the query builds may exceed this: printf('%.*c', 100000000, 'x') is refused, not built.
        sqlite3_limit(db, SQLITE_LIMIT_LENGTH, Int32(maxValueBytes))
        let state = Guard(deadline: .now + timeLimit, baseTables: try baseTables(db))
        let context = Unmanaged.passUnretained(state).toOpaque()
        sqlite3_set_authorizer(db, authorize, context)
        sqlite3_progress_handler(db, 1000, progress, context)
        return try withExtendedLifetime(state) { () throws(QueryError) -> QueryResult in
            try execute(sql, db: db, state: state, maxRows: maxRows, maxBytes: maxBytes)
        }
    }

    /// Names of the real tables, read before the authorizer is installed.
    private static func baseTables(_ db: OpaquePointer) throws(QueryError) -> Set<String> {
        var statement: OpaquePointer?
        guard
            sqlite3_prepare_v2(db, "SELECT lower(name) FROM sqlite_master WHERE type = 'table'", -1, &statement, nil)
                == SQLITE_OK
        else {
            sqlite3_finalize(statement)
            throw QueryError(
                code: .unavailable,
                message: "cannot read the schema: \(String(cString: sqlite3_errmsg(db)))"
            )
        }
        defer { sqlite3_finalize(statement) }
        var names: Set<String> = ["sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"]
        while sqlite3_step(statement) == SQLITE_ROW {
            if let text = sqlite3_column_text(statement, 0) { names.insert(String(cString: text)) }
        }
        return names
    }

    private static func execute(
        _ sql: String,
        db: OpaquePointer,
        state: Guard,
        maxRows: Int,
        maxBytes: Int
    ) throws(QueryError)
        -> QueryResult
    {
        var statement: OpaquePointer?
        var tail: UnsafePointer<CChar>?
        let utf8 = Array(sql.utf8CString)
        let prepared = utf8.withUnsafeBufferPointer { buffer in
            sqlite3_prepare_v2(db, buffer.baseAddress, Int32(buffer.count), &statement, &tail)
        }
        defer { sqlite3_finalize(statement) }
        guard prepared == SQLITE_OK else {
            if let denial = state.denial { throw QueryError(code: .refused, message: denial) }
            let message = String(cString: sqlite3_errmsg(db))
            // SQLite itself refuses writes to a view before asking the authorizer.
            if message.hasPrefix("cannot modify") {
                throw QueryError(code: .refused, message: "queries are read-only: \(message)")
            }
            throw QueryError(code: .invalid, message: QueryErrorText.safe(db))
        }
        guard let statement else { throw QueryError(code: .invalid, message: "the query is empty") }
        let consumed = Int(sqlite3_sql(statement).map { strlen($0) } ?? 0)
        let rest = String(decoding: sql.utf8.dropFirst(consumed), as: UTF8.self)
        guard rest.allSatisfy({ $0.isWhitespace || $0 == ";" }) else {
            throw QueryError(code: .refused, message: "one statement per query; remove everything after the first ';'")
        }
        guard sqlite3_stmt_readonly(statement) != 0 else {
            throw QueryError(code: .refused, message: "only SELECT statements are allowed")
        }
        let count = Int(sqlite3_column_count(statement))
        let columns = (0..<count).map { String(cString: sqlite3_column_name(statement, Int32($0))) }
        var rows: [[SQLValue]] = []
        var truncated = false
        var bytes = columns.reduce(0) { $0 + $1.utf8.count }
        while true {
            let step = sqlite3_step(statement)
            if step == SQLITE_DONE { break }
            guard step == SQLITE_ROW else {
                if state.timedOut {
                    throw QueryError(code: .timeout, message: "the query ran past its time limit; narrow it")
                }
                if let denial = state.denial { throw QueryError(code: .refused, message: denial) }
                throw QueryError(code: .invalid, message: QueryErrorText.safe(db))
            }
            guard rows.count < maxRows else {
                truncated = true
                break
            }
            let row = (0..<count).map { value(statement, Int32($0)) }
            let size = row.reduce(0) { total, value in
                if case .text(let text) = value { return total + text.utf8.count + 8 }
                return total + 16
            }
            // Rows and bytes both bound the answer: ten 100 MB strings must not become a 1 GB body.
            guard bytes + size <= maxBytes else {
                truncated = true
                break
            }
            bytes += size
            rows.append(row)
        }
        return QueryResult(columns: columns, rows: rows, truncated: truncated)
    }

    private static func value(_ statement: OpaquePointer, _ index: Int32) -> SQLValue {
        switch sqlite3_column_type(statement, index) {
        case SQLITE_INTEGER: .integer(sqlite3_column_int64(statement, index))
        case SQLITE_FLOAT: .real(sqlite3_column_double(statement, index))
        case SQLITE_TEXT: .text(sqlite3_column_text(statement, index).map { String(cString: $0) } ?? "")
        case SQLITE_BLOB: .blob(Int(sqlite3_column_bytes(statement, index)))
        default: .null
        }
    }

    /// The authorizer: everything not listed is denied, with a message that names what was refused.
    static let authorize:
        @convention(c) (
            UnsafeMutableRawPointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?,
            UnsafePointer<CChar>?
        ) -> Int32 = { context, action, first, second, _, innermostView in
            guard let context else { return SQLITE_DENY }
            let state = Unmanaged<Guard>.fromOpaque(context).takeUnretainedValue()
            func text(_ pointer: UnsafePointer<CChar>?) -> String? { pointer.map { String(cString: $0) } }
            func deny(_ reason: String) -> Int32 {
                if state.denial == nil { state.denial = reason }
                return SQLITE_DENY
            }
            let table = (text(first) ?? "").lowercased()
            let catalog = table == "sqlite_master" || table == "sqlite_temp_master"
            switch action {
            case SQLITE_SELECT, SQLITE_RECURSIVE:
                return SQLITE_OK
            case SQLITE_READ:
                if views.contains(table) { return SQLITE_OK }
                if let view = text(innermostView), views.contains(view.lowercased()) { return SQLITE_OK }
                if !state.baseTables.contains(table) { return SQLITE_OK }
                return deny(
                    "'\(table)' is not one of the documented views: query \(views.sorted().joined(separator: ", "))"
                )
            case SQLITE_FUNCTION:
                let name = (text(second) ?? "").lowercased()
                // The views' own expressions call what they need.
                if let view = text(innermostView), views.contains(view.lowercased()) { return SQLITE_OK }
                if QueryFunctions.allowed.contains(name) { return SQLITE_OK }
                return deny(
                    "the function \(name)() is not allowed in a query; docs/query.md lists the functions that are"
                )
            case SQLITE_PRAGMA:
                let name = (text(first) ?? "").lowercased()
                if ["table_info", "table_xinfo"].contains(name), let target = text(second),
                    views.contains(target.lowercased())
                {
                    return SQLITE_OK
                }
                return deny("PRAGMA \(name) is not allowed; only PRAGMA table_info(view) may be read")
            case SQLITE_ATTACH, SQLITE_DETACH:
                return deny("ATTACH and DETACH are not allowed")
            case SQLITE_INSERT where catalog, SQLITE_CREATE_INDEX...SQLITE_CREATE_VIEW, SQLITE_CREATE_VTABLE:
                return deny("CREATE is not allowed: a query only reads the documented views")
            case SQLITE_DELETE where catalog, SQLITE_DROP_INDEX...SQLITE_DROP_VIEW, SQLITE_DROP_VTABLE:
                return deny("DROP is not allowed: a query only reads the documented views")
            case SQLITE_UPDATE where catalog && text(innermostView).map { views.contains($0.lowercased()) } == true:
                // A view reads documents with json_each() (migration 019).
                return SQLITE_OK
            case SQLITE_UPDATE where catalog:
                // SQLite registers an eponymous virtual table (pragma_table_info(), json_each(), …) this way.
                return deny(
                    "table-valued functions such as pragma_table_info() or json_each() are not allowed; read a view's "
                        + "columns with PRAGMA table_info(VIEW)"
                )
            case SQLITE_INSERT, SQLITE_UPDATE, SQLITE_DELETE:
                return deny("INSERT, UPDATE and DELETE are not allowed: a query only reads")
            case SQLITE_TRANSACTION, SQLITE_SAVEPOINT:
                return deny("transactions and savepoints are not allowed: a query is one SELECT")
            case SQLITE_ALTER_TABLE:
                return deny("ALTER TABLE is not allowed: a query only reads the documented views")
            default:
                return deny("only SELECT statements over the documented views are allowed")
            }
        }

    static let progress: @convention(c) (UnsafeMutableRawPointer?) -> Int32 = { context in
        guard let context else { return 1 }
        let state = Unmanaged<Guard>.fromOpaque(context).takeUnretainedValue()
        if ContinuousClock.now >= state.deadline {
            state.timedOut = true
            return 1
        }
        return 0
    }
}

extension ClusterStore {
    /// Runs one read-only SELECT over the documented views (see `ReadOnlyQuery`).
    ///
    /// At most `maxRows` rows and `maxBytes` of cell data (text counted in UTF-8 bytes) come back, with `truncated` set
    /// when more matched; no value longer than 1 MiB can be built.
    public func query(
        _ sql: String,
        timeLimit: Duration = .seconds(5),
        maxRows: Int = 10_000,
        maxBytes: Int = 8 << 20
    ) throws(QueryError)
        -> QueryResult
    {
        guard sql.utf8.count <= 64 * 1024 else {
            throw QueryError(code: .refused, message: "the query is longer than 64 KiB")
        }
        return try ReadOnlyQuery.run(
            sql: sql,
            databasePath: writer.path,
            timeLimit: timeLimit,
            maxRows: maxRows,
            maxBytes: maxBytes
        )
    }
}
