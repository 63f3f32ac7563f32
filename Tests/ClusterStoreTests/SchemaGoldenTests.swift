import ClusterStore
import Foundation
import GRDB
import Testing

/// The schema after every migration must equal the checked-in dump.
///
/// A difference means a shipped migration was edited (never allowed) or a new one was added without updating the golden
/// file. `RECORD_GOLDEN=1 swift test` rewrites the file and still fails, so CI cannot pass on a recording.
@Suite struct SchemaGoldenTests {
    @Test func schemaAfterAllMigrationsMatchesTheGoldenDump() throws {
        let temporary = try TemporaryStore()
        let dump = try temporary.store.schemaDump()
        let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/schema.sql")
        if ProcessInfo.processInfo.environment["RECORD_GOLDEN"] == "1" {
            try dump.write(to: golden, atomically: true, encoding: .utf8)
            Issue.record(
                "recorded a new golden schema at \(golden.path); review it and run again without RECORD_GOLDEN"
            )
            return
        }
        let expected = try String(contentsOf: golden, encoding: .utf8)
        #expect(dump == expected, "schema differs from Fixtures/schema.sql")
    }

    @Test func queryViewsExist() throws {
        let temporary = try TemporaryStore()
        let views = try temporary.store.writer.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY name")
        }
        #expect(
            views == [
                "checkpoints", "failover_blocked", "files", "migrations", "nodes", "reachability", "vms", "volumes",
            ]
        )
    }
}
