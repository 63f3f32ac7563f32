import ChainModel
import ClusterStore
import GRDB
import Testing

/// The migration journal (SPEC §6) on a real database: epochs reserved once, ownership changed only by a commit.
@Suite struct MigrationJournalTests {
    func storeWithVM() throws -> (TemporaryStore, VM) {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        let vm = TemporaryStore.branchedVM()
        try temporary.store.saveInventory(of: vm, at: TemporaryStore.now)
        return (temporary, vm)
    }

    @Test func aCommittedMigrationMovesOwnerAndEpochInOneStep() throws {
        let (temporary, vm) = try storeWithVM()
        let store = temporary.store
        let now = TemporaryStore.now
        let record = try store.planMigration(
            vm: vm.id,
            source: NodeName("node1"),
            target: NodeName("node2"),
            kind: .migration,
            requestedBy: "admin",
            at: now
        )
        #expect(record.epoch == Epoch(2))
        #expect(try store.migration(id: record.id) == record, "a plan returns the record as it was written")
        #expect(try store.activeMigrations().map(\.id) == [record.id])
        #expect(try store.snapshot().operationsInProgress == [vm.id])
        try store.advanceMigration(record.id, to: .preflight, detail: nil, at: now)
        try store.advanceMigration(record.id, to: .sourceReleased, detail: nil, at: now)
        #expect(try store.vm(id: vm.id)?.owner == NodeName("node1"), "released is not yet moved")
        try store.advanceMigration(record.id, to: .targetAdopted, detail: nil, at: now)
        try store.commitMigration(record.id, at: now + .seconds(1))
        let moved = try #require(try store.vm(id: vm.id))
        #expect(moved.owner == NodeName("node2"))
        #expect(moved.ownership.epoch == Epoch(2))
        #expect(moved.files == vm.files, "no checkpoint or file row is lost")
        let history = try store.history(vm: vm.id)
        #expect(history.map(\.state) == [.committed])
        #expect(
            history.first?.steps.map(\.state) == [.planned, .preflight, .sourceReleased, .targetAdopted, .committed]
        )
        #expect(try store.activeMigrations().isEmpty)
    }

    @Test func aCheckpointOperationSharesTheJournalKeepsItsOwnerAndMovesTheEpoch() throws {
        let (temporary, vm) = try storeWithVM()
        let store = temporary.store
        let now = TemporaryStore.now
        let order = #"{"action":"create","checkpoint":"c1"}"#
        let record = try store.planMigration(
            vm: vm.id,
            source: NodeName("node1"),
            target: NodeName("node1"),
            kind: .checkpointCreate,
            requestedBy: "admin",
            operation: order,
            at: now
        )
        #expect(record.operation == order)
        #expect(try store.migration(id: record.id) == record)
        #expect(try store.snapshot().operationKinds == [vm.id: "checkpoint-create"])
        // One operation per VM at a time, moves included.
        #expect(throws: StoreError.self) {
            try store.planMigration(
                vm: vm.id,
                source: NodeName("node1"),
                target: NodeName("node2"),
                kind: .migration,
                requestedBy: "admin",
                at: now
            )
        }
        try store.advanceMigration(record.id, to: .preflight, detail: nil, at: now)
        // An operation is never released or adopted; the trigger allows only its own steps.
        #expect(throws: StoreError.self) {
            try store.advanceMigration(record.id, to: .sourceReleased, detail: nil, at: now)
        }
        try store.advanceMigration(record.id, to: .applying, detail: nil, at: now)
        #expect(throws: StoreError.self) { try store.commitMigration(record.id, at: now) }
        try store.advanceMigration(record.id, to: .applied, detail: "taken", at: now)
        try store.commitMigration(record.id, at: now + .seconds(1))
        let after = try #require(try store.vm(id: vm.id))
        #expect(after.owner == NodeName("node1"))
        #expect(after.ownership.epoch == record.epoch)
        #expect(
            try store.history(vm: vm.id).first?.steps.map(\.state)
                == [.planned, .preflight, .applying, .applied, .committed]
        )
    }

    @Test func theSchemaRefusesAnOperationThatMovesAndAMoveThatStays() throws {
        let (temporary, vm) = try storeWithVM()
        let store = temporary.store
        #expect(throws: StoreError.self) {
            try store.planMigration(
                vm: vm.id,
                source: NodeName("node1"),
                target: NodeName("node2"),
                kind: .checkpointDelete,
                requestedBy: "admin",
                operation: #"{"action":"delete","checkpoint":"c1"}"#,
                at: TemporaryStore.now
            )
        }
        #expect(throws: StoreError.self) {
            try store.planMigration(
                vm: vm.id,
                source: NodeName("node1"),
                target: NodeName("node1"),
                kind: .migration,
                requestedBy: "admin",
                at: TemporaryStore.now
            )
        }
        #expect(throws: StoreError.self) {
            try store.planMigration(
                vm: vm.id,
                source: NodeName("node1"),
                target: NodeName("node1"),
                kind: .checkpointRevert,
                requestedBy: "admin",
                at: TemporaryStore.now
            )
        }
        #expect(try store.activeMigrations().isEmpty)
    }

    @Test func anAbortedMigrationUsesUpItsEpochAndMovesNothing() throws {
        let (temporary, vm) = try storeWithVM()
        let store = temporary.store
        let now = TemporaryStore.now
        let first = try store.planMigration(
            vm: vm.id,
            source: NodeName("node1"),
            target: NodeName("node2"),
            kind: .migration,
            requestedBy: "admin",
            at: now
        )
        #expect(throws: StoreError.self, "one active migration per VM") {
            try store.planMigration(
                vm: vm.id,
                source: NodeName("node1"),
                target: NodeName("node2"),
                kind: .migration,
                requestedBy: "admin",
                at: now
            )
        }
        try store.abortMigration(first.id, reason: "preflight refused", reasons: #"[{"code":"file-missing"}]"#, at: now)
        #expect(try store.vm(id: vm.id)?.owner == NodeName("node1"))
        #expect(try store.vm(id: vm.id)?.ownership.epoch == Epoch(1))
        let second = try store.planMigration(
            vm: vm.id,
            source: NodeName("node1"),
            target: NodeName("node2"),
            kind: .migration,
            requestedBy: "admin",
            at: now + .seconds(1)
        )
        #expect(second.epoch == Epoch(3), "epoch 2 stays used although its migration aborted")
        #expect(throws: StoreError.self, "the VM is not node2's to move") {
            try store.planMigration(
                vm: vm.id,
                source: NodeName("node2"),
                target: NodeName("node1"),
                kind: .migration,
                requestedBy: "admin",
                at: now
            )
        }
        #expect(throws: StoreError.self, "aborted is final") {
            try store.advanceMigration(first.id, to: .preflight, detail: nil, at: now)
        }
        let history = try store.history()
        #expect(history.map(\.epoch) == [Epoch(3), Epoch(2)], "newest first")
        #expect(history.last?.abortReason == "preflight refused")
    }

    /// While ownership is rebuilt (a new, lost or restored database), a report holding a higher epoch than the database
    /// moves ownership; an equal or lower one is only a listing.
    ///
    /// At any other time no report moves a VM, whatever epoch it claims (issue 20: any agent could take any VM).
    @Test func theHighestReportedEpochWinsOnlyWhileOwnershipIsRebuilt() throws {
        let (temporary, vm) = try storeWithVM()
        let store = temporary.store
        func report(from node: String, epoch: Int64, rebuilding: Bool = true) throws -> ReportOutcome {
            var copy = vm
            copy.ownership = Ownership(owner: NodeName(node), epoch: Epoch(epoch))
            return try store.ingest(
                ReportBatch(
                    node: NodeName(node),
                    driver: .hypervJSON,
                    memoryMiB: nil,
                    volumes: [
                        VolumeReport(
                            volume: Volume(id: TemporaryStore.csv1, name: "csv1"),
                            mountPath: "/mnt/csv1",
                            filesystemType: nil,
                            probeWritten: nil,
                            probeRead: []
                        )
                    ],
                    vms: [copy],
                    listed: [copy.id],
                    inventoryErrors: [],
                    discoveredDisks: [],
                    probeWindow: .seconds(600),
                    rebuildingOwnership: rebuilding
                ),
                at: TemporaryStore.now
            )
        }
        let claimed = try report(from: "node2", epoch: ValueBounds.epoch, rebuilding: false)
        #expect(claimed.listedOnly == 1 && claimed.rebuilt == 0, "outside a rebuild a higher epoch is only a listing")
        #expect(try store.vm(id: vm.id)?.owner == NodeName("node1"))
        #expect(try store.vm(id: vm.id)?.ownership.epoch == Epoch(1))
        #expect(try report(from: "node2", epoch: 1).listedOnly == 1)
        #expect(try store.vm(id: vm.id)?.owner == NodeName("node1"))
        let outcome = try report(from: "node2", epoch: 4)
        #expect(outcome.rebuilt == 1)
        let moved = try #require(try store.vm(id: vm.id))
        #expect(moved.owner == NodeName("node2"))
        #expect(moved.ownership.epoch == Epoch(4))
        #expect(try report(from: "node1", epoch: 3).listedOnly == 1, "the old owner's lower epoch changes nothing")
        #expect(try store.vm(id: vm.id)?.owner == NodeName("node2"))
        let events = try store.writer.read { db in
            try String.fetchAll(db, sql: "SELECT kind FROM event")
        }
        #expect(events == ["ownership-rebuilt"])
    }
}
