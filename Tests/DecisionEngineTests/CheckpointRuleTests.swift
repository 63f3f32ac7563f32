import ChainModel
import DecisionEngine
import Testing

/// The checkpoint location rule (SPEC §5, issue 24), before any file exists: where each new file goes and whether
/// every possible owner of the HA VM can read it there.
@Suite struct CheckpointRuleTests {
    @Test func aCheckpointOnTheSharedVolumeIsAllowedAndPlacedBesideTheDiskItCovers() {
        let fixture = ClusterFixture()
        let plan = CheckpointRule.create(fixture.vm, name: "c2", memory: true, in: fixture.view)
        #expect(plan.allowed, "\(plan.reasons)")
        #expect(plan.files.map(\.path) == ["/mnt/csv1/web01/web01.c2.avhdx", "/mnt/csv1/web01/web01.c2.vmrs"])
        #expect(plan.files.map(\.kind) == [.overlay, .memory])
        #expect(plan.files[0].covers == "/mnt/csv1/web01/disk_cp1.avhdx")
        #expect(plan.files[1].location == .volume(ClusterFixture.csv1, relativePath: "web01/web01.c2.vmrs"))
        #expect(plan.files[1].bytes == 4096 << 20, "a memory file counted at the VM's memory size")
    }

    @Test func aNewFileUnderNoVolumeOrOnAVolumeAPossibleOwnerLacksIsRefused() {
        var fixture = ClusterFixture()
        // The current disk on node1's local volume: the new overlay would be there too.
        fixture.vm.files[2].location = .volume(ClusterFixture.local("node1"), relativePath: "web01/disk_cp1.avhdx")
        fixture.vm.files[2].path = "/var/lib/local/web01/disk_cp1.avhdx"
        fixture.vm.chains = [DiskChain(elements: [fixture.vm.files[2].location, fixture.vm.files[3].location])]
        let local = CheckpointRule.create(fixture.vm, name: "c2", memory: false, in: fixture.view)
        #expect(local.reasons.map(\.code) == [.checkpointLocationLocal])
        #expect(local.reasons[0].path == "/var/lib/local/web01/web01.c2.avhdx")
        #expect(local.reasons[0].message.contains("node2, node3 do not reach"), "\(local.reasons[0].message)")
        // Under no marker at all.
        fixture.vm.files[2].location = .nodeLocal(NodeName("node1"), absolutePath: "/srv/web01/disk_cp1.avhdx")
        fixture.vm.files[2].path = "/srv/web01/disk_cp1.avhdx"
        fixture.vm.chains = [DiskChain(elements: [fixture.vm.files[2].location, fixture.vm.files[3].location])]
        let unmarked = CheckpointRule.create(fixture.vm, name: "c2", memory: false, in: fixture.view)
        #expect(unmarked.reasons.map(\.code) == [.checkpointLocationLocal])
        #expect(
            unmarked.files.first?.location == .nodeLocal(NodeName("node1"), absolutePath: "/srv/web01/web01.c2.avhdx")
        )
        // A VM that is not highly available has no other owner to strand: the rule does not apply.
        fixture.policies[fixture.vm.id] = PlacementPolicy(highlyAvailable: false)
        #expect(CheckpointRule.create(fixture.vm, name: "c2", memory: false, in: fixture.view).allowed)
        // Possible owners limited to those that reach the volume: allowed again.
        fixture.policies[fixture.vm.id] = PlacementPolicy(possibleOwners: [NodeName("node1")])
        #expect(CheckpointRule.create(fixture.vm, name: "c2", memory: false, in: fixture.view).allowed)
    }

    @Test func tooLittleFreeSpaceAnOperationUnderWayAndABrokenChainRefuse() {
        var fixture = ClusterFixture()
        fixture.mounts[0].freeBytes = 100 << 20
        fixture.busy = [fixture.vm.id]
        fixture.vm.files[3].problem = .missing
        let plan = CheckpointRule.create(fixture.vm, name: "c2", memory: true, in: fixture.view)
        #expect(plan.reasons.map(\.code).sorted() == [.fileMissing, .operationInProgress, .volumeSpaceLow])
        #expect(plan.reasons.first { $0.code == .volumeSpaceLow }?.message.contains("100 MiB free") == true)
        // Enough room for the overlay without memory.
        fixture.busy = []
        fixture.vm.files[3].problem = nil
        #expect(CheckpointRule.create(fixture.vm, name: "c2", memory: false, in: fixture.view).allowed)
        // Room for the 1 MiB overlay, but it would leave 99 MiB of 2,000: below the 5% floor.
        fixture.mounts[0].totalBytes = 2000 << 20
        let floor = CheckpointRule.create(fixture.vm, name: "c2", memory: false, in: fixture.view)
        #expect(floor.reasons.map(\.code) == [.volumeSpaceLow])
        #expect(floor.reasons.first?.message.contains("below minFreeSpace 5.0% of its 2000 MiB") == true)
    }

    @Test func aPendingMergeRefusesAMoveAndACheckpoint() {
        var fixture = ClusterFixture()
        fixture.vm.mergePending = true
        #expect(fixture.check().reasons.map(\.code) == [.operationInProgress])
        #expect(CheckpointRule.common(fixture.vm, in: fixture.view).map(\.code) == [.operationInProgress])
    }

    @Test func namesThatWouldBreakAFileNameAreRefused() {
        #expect(CheckpointRule.nameProblem("before-upgrade_2.1") == nil)
        for bad in ["", "../x", "a/b", ".hidden", "-flag", "a b", "é", String(repeating: "x", count: 65)] {
            #expect(CheckpointRule.nameProblem(bad) != nil, "\(bad)")
        }
    }

    @Test func aCheckpointVolumeInThePolicyTakesTheNewFilesWhereverTheDisksAre() {
        var fixture = ClusterFixture()
        fixture.vm.files[2].location = .volume(ClusterFixture.local("node1"), relativePath: "web01/disk_cp1.avhdx")
        fixture.vm.files[2].path = "/var/lib/local/web01/disk_cp1.avhdx"
        fixture.vm.chains = [DiskChain(elements: [fixture.vm.files[2].location, fixture.vm.files[3].location])]
        fixture.policies[fixture.vm.id] = PlacementPolicy(checkpointVolume: ClusterFixture.csv1)
        let plan = CheckpointRule.create(fixture.vm, name: "c2", memory: true, in: fixture.view)
        #expect(plan.allowed, "\(plan.reasons)")
        #expect(plan.files.map(\.path) == ["/mnt/csv1/web01/web01.c2.avhdx", "/mnt/csv1/web01/web01.c2.vmrs"])
        #expect(plan.files[0].covers == "/var/lib/local/web01/disk_cp1.avhdx")
        #expect(plan.files[0].location == .volume(ClusterFixture.csv1, relativePath: "web01/web01.c2.avhdx"))
        // A checkpoint volume the owner does not mount: refused, saying so.
        fixture.policies[fixture.vm.id] = PlacementPolicy(checkpointVolume: ClusterFixture.local("node2"))
        let unmounted = CheckpointRule.create(fixture.vm, name: "c2", memory: false, in: fixture.view)
        #expect(unmounted.reasons.map(\.code).contains(.checkpointLocationLocal))
        #expect(unmounted.reasons.first?.message.contains("not mounted on its owner node1") == true)
    }
}
