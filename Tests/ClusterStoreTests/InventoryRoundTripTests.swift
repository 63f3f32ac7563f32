import ChainModel
import ClusterStore
import Testing

@Suite struct InventoryRoundTripTests {
    @Test func branchedThreeLevelTreeRoundTrips() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        let vm = TemporaryStore.branchedVM()
        try temporary.store.saveInventory(of: vm, at: TemporaryStore.now)

        let loaded = try #require(try temporary.store.vm(id: vm.id))
        #expect(loaded.name == vm.name)
        #expect(loaded.ownership == vm.ownership)
        #expect(loaded.state == .running)
        #expect(loaded.memoryMiB == 2048)
        #expect(Set(loaded.checkpoints) == Set(vm.checkpoints))
        let tree = try CheckpointTree(loaded.checkpoints)
        #expect(
            tree.depthFirst().map { "\($0.checkpoint.name)@\($0.depth)" } == [
                "base@0", "upgrade@1", "patched@2", "reverted@1",
            ]
        )
        #expect(Set(loaded.files) == Set(vm.files))
        #expect(loaded.chains == vm.chains)
    }

    @Test func reportingAgainReplacesTheInventoryButNotOwnership() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        var vm = TemporaryStore.branchedVM()
        try temporary.store.saveInventory(of: vm, at: TemporaryStore.now)

        vm.checkpoints.removeAll { $0.id == CheckpointID("cp-reverted") }
        vm.files.removeAll { $0.checkpoint == CheckpointID("cp-reverted") }
        vm.chains.removeLast()
        vm.state = .off
        vm.ownership = Ownership(owner: NodeName("node2"), epoch: Epoch(9))  // an inventory cannot move a VM
        try temporary.store.saveInventory(of: vm, at: TemporaryStore.now + .seconds(60))

        let loaded = try #require(try temporary.store.vm(id: vm.id))
        #expect(loaded.ownership == Ownership(owner: NodeName("node1"), epoch: .initial))
        #expect(loaded.state == .off)
        #expect(loaded.checkpoints.count == 3)
        #expect(loaded.files.count == vm.files.count)
        #expect(loaded.chains == vm.chains)
    }

    @Test(arguments: [
        #"web'); DROP TABLE vm;--"#,
        #"a "quoted" name"#,
        "../../etc/passwd",
        #"C:\VMs\web01"#,
        "ünïcødé ✓",
    ])
    func hostileNamesRoundTripAsData(name: String) throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        let vm = TemporaryStore.branchedVM(name: name, id: "id-\(name)")
        try temporary.store.saveInventory(of: vm, at: TemporaryStore.now)
        let found = try temporary.store.vms(named: name)
        #expect(found.map(\.id) == [vm.id])
        #expect(found.first?.files.first?.path == "/mnt/csv1/\(name)/config.vmcx")
        #expect(try temporary.store.nodes().count == 2, "every table is still there")
    }

    @Test func nodesAndVolumesRoundTrip() throws {
        let temporary = try TemporaryStore()
        try temporary.seedCluster()
        var node = Node(name: NodeName("node3"), state: .draining, driver: .libvirt, memoryMiB: 1024)
        node.lastInventoryAt = TemporaryStore.now
        try temporary.store.saveNode(node, at: TemporaryStore.now)
        #expect(try temporary.store.node(named: NodeName("node3")) == node)
        #expect(try temporary.store.node(named: NodeName("nope")) == nil)
        #expect(try temporary.store.volumes() == [Volume(id: TemporaryStore.csv1, name: "csv1")])
        let mounts = try temporary.store.mounts()
        #expect(mounts.map(\.node.rawValue) == ["node1", "node2"])
        #expect(mounts.allSatisfy { $0.lastProbeAt == TemporaryStore.now })
    }
}
