import ChainModel
import Foundation
import GRDB
import Testing

@testable import ClusterStore

/// Issue 27: a heartbeat reads its node's state from memory; the table is read again only after a commit changed a
/// node's name or state, never for a heartbeat time or a rolled-back change.
@Suite struct NodeStateCacheTests {
    @Test func statesComeFromMemoryUntilACommitChangesOne() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        let store = temporary.store
        let node1 = NodeName("node1")
        let node2 = NodeName("node2")

        #expect(try store.nodeState(named: node1) == .up)
        let reads = store.nodeStates.reads
        #expect(reads >= 1)
        for _ in 0..<100 { #expect(try store.nodeState(named: node2) == .up) }
        #expect(try store.nodeState(named: NodeName("node9")) == nil)
        #expect(store.nodeStates.reads == reads, "answered from memory")

        // A heartbeat time and a change of another table leave the copy alone.
        try store.recordHeartbeat(of: node1, at: TemporaryStore.now + .seconds(1))
        try store.saveVolume(Volume(id: VolumeID("v2"), name: "csv2"), at: TemporaryStore.now)
        #expect(try store.nodeState(named: node1) == .up)
        #expect(store.nodeStates.reads == reads)

        // A state change is seen by the next call, with one read.
        try store.setNodeState(node2, to: .fenced, because: "test", actor: "admin", at: TemporaryStore.now)
        #expect(try store.nodeState(named: node2) == .fenced)
        #expect(try store.nodeState(named: node1) == .up)
        #expect(store.nodeStates.reads == reads + 1)

        // A rolled-back change is not.
        try? store.writer.write { db in
            try db.execute(sql: "UPDATE node SET state = 'down' WHERE name = 'node1'")
            throw StoreError(.conflict, "rolled back")
        }
        #expect(try store.nodeState(named: node1) == .up)
        #expect(store.nodeStates.reads == reads + 1)

        // A node heard of for the first time is there at once.
        try store.recordHeartbeat(of: NodeName("node3"), at: TemporaryStore.now)
        #expect(try store.nodeState(named: NodeName("node3")) == .up)
        #expect(store.nodeStates.reads == reads + 2)
    }

    @Test func aStoredStateThisVersionDoesNotKnowIsAnErrorForItsNodeOnly() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        let store = temporary.store
        try store.writer.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA ignore_check_constraints = ON")
            try db.execute(sql: "UPDATE node SET state = 'hibernating' WHERE name = 'node1'")
            try db.execute(sql: "PRAGMA ignore_check_constraints = OFF")
        }
        #expect {
            try store.nodeState(named: NodeName("node1"))
        } throws: { error in
            (error as? StoreError)?.code == .invalidValue && "\(error)".contains("hibernating")
        }
        #expect(try store.nodeState(named: NodeName("node2")) == .up)
    }
}
