import ChainModel
import ClusterStore
import GRDB
import Testing

/// The commit count that keeps the coordinator's placement view: heartbeats do not move it, placement changes do.
@Suite struct CommitCounterTests {
    @Test func heartbeatsDoNotInvalidateButOtherWritesDo() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        let store = temporary.store
        let now = TemporaryStore.now
        let start = store.commits.value
        for second in 1...5 { try store.recordHeartbeat(of: NodeName("node1"), at: now + .seconds(Int64(second))) }
        #expect(store.commits.value == start, "heartbeats alone change nothing placement reads")
        #expect(try store.node(named: NodeName("node1"))?.lastHeartbeatAt == now + .seconds(5))
        try store.recordHeartbeat(of: NodeName("node9"), at: now)
        #expect(store.commits.value == start + 1, "a node heard of for the first time is a change")
        try store.saveNode(Node(name: NodeName("node1"), memoryMiB: 4096), at: now)
        #expect(store.commits.value == start + 2)
        try store.saveInventory(of: TemporaryStore.branchedVM(), at: now)
        #expect(store.commits.value == start + 3)
    }
}

/// The registrations that tell an etcd leader which VMs its database holds that etcd may not: only a committed new
/// `vm` row counts, and the log is bounded.
@Suite struct RegistrationLogTests {
    @Test func onlyACommittedNewVMIsLogged() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        let store = temporary.store
        let now = TemporaryStore.now
        _ = store.registrations.take()
        let start = store.registrations.value
        try store.saveInventory(of: TemporaryStore.branchedVM(name: "web02", id: "web02-id"), at: now)
        #expect(store.registrations.value == start + 1)
        let web02 = try #require(
            try store.writer.read { try Int64.fetchOne($0, sql: "SELECT rowid FROM vm WHERE id = 'web02-id'") }
        )
        #expect(store.registrations.take() == RegistrationLog.Taken(rowIDs: [web02], complete: true))
        #expect(store.registrations.take() == RegistrationLog.Taken(rowIDs: [], complete: true), "taken once")
        #expect(try store.claimable(rowIDs: [web02, 9_999_999]).keys.sorted() == [VMID("web02-id")])

        // The same VM again, a heartbeat and a node: no registration.
        try store.saveInventory(of: TemporaryStore.branchedVM(name: "web02", id: "web02-id"), at: now)
        try store.recordHeartbeat(of: NodeName("node1"), at: now)
        try store.saveNode(Node(name: NodeName("node1"), memoryMiB: 4096), at: now)
        #expect(store.registrations.value == start + 1)
        #expect(store.registrations.take().rowIDs.isEmpty)

        // A new VM whose transaction rolls back, or whose savepoint does inside a commit: not logged.
        struct Refused: Error {}
        let insert = """
            INSERT INTO vm (id, name, owner, epoch, state, highly_available, registered_at)
            VALUES (?, ?, 'node1', 1, 'Running', 1, 0)
            """
        #expect(throws: Refused.self) {
            try store.writer.write { db in
                try db.execute(sql: insert, arguments: ["web03-id", "web03"])
                throw Refused()
            }
        }
        try store.writer.write { db in
            try? db.inSavepoint {
                try db.execute(sql: insert, arguments: ["web04-id", "web04"])
                throw Refused()
            }
            try db.execute(sql: insert, arguments: ["web05-id", "web05"])
        }
        let web05 = try #require(
            try store.writer.read { try Int64.fetchOne($0, sql: "SELECT rowid FROM vm WHERE id = 'web05-id'") }
        )
        #expect(store.registrations.value == start + 2)
        #expect(store.registrations.take() == RegistrationLog.Taken(rowIDs: [web05], complete: true))
    }

    @Test func aLogNoOneTakesOverflowsIntoAWholeRead() throws {
        let log = RegistrationLog(capacity: 3)
        let store = try TemporaryStore()
        try store.seedCluster()
        store.store.writer.writeWithoutTransaction { db in
            db.add(transactionObserver: log, extent: .databaseLifetime)
        }
        for (index, batch) in [[1, 2], [3, 4], [5]].enumerated() {
            try store.store.writer.write { db in
                for vm in batch {
                    try db.execute(
                        sql: """
                            INSERT INTO vm (id, name, owner, epoch, state, highly_available, registered_at)
                            VALUES (?, ?, 'node1', 1, 'Running', 1, 0)
                            """,
                        arguments: ["vm\(vm)-id", "vm\(vm)"]
                    )
                }
            }
            #expect(log.value == index + 1)
        }
        // Two, then two more past the capacity of three: the list says it is incomplete, and the next starts anew.
        #expect(log.take() == RegistrationLog.Taken(rowIDs: [], complete: false))
        #expect(log.take() == RegistrationLog.Taken(rowIDs: [], complete: true))
    }
}
