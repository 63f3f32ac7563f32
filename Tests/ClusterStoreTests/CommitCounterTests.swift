import ChainModel
import ClusterStore
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
