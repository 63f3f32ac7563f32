import ChainModel
import ClusterStore
import GRDB
import Testing

/// The database itself refuses what would corrupt the cluster, even when Swift validation is bypassed.
@Suite struct SchemaConstraintTests {
    func storeWithVM() throws -> TemporaryStore {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        try temporary.store.saveInventory(of: TemporaryStore.branchedVM(), at: TemporaryStore.now)
        return temporary
    }

    let vmID = "8d3c6f0e-5a43-4e0b-9b0e-2f6f3a1c9a10"

    @Test func danglingParentThroughTheStoreIsATypedError() throws {
        let temporary = try storeWithVM()
        var vm = TemporaryStore.branchedVM()
        vm.checkpoints.append(Checkpoint(id: CheckpointID("cp-x"), name: "x", parent: CheckpointID("cp-gone")))
        #expect {
            try temporary.store.saveInventory(of: vm, at: TemporaryStore.now)
        } throws: { error in
            (error as? StoreError)?.code == .danglingReference
        }
    }

    @Test func epochOnlyGrows() throws {
        let temporary = try storeWithVM()
        try temporary.store.writer.write { db in
            try db.execute(sql: "UPDATE vm SET epoch = 5 WHERE id = ?", arguments: [vmID])
        }
        #expect {
            try temporary.store.writer.write { db in
                try db.execute(sql: "UPDATE vm SET epoch = 4 WHERE id = ?", arguments: [vmID])
            }
        } throws: { error in
            (error as? DatabaseError)?.message?.hasPrefix("epoch-decrease") == true
        }
    }

    @Test func oneActiveMigrationPerVMAndEachEpochUsedOnce() throws {
        let temporary = try storeWithVM()
        func plan(_ id: String, epoch: Int) throws {
            try temporary.store.writer.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO migration (id, vm_id, kind, source, target, epoch, state, requested_by,
                                               created_at, updated_at)
                        VALUES (?, ?, 'migration', 'node1', 'node2', ?, 'planned', 'admin', 0, 0)
                        """,
                    arguments: [id, vmID, epoch]
                )
            }
        }
        try plan("m1", epoch: 2)
        #expect(throws: DatabaseError.self) { try plan("m2", epoch: 3) }
        try temporary.store.writer.write { db in
            try db.execute(sql: "UPDATE migration SET state = 'aborted', abort_reason = 'test' WHERE id = 'm1'")
        }
        #expect(throws: DatabaseError.self) { try plan("m3", epoch: 2) }  // epoch 2 is used up
        try plan("m3", epoch: 3)
    }

    @Test func migrationTakesOnlyTheStepsOfTheStateMachine() throws {
        let temporary = try storeWithVM()
        try temporary.store.writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO migration (id, vm_id, kind, source, target, epoch, state, requested_by,
                                           created_at, updated_at)
                    VALUES ('m1', ?, 'migration', 'node1', 'node2', 2, 'planned', 'admin', 0, 0)
                    """,
                arguments: [vmID]
            )
        }
        func move(to state: String) throws {
            try temporary.store.writer.write { db in
                try db.execute(sql: "UPDATE migration SET state = ? WHERE id = 'm1'", arguments: [state])
            }
        }
        #expect(throws: DatabaseError.self) { try move(to: "committed") }  // skipping every step
        try move(to: "preflight")
        try move(to: "source-released")
        #expect(throws: DatabaseError.self) { try move(to: "preflight") }  // backwards
        try move(to: "target-adopted")
        #expect(throws: DatabaseError.self) { try move(to: "aborted") }  // adopted rolls forward only
        try move(to: "committed")
        #expect(throws: DatabaseError.self) { try move(to: "aborted") }  // terminal
    }

    @Test(arguments: [
        "UPDATE vm SET state = 'Exploded'",
        "UPDATE node SET state = 'sleepy'",
        // A VM's inventory is JSON, and each disk row belongs to a VM (migration 019; the document's contents are
        // checked where it is built, `InventoryDocumentTests`).
        "UPDATE vm_inventory SET body = '{\"files\": ['",
        "INSERT INTO vm_disk (volume_id, relative_path, vm_id) VALUES ('v', 'p', 'no-such-vm')",
        "INSERT INTO vm_inventory (vm_id, body) VALUES ('no-such-vm', '{}')",
    ])
    func valuesOutsideTheirDomainAreRefused(sql: String) throws {
        let temporary = try storeWithVM()
        #expect(throws: DatabaseError.self) {
            try temporary.store.writer.write { db in try db.execute(sql: sql) }
        }
    }
}
