import ChainModel
import ClusterStore
import Foundation
import GRDB
import Testing

/// Migration 013 rebuilds `migration` and `migration_step` for checkpoint operations (issue 24): a database made by the
/// release before keeps its journal, steps and history view, and a migration it left under way still finishes.
@Suite struct OperationJournalMigrationTests {
    @Test func aJournalFromTheReleaseBeforeKeepsEveryRowAndStep() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ck-013-\(UUID().uuidString).sqlite")
            .path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        do {
            let pool = try DatabasePool(path: path)
            try ClusterStore.migrator.migrate(pool, upTo: "012-hypervisor-metadata")
            try pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO node (name, state, registered_at) VALUES ('node1', 'up', 1), ('node2', 'up', 1);
                        INSERT INTO vm (id, name, owner, epoch, state, highly_available, registered_at)
                            VALUES ('web1-id', 'web1', 'node1', 3, 'Running', 1, 1);
                        INSERT INTO migration (id, vm_id, kind, source, target, epoch, state, abort_reason, requested_by,
                                               created_at, updated_at)
                            VALUES ('m-old', 'web1-id', 'migration', 'node2', 'node1', 3, 'committed', NULL, 'admin', 1, 2),
                                   ('m-now', 'web1-id', 'drain', 'node1', 'node2', 4, 'source-released', NULL, 'drain', 3, 4);
                        INSERT INTO migration_step (migration_id, seq, state, at, detail)
                            VALUES ('m-old', 0, 'planned', 1, 'epoch 3 reserved'), ('m-old', 1, 'committed', 2, NULL),
                                   ('m-now', 0, 'planned', 3, NULL), ('m-now', 1, 'preflight', 3, NULL),
                                   ('m-now', 2, 'source-released', 4, 'released');
                        """
                )
            }
        }
        let store = try ClusterStore(path: path)
        let history = try store.history(vm: VMID("web1-id"))
        #expect(history.map(\.id) == ["m-now", "m-old"])
        #expect(history.map(\.steps.count) == [3, 2])
        #expect(history.allSatisfy { $0.operation == nil })
        #expect(try store.activeMigrations().map(\.id) == ["m-now"])
        // The migration the old release left under way goes on along its own steps.
        try store.advanceMigration("m-now", to: .targetAdopted, detail: nil, at: Timestamp(millisecondsSinceEpoch: 5))
        try store.commitMigration("m-now", at: Timestamp(millisecondsSinceEpoch: 6))
        #expect(try store.vm(id: VMID("web1-id"))?.ownership == Ownership(owner: NodeName("node2"), epoch: Epoch(4)))
        // The documented view keeps its columns and gains `operation`.
        let rows = try store.query("SELECT id, kind, state, operation FROM migrations ORDER BY id").rows
        #expect(rows.count == 2)
    }
}
