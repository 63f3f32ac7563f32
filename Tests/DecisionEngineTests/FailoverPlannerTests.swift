import ChainModel
import DecisionEngine
import Testing

@Suite struct FailoverPlannerTests {
    /// node1 fails holding five VMs: priorities decide the order, each move counts against its target's memory, a
    /// `none` VM stays, and the VM with a checkpoint file on node1's local volume is held with that one reason.
    @Test func priorityOrderLoadAccountingAndStrandedVMsHeld() {
        var fixture = ClusterFixture()
        func vm(_ name: String, memory: Int, priority: FailoverPriority) -> VM {
            var vm = ClusterFixture.web01(id: "\(name)-id", name: name)
            vm.memoryMiB = memory
            fixture.policies[vm.id] = PlacementPolicy(priority: priority)
            return vm
        }
        let web = vm("web01", memory: 4096, priority: .medium)
        let critical = vm("critical", memory: 6144, priority: .high)
        let batch = vm("batch", memory: 6144, priority: .low)
        let scratch = vm("scratch", memory: 1024, priority: .none)
        var stranded = vm("stranded", memory: 1024, priority: .high)
        stranded.files[0].location = .volume(ClusterFixture.local("node1"), relativePath: "stranded/cp1.vmrs")
        stranded.files[0].path = "/var/lib/local/stranded/cp1.vmrs"
        let vms = [web, critical, batch, scratch, stranded]
        fixture.others = vms.dropFirst().map(VMPlacement.init)
        fixture.vm = web

        let plan = FailoverPlanner.plan(failing: NodeName("node1"), vms: vms, in: fixture.view)
        #expect(plan.moves.map(\.vmName) == ["critical", "web01", "batch"], "high, then medium, then low")
        #expect(plan.moves.map(\.target.rawValue) == ["node2", "node3", "node3"], "each move loads its target")
        #expect(plan.blocked.map(\.vmName) == ["stranded"])
        #expect(plan.blocked.first?.reasons.map(\.code) == [.fileOnLocalVolume], "one reason, not one per node")
        #expect(plan.blocked.first?.reasons.first?.path == "/var/lib/local/stranded/cp1.vmrs")
        #expect(!plan.moves.contains { $0.vmName == "scratch" } && !plan.blocked.contains { $0.vmName == "scratch" })
    }

    @Test func memoryRunsOutAndTheRestIsHeld() {
        var fixture = ClusterFixture()
        var vms: [VM] = []
        for index in 0..<5 {
            var vm = ClusterFixture.web01(id: "big\(index)-id", name: "big\(index)")
            vm.memoryMiB = 12_288
            vms.append(vm)
        }
        fixture.vm = vms[0]
        fixture.others = vms.dropFirst().map(VMPlacement.init)
        let plan = FailoverPlanner.plan(failing: NodeName("node1"), vms: vms, in: fixture.view)
        #expect(plan.moves.count == 2, "16 GiB nodes take one 12 GiB VM each")
        #expect(Set(plan.moves.map(\.target.rawValue)) == ["node2", "node3"])
        #expect(plan.blocked.count == 3)
        #expect(plan.blocked.allSatisfy { $0.reasons.map(\.code) == [.insufficientMemory] })
    }
}
