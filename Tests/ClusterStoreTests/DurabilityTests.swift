import ChainModel
import ClusterStore
import Foundation
import GRDB
import Testing

@Suite struct DurabilityTests {
    @Test func writerConnectionIsFullySynchronousInWALWithForeignKeys() throws {
        let temporary = try TemporaryStore()
        #expect(try temporary.store.writerSynchronousMode() == 2)
        let (journal, foreignKeys) = try temporary.store.writer.writeWithoutTransaction { db in
            (
                try String.fetchOne(db, sql: "PRAGMA journal_mode"),
                try Int.fetchOne(db, sql: "PRAGMA foreign_keys")
            )
        }
        #expect(journal == "wal")
        #expect(foreignKeys == 1)
    }

    @Test func reopeningAnExistingDatabaseKeepsFullSyncAndData() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        let reopened = try ClusterStore(path: temporary.path)
        #expect(try reopened.writerSynchronousMode() == 2)
        #expect(try reopened.nodes().count == 2)
    }

    /// Copies of etcd's records are written at `synchronous=NORMAL` (etcd is the authority, and a coordinator copies it
    /// all again when it starts); the writer is back at FULL after each copy, also after one the database refuses.
    @Test func copiesFromTheAuthorityLeaveTheWriterFullySynchronous() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        let vm = TemporaryStore.branchedVM()
        let store = temporary.store
        try store.saveInventory(of: vm, at: TemporaryStore.now)
        let moved = Ownership(owner: NodeName("node2"), epoch: Epoch(2))
        let applied = try store.applyAuthority(owners: [vm.id: moved], migrations: [], nodeStates: [:], policies: [:])
        #expect(applied.changed == 1)
        #expect(try store.vm(id: vm.id)?.ownership == moved)
        #expect(try store.writerSynchronousMode() == 2)

        let refused = MigrationRecord(
            id: "m1",
            vm: vm.id,
            vmName: vm.name,
            kind: .migration,
            source: NodeName("node1"),
            target: NodeName("node2"),
            epoch: Epoch(3),
            state: .planned,
            reasons: "not JSON",
            requestedBy: "admin",
            createdAt: TemporaryStore.now,
            updatedAt: TemporaryStore.now,
            steps: []
        )
        #expect(throws: StoreError.self) {
            try store.applyAuthority(
                owners: [vm.id: Ownership(owner: NodeName("node1"), epoch: Epoch(3))],
                migrations: [refused],
                nodeStates: [:],
                policies: [:]
            )
        }
        #expect(try store.vm(id: vm.id)?.ownership == moved, "a refused copy changes nothing")
        #expect(try store.writerSynchronousMode() == 2)
        // The next commit of the store's own is synced again.
        try store.saveInventory(of: vm, at: TemporaryStore.now + .seconds(1))
        #expect(try store.writerSynchronousMode() == 2)
    }

    @Test func journalCopiesAdvanceInPlaceOrReplaceAndLeaveTheWriterAtFull() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        let vm = TemporaryStore.branchedVM()
        let store = temporary.store
        try store.saveInventory(of: vm, at: TemporaryStore.now)
        func record(
            _ id: String,
            _ state: MigrationRecord.State,
            steps: [MigrationRecord.State],
            epoch: Int64 = 2
        )
            -> MigrationRecord
        {
            MigrationRecord(
                id: id,
                vm: vm.id,
                vmName: vm.name,
                kind: .failover,
                source: NodeName("node1"),
                target: NodeName("node2"),
                epoch: Epoch(epoch),
                state: state,
                abortReason: state == .aborted ? "refused by the target" : nil,
                requestedBy: "failover",
                createdAt: TemporaryStore.now,
                updatedAt: TemporaryStore.now + .seconds(Int64(steps.count)),
                steps: steps.enumerated().map { index, state in
                    .init(state: state, at: TemporaryStore.now + .seconds(Int64(index)), detail: "step \(index)")
                }
            )
        }
        // Step by step, as a leader copies its own writes: each copy advances the held one in place.
        let order: [MigrationRecord.State] = [.planned, .preflight, .sourceReleased, .targetAdopted, .committed]
        for count in 1...order.count {
            let copy = record("m1", order[count - 1], steps: Array(order.prefix(count)))
            let moved = copy.state == .committed ? Ownership(owner: NodeName("node2"), epoch: Epoch(2)) : nil
            try store.copyJournal(JournalCopy(record: copy, ownership: moved))
            #expect(try store.migration(id: "m1") == copy)
        }
        #expect(try store.vm(id: vm.id)?.ownership == Ownership(owner: NodeName("node2"), epoch: Epoch(2)))

        // A replica that missed states: planned → committed is no step the state machine allows, so the copy replaces
        // the record whole.
        try store.copyJournal(JournalCopy(record: record("m2", .planned, steps: [.planned], epoch: 3), ownership: nil))
        let jumped = record("m2", .committed, steps: [.planned, .preflight, .targetAdopted, .committed], epoch: 3)
        try store.copyJournal(
            JournalCopy(record: jumped, ownership: Ownership(owner: NodeName("node1"), epoch: Epoch(3)))
        )
        #expect(try store.migration(id: "m2") == jumped)
        // A copy holding fewer steps than the local one (its history rewritten) replaces it too.
        let rewritten = record("m2", .aborted, steps: [.planned, .aborted], epoch: 3)
        try store.copyJournal(JournalCopy(record: rewritten, ownership: nil))
        #expect(try store.migration(id: "m2") == rewritten)
        #expect(try store.writerSynchronousMode() == 2)
    }

    @Test func failedInventoryWriteLeavesThePreviousReportWhole() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        let good = TemporaryStore.branchedVM()
        try temporary.store.saveInventory(of: good, at: TemporaryStore.now)

        // The new report names a file on a volume nobody reported: refused inside the transaction, which leaves the
        // previous report whole.
        var bad = good
        bad.state = .off
        bad.files.append(
            VMFile(location: .volume(VolumeID("unknown"), relativePath: "x.vhdx"), path: "/x.vhdx", kind: .disk)
        )
        #expect {
            try temporary.store.saveInventory(of: bad, at: TemporaryStore.now + .seconds(5))
        } throws: { error in
            (error as? StoreError)?.code == .danglingReference
        }
        let loaded = try #require(try temporary.store.vm(id: good.id))
        #expect(loaded.state == .running)
        #expect(Set(loaded.files) == Set(good.files))
        #expect(Set(loaded.checkpoints) == Set(good.checkpoints))
        #expect(loaded.chains == good.chains)
    }

    @Test func chainNamingAnUnlistedFileIsRefusedAndNothingIsWritten() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        var vm = TemporaryStore.branchedVM()
        vm.chains.append(DiskChain(elements: [.volume(TemporaryStore.csv1, relativePath: "elsewhere.avhdx")]))
        #expect {
            try temporary.store.saveInventory(of: vm, at: TemporaryStore.now)
        } throws: { error in
            (error as? StoreError)?.code == .invalidInventory
        }
        #expect(try temporary.store.vm(id: vm.id) == nil)
        let documents = try temporary.store.writer.read { db in
            try Int.fetchOne(db, sql: "SELECT (SELECT count(*) FROM vm_inventory) + (SELECT count(*) FROM vm_disk)")
        }
        #expect(documents == 0)
    }

    @Test func aThrowingTransactionRollsBackEveryStatement() throws {
        let temporary = try TemporaryStore()
        struct Injected: Error {}
        #expect(throws: Injected.self) {
            try temporary.store.writer.write { db in
                try db.execute(sql: "INSERT INTO node (name, registered_at) VALUES ('node9', 0)")
                throw Injected()
            }
        }
        #expect(try temporary.store.node(named: NodeName("node9")) == nil)
    }

    @Test func unopenableDatabaseIsATypedError() throws {
        #expect {
            try ClusterStore(path: "/proc/definitely/not/here/cluster.sqlite")
        } throws: { error in
            (error as? StoreError)?.code == .unavailable
        }
    }
}
