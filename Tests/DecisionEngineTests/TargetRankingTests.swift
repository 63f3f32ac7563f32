import ChainModel
import DecisionEngine
import DiskFormatsTesting
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
    /// `best` picks smallest-first without sorting every node (issue 27); it must still be the first allowed node of
    /// the full ranking, whatever the loads, classes, preferences, refusals and exclusions.
    @Test(arguments: 0..<40)
    func bestIsTheFirstAllowedNodeOfTheRanking(seed: Int) {
        var generator = SplitMix64(seed: UInt64(seed) &+ 1)
        func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &generator) < percent }
        var fixture = ClusterFixture()
        let names = (1...24).map { "node\($0)" }
        // Some nodes do not reach csv1: they refuse.
        for name in names.dropFirst(3) {
            fixture.addNode(name, memoryMiB: chance(20) ? 2048 : 16_384, reachesCSV: chance(70))
        }
        for index in 0..<Int.random(in: 0..<30, using: &generator) {
            let node = names[Int.random(in: 0..<names.count, using: &generator)]
            fixture.addRunningVM(
                "other\(index)",
                on: node,
                memoryMiB: [512, 1024, 4096][Int.random(in: 0..<3, using: &generator)],
                antiAffinity: chance(30) ? "db" : nil
            )
        }
        fixture.policies[fixture.vm.id] = PlacementPolicy(
            preferredOwners: chance(40)
                ? (0..<3).map { _ in NodeName(names[Int.random(in: 0..<names.count, using: &generator)]) } : [],
            antiAffinityClass: chance(40) ? "db" : nil
        )
        let excluded = Set(names.filter { _ in chance(15) }.map(NodeName.init(rawValue:)))
        let view = fixture.view
        let ranked = TargetRanking.rank(fixture.vm, in: view).filter { !excluded.contains($0.node) }
        let expected = ranked.first { $0.verdict.allowed }
        let best = TargetRanking.best(fixture.vm, in: view, excluding: excluded)
        #expect(best?.node == expected?.node, "seed \(seed)")
        #expect(best?.preferred == expected?.preferred && best?.softConflict == expected?.softConflict)
        // A plan's kept load order gives the same answer.
        let ordered = TargetRanking.best(fixture.vm, in: view, excluding: excluded, order: .init(view))
        #expect(ordered?.node == expected?.node && ordered?.preferred == expected?.preferred, "seed \(seed)")
        #expect(ordered?.softConflict == expected?.softConflict)
    }

    /// A failover plan keeps the load order up to date as it places VMs (issue 27): after every placement, `best`
    /// with the order is still the first allowed node of the full ranking.
    @Test(arguments: 0..<10)
    func aKeptLoadOrderFollowsEveryPlacement(seed: Int) {
        var generator = SplitMix64(seed: UInt64(seed) &+ 100)
        var fixture = ClusterFixture()
        let names = (1...40).map { "node\($0)" }
        for name in names.dropFirst(3) {
            fixture.addNode(name, memoryMiB: [0, 8192, 16_384][Int.random(in: 0..<3, using: &generator)])
        }
        for index in 0..<60 {
            fixture.addRunningVM(
                "other\(index)",
                on: names[Int.random(in: 0..<names.count, using: &generator)],
                memoryMiB: [512, 1024, 2048][Int.random(in: 0..<3, using: &generator)]
            )
        }
        var view = fixture.view
        var order = TargetRanking.LoadOrder(view)
        for step in 0..<120 {
            let expected = TargetRanking.rank(fixture.vm, in: view).first { $0.verdict.allowed }
            #expect(
                TargetRanking.best(fixture.vm, in: view, order: order)?.node == expected?.node,
                "seed \(seed) step \(step)"
            )
            // Move one of the others, as a plan does with each VM it places.
            let moved = VMID("other\(Int.random(in: 0..<60, using: &generator))-id")
            let from = view.placements[moved]?.owner
            let to = NodeName(names[Int.random(in: 0..<names.count, using: &generator)])
            view.place(moved, on: to)
            order.update([to] + (from.map { [$0] } ?? []), in: view)
        }
    }
}
