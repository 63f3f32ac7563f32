import ChainModel
import DecisionEngine
import Testing

@Suite struct TargetRankingTests {
    func fourNodes() -> ClusterFixture {
        var fixture = ClusterFixture()
        fixture.nodes.append(Node(name: NodeName("node4"), memoryMiB: 16_384, lastInventoryAt: ClusterFixture.now))
        fixture.mounts.append(
            VolumeMount(
                volume: ClusterFixture.csv1,
                node: NodeName("node4"),
                mountPath: "/csv",
                lastProbeAt: ClusterFixture.now
            )
        )
        return fixture
    }

    @Test func preferredOwnersComeFirstInTheirOrderThenLeastLoaded() {
        var fixture = fourNodes()
        fixture.policies[fixture.vm.id] = PlacementPolicy(preferredOwners: [NodeName("node4"), NodeName("node2")])
        fixture.addRunningVM("a", on: "node4", memoryMiB: 8192)
        fixture.addRunningVM("b", on: "node3", memoryMiB: 2048)
        let ranked = TargetRanking.rank(fixture.vm, in: fixture.view)
        #expect(ranked.map(\.node.rawValue) == ["node4", "node2", "node3"])
        #expect(ranked.map(\.preferred) == [true, true, false])
        #expect(TargetRanking.best(fixture.vm, in: fixture.view)?.node == NodeName("node4"))
    }

    @Test func leastLoadedWinsWithoutPreferences() {
        var fixture = fourNodes()
        fixture.addRunningVM("a", on: "node2", memoryMiB: 8192)
        fixture.addRunningVM("b", on: "node3", memoryMiB: 2048)
        #expect(TargetRanking.rank(fixture.vm, in: fixture.view).map(\.node.rawValue) == ["node4", "node3", "node2"])
    }

    @Test func refusedPreferredOwnerIsSkippedForTheNextAllowedNode() {
        var fixture = fourNodes()
        fixture.policies[fixture.vm.id] = PlacementPolicy(preferredOwners: [NodeName("node2")])
        fixture.setNode("node2") { $0.state = .draining }
        let best = TargetRanking.best(fixture.vm, in: fixture.view)
        #expect(best?.node == NodeName("node3"))
        #expect(TargetRanking.rank(fixture.vm, in: fixture.view).first?.verdict.codes == [.targetNotEligible])
    }

    @Test func softAntiAffinityRanksConflictingNodesLast() {
        var fixture = fourNodes()
        fixture.classes = [AntiAffinityClass(name: "web")]
        fixture.policies[fixture.vm.id] = PlacementPolicy(antiAffinityClass: "web")
        fixture.addRunningVM("web02", on: "node2", memoryMiB: 512, antiAffinity: "web")
        fixture.addRunningVM("heavy", on: "node3", memoryMiB: 8192)
        let ranked = TargetRanking.rank(fixture.vm, in: fixture.view)
        #expect(ranked.map(\.node.rawValue) == ["node4", "node3", "node2"])
        #expect(ranked.last?.softConflict == true)
        #expect(ranked.allSatisfy { $0.verdict.allowed })
    }

    @Test func noAllowedTargetGivesNilWithEveryVerdict() {
        var fixture = ClusterFixture()
        fixture.moveFileToLocalVolume(0, of: "node1")
        #expect(TargetRanking.best(fixture.vm, in: fixture.view) == nil)
        let ranked = TargetRanking.rank(fixture.vm, in: fixture.view)
        #expect(ranked.count == 2)
        #expect(ranked.allSatisfy { $0.verdict.codes == [.fileOnLocalVolume] })
    }

    @Test func placingAVMUpdatesTheLoadForTheNextDecision() {
        var fixture = ClusterFixture()
        fixture.addRunningVM("big", on: "node2", memoryMiB: 10_240)
        var view = fixture.view
        #expect(StrandRule.check(fixture.vm, to: NodeName("node2"), in: view).allowed)
        view.place(VMID("big-id"), on: NodeName("node3"))
        view.place(fixture.vm.id, on: NodeName("node3"))
        #expect(view.freeMemoryMiB(on: NodeName("node3")) == 16_384 - 10_240 - 4096)
        #expect(view.freeMemoryMiB(on: NodeName("node2")) == 16_384)
    }
}
