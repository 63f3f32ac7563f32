import ChainModel
import Foundation
import GRDBSQLite
import Testing

@testable import ClusterStore

/// `chainkeeper query` at the store: only SELECTs over the documented views, nothing else, and a time limit.
@Suite struct ReadOnlyQueryTests {
    @Test func selectsOverTheViewsReturnTypedRows() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        let result = try temporary.store.query("SELECT name, memory_mib, NULL AS empty FROM nodes ORDER BY name")
        #expect(result.columns == ["name", "memory_mib", "empty"])
        #expect(result.rows == [[.text("node1"), .integer(8192), .null], [.text("node2"), .integer(8192), .null]])
        #expect(!result.truncated)
        let joined = try temporary.store.query(
            "WITH n AS (SELECT name FROM nodes) SELECT count(*) FROM n JOIN reachability r ON r.node = n.name"
        )
        #expect(joined.rows == [[.integer(2)]])
        let columns = try temporary.store.query("PRAGMA table_info(vms)")
        #expect(columns.rows.count > 5)
    }

    @Test(arguments: [
        "INSERT INTO node (name, state, registered_at) VALUES ('x', 'up', 0)",
        "UPDATE node SET memory_mib = 0",
        "DELETE FROM node",
        "DELETE FROM vms",
        "DROP TABLE node",
        "CREATE TABLE t (x)",
        "ATTACH DATABASE '/tmp/other.sqlite' AS other",
        "PRAGMA journal_mode = DELETE",
        "PRAGMA user_version = 7",
        "PRAGMA writable_schema = 1",
        "SELECT load_extension('/tmp/evil.so')",
        "SELECT * FROM node",
        "SELECT * FROM sqlite_master",
        "SELECT 1; DELETE FROM node",
        "BEGIN IMMEDIATE",
        "VACUUM INTO '/tmp/copy.sqlite'",
    ])
    func writesAttachPragmasAndExtensionsAreRefused(sql: String) throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        #expect {
            _ = try temporary.store.query(sql)
        } throws: { error in
            guard let error = error as? QueryError else { return false }
            return error.code == .refused && !error.message.isEmpty
        }
        #expect(try temporary.store.nodes().count == 2, "nothing changed")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/copy.sqlite"))
    }

    /// Issue 20 item 9: SQLite's message passes only when it speaks of the query's own text; any other (a CHECK
    /// constraint's message quotes the schema's SQL) is replaced by the error code's name.
    @Test func errorMessagesNeverQuoteTheSchema() throws {
        var connection: OpaquePointer?
        #expect(sqlite3_open(":memory:", &connection) == SQLITE_OK)
        let db = try #require(connection)
        defer { sqlite3_close(db) }
        _ = sqlite3_exec(db, "CREATE TABLE t (x INTEGER CHECK (x > 41 AND secret_rule(x)))", nil, nil, nil)
        _ = sqlite3_exec(db, "CREATE TABLE u (x INTEGER CHECK (x > 41))", nil, nil, nil)
        #expect(sqlite3_exec(db, "INSERT INTO u VALUES (1)", nil, nil, nil) != SQLITE_OK)
        #expect(String(cString: sqlite3_errmsg(db)).contains("x > 41"), "SQLite's own message quotes the schema")
        let safe = QueryErrorText.safe(db)
        #expect(!safe.contains("x > 41") && safe.contains("constraint failed"), "\(safe)")
        _ = sqlite3_exec(db, "SELEKT 1", nil, nil, nil)
        #expect(QueryErrorText.safe(db).hasPrefix("near \"SELEKT\""), "the query's own text passes")
    }

    @Test func invalidSQLIsNamedAsSuch() throws {
        let temporary = try TemporaryStore()
        #expect {
            _ = try temporary.store.query("SELEKT 1")
        } throws: { ($0 as? QueryError)?.code == .invalid }
    }

    @Test func aRunawayQueryStopsAtTheTimeLimit() throws {
        let temporary = try TemporaryStore()
        let started = ContinuousClock.now
        #expect {
            _ = try temporary.store.query(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
                timeLimit: .milliseconds(200)
            )
        } throws: { ($0 as? QueryError)?.code == .timeout }
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func rowsBeyondTheLimitAreCutAndSaidSo() throws {
        let temporary = try TemporaryStore()
        let result = try temporary.store.query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) SELECT i FROM n",
            maxRows: 10
        )
        #expect(result.rows.count == 10)
        #expect(result.truncated)
    }
}
