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

/// The registration count that tells an etcd leader its database holds VMs etcd may not: only a new `vm` row counts.
@Suite struct RegistrationCounterTests {
    @Test func onlyACommittedNewVMCounts() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        let store = temporary.store
        let now = TemporaryStore.now
        let start = store.registrations.value
        try store.saveInventory(of: TemporaryStore.branchedVM(name: "web02", id: "web02-id"), at: now)
        #expect(store.registrations.value == start + 1)
        // The same VM again, a heartbeat and a node: no registration.
        try store.saveInventory(of: TemporaryStore.branchedVM(name: "web02", id: "web02-id"), at: now)
        try store.recordHeartbeat(of: NodeName("node1"), at: now)
        try store.saveNode(Node(name: NodeName("node1"), memoryMiB: 4096), at: now)
        #expect(store.registrations.value == start + 1)
        // A new VM whose inventory is refused is rolled back: no registration.
        var refused = TemporaryStore.branchedVM(name: "web03", id: "web03-id")
        refused.chains.append(DiskChain(checkpoint: nil, elements: [.volume(TemporaryStore.csv1, relativePath: "x")]))
        #expect(throws: StoreError.self) { try store.saveInventory(of: refused, at: now) }
        #expect(try store.vm(id: VMID("web03-id")) == nil)
        #expect(store.registrations.value == start + 1)
    }
}
