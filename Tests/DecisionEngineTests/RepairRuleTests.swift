import ChainModel
import DecisionEngine
import Testing

/// `repair --dry-run` (issue 25, first part): which stranded files would move where, and every refusal.
@Suite struct RepairRuleTests {
    @Test func theStrandedFilesGoToTheVMsFolderOnAVolumeEveryOwnerReaches() {
        var fixture = ClusterFixture()
        fixture.moveFileToLocalVolume(5, of: "node1")  // the checkpoint's memory file
        #expect(RepairRule.strandedFiles(fixture.vm, in: fixture.view).map(\.path) == ["/var/lib/local/moved/5.bin"])
        #expect(RepairRule.suggestedVolume(fixture.vm, in: fixture.view) == ClusterFixture.csv1)
        let plan = RepairRule.plan(fixture.vm, to: ClusterFixture.csv1, in: fixture.view)
        #expect(plan.allowed, "\(plan.reasons)")
        #expect(plan.copies.map(\.from) == ["/var/lib/local/moved/5.bin"])
        #expect(plan.copies.map(\.to) == ["/mnt/csv1/web01/5.bin"])
        #expect(plan.copies.first?.destination == .volume(ClusterFixture.csv1, relativePath: "web01/5.bin"))
        #expect(plan.copies.first?.kind == .memory)
    }

    @Test func aVolumeSomeOwnerLacksTooLittleSpaceABrokenChainAndAnOperationRefuse() {
        var fixture = ClusterFixture()
        fixture.moveFileToLocalVolume(5, of: "node1")
        let local = RepairRule.plan(fixture.vm, to: ClusterFixture.local("node1"), in: fixture.view)
        #expect(local.reasons.map(\.code) == [.fileOnLocalVolume])
        #expect(local.reasons.first?.message.contains("node2, node3") == true)
        fixture.mounts[0].freeBytes = 1024
        fixture.vm.files[3].problem = .chainBroken
        fixture.busy = [fixture.vm.id]
        let refused = RepairRule.plan(fixture.vm, to: ClusterFixture.csv1, in: fixture.view)
        #expect(refused.reasons.map(\.code).sorted() == [.chainBroken, .operationInProgress, .volumeSpaceLow])
    }

    @Test func theAuditNamesTheVolumeARepairWouldUse() {
        var fixture = ClusterFixture()
        fixture.moveFileToLocalVolume(5, of: "node1")
        let risks = ClusterAudit.risks(in: fixture.view, AuditInput(vms: [fixture.vm]))
        #expect(risks.map(\.code) == [.fileOnLocalVolume])
        #expect(risks.first?.repairTo == "csv1")
        // With no volume every possible owner reaches, nothing to suggest.
        fixture.mounts.removeAll { $0.volume == ClusterFixture.csv1 && $0.node.rawValue == "node3" }
        let nowhere = ClusterAudit.risks(in: fixture.view, AuditInput(vms: [fixture.vm]))
        #expect(nowhere.allSatisfy { $0.repairTo == nil }, "\(nowhere)")
    }

    @Test func aDiskAboveAStrandedOneMovesWithItSoNothingIsRelinkedInPlace() {
        var fixture = ClusterFixture()
        fixture.moveFileToLocalVolume(3, of: "node1")  // the base disk under the current AVHDX
        fixture.vm.chains = [DiskChain(elements: [fixture.vm.files[2].location, fixture.vm.files[3].location])]
        let plan = RepairRule.plan(fixture.vm, to: ClusterFixture.csv1, in: fixture.view)
        #expect(plan.allowed, "\(plan.reasons)")
        #expect(plan.copies.map(\.from) == ["/mnt/csv1/web01/disk_cp1.avhdx", "/var/lib/local/moved/3.bin"])
        #expect(plan.copies.map(\.stranded) == [false, true])
        #expect(plan.copies.map(\.to) == ["/mnt/csv1/web01/disk_cp1.avhdx", "/mnt/csv1/web01/3.bin"])
    }

    @Test func aDiskWhoseVHDXLogNeedsReplayingRefusesTheRepair() {
        var fixture = ClusterFixture()
        fixture.moveFileToLocalVolume(3, of: "node1")
        fixture.vm.files[2].problem = .needsLogReplay
        let plan = RepairRule.plan(fixture.vm, to: ClusterFixture.csv1, in: fixture.view)
        #expect(plan.reasons.map(\.code) == [.diskNeedsLogReplay])
        #expect(plan.reasons.first?.path == "/mnt/csv1/web01/disk_cp1.avhdx")
    }
}
