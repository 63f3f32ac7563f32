import ChainModel
import ClusterStore
import GRDB
import Testing

/// What failover keeps in the cluster database: node states with events, held VMs, counted failovers, `vm clear`,
/// and `node remove`.
@Suite struct FailoverStoreTests {
    func failOver(_ store: ClusterStore, _ vm: VMID, from: String, to: String, at now: Timestamp) throws {
        let record = try store.planMigration(
            vm: vm,
            source: NodeName(from),
            target: NodeName(to),
            kind: .failover,
            requestedBy: "failover",
            at: now
        )
        try store.advanceMigration(record.id, to: .preflight, detail: nil, at: now)
        try store.advanceMigration(record.id, to: .sourceReleased, detail: "fenced", at: now)
        try store.advanceMigration(record.id, to: .targetAdopted, detail: nil, at: now)
        try store.commitMigration(record.id, at: now)
    }

    @Test func failoversAreCountedUntilClearedAndBlocksSurviveUntilCleared() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        let vm = TemporaryStore.branchedVM()
        let store = temporary.store
        let now = TemporaryStore.now
        try store.saveInventory(of: vm, at: now)
        try failOver(store, vm.id, from: "node1", to: "node2", at: now + .seconds(1))
        try failOver(store, vm.id, from: "node2", to: "node1", at: now + .seconds(2))
        #expect(try store.failoverRecord(since: now).failovers[vm.id]?.count == 2)
        #expect(try store.failoverRecord(since: now + .seconds(1)).failovers[vm.id]?.count == 1, "older ones age out")

        try store.blockFailover(vm: vm.id, node: NodeName("node1"), summary: "anti-affinity", reasons: "[]", at: now)
        #expect(try store.failoverRecord(since: now).blocked == [vm.id: "anti-affinity"])
        let view = try store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT vm, node, summary FROM failover_blocked")
        }
        #expect(view.map { $0["vm"] as String } == [vm.name])

        #expect(try store.clearFailover(vm: vm.id, actor: "admin", at: now + .seconds(3)))
        let cleared = try store.failoverRecord(since: now)
        #expect(cleared.blocked.isEmpty)
        #expect(cleared.failovers[vm.id] == nil, "vm clear restarts the count")
        #expect(try !store.clearFailover(vm: vm.id, actor: "admin", at: now + .seconds(4)))
    }

    /// A failover round reads a fenced node's VMs in full except those already moving (issue 27).
    @Test func aNodesVMsAreReadInFullExceptTheOnesNamed() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        let store = temporary.store
        let vms = (0..<3).map { TemporaryStore.branchedVM(name: "web0\($0)", id: "vm-\($0)") }
        for vm in vms { try store.saveInventory(of: vm, at: TemporaryStore.now) }
        let all = try store.vms(ownedBy: NodeName("node1"))
        #expect(all.count == 3 && all.allSatisfy { $0.files.count == vms[0].files.count })
        let rest = try store.vms(ownedBy: NodeName("node1"), except: [vms[1].id])
        #expect(Set(rest) == Set(all.filter { $0.id != vms[1].id }), "the others whole, checkpoints, files and chains")
        #expect(try store.vms(ownedBy: NodeName("node1"), except: Set(vms.map(\.id))).isEmpty)
        #expect(try store.vms(ownedBy: NodeName("node2"), except: [vms[0].id]).isEmpty, "another node's VMs: none")
        #expect(try Set(store.vms(ownedBy: NodeName("node1"), except: [VMID("unknown")])) == Set(all))
    }

    @Test func nodeStatesAreRecordedWithTheirReasonAndRemovalNeedsAnEmptyNode() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        let vm = TemporaryStore.branchedVM()
        let store = temporary.store
        try store.saveInventory(of: vm, at: TemporaryStore.now)
        try store.setNodeState(
            NodeName("node1"),
            to: .down,
            because: "lease ran out",
            actor: "failover",
            at: .init(millisecondsSinceEpoch: 5)
        )
        #expect(try store.node(named: NodeName("node1"))?.state == .down)
        let events = try store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT kind, actor, message FROM event WHERE kind LIKE 'node-%'")
        }
        #expect(events.map { $0["kind"] as String } == ["node-down"])
        #expect(events.first?["message"] as String? == "node1 is down: lease ran out")
        #expect(throws: StoreError.self) {
            try store.setNodeState(NodeName("ghost"), to: .up, because: "x", actor: "admin", at: TemporaryStore.now)
        }
        #expect {
            try store.removeNode(NodeName("node1"), actor: "admin", at: TemporaryStore.now)
        } throws: { ($0 as? StoreError)?.code == .conflict }
        let owned = try store.ownership(of: NodeName("node1"))
        #expect(owned.owned.map(\.id) == [vm.id])
        // node2 owns nothing: it goes, with its mounts.
        try store.removeNode(NodeName("node2"), actor: "admin", at: TemporaryStore.now)
        #expect(try store.node(named: NodeName("node2")) == nil)
        #expect(try store.snapshot().mounts.allSatisfy { $0.node != NodeName("node2") })
        #expect {
            try store.removeNode(NodeName("node2"), actor: "admin", at: TemporaryStore.now)
        } throws: { ($0 as? StoreError)?.code == .danglingReference }
    }
}
