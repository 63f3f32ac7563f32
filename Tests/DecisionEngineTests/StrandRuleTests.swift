import ChainModel
import Testing

@testable import DecisionEngine

@Suite struct StrandRuleTests {
    @Test func vmEntirelyOnASharedVerifiedVolumeMayMove() {
        let verdict = ClusterFixture().check()
        #expect(verdict.allowed)
        #expect(verdict.reasons.isEmpty)
    }

    // MARK: file-on-local-volume

    @Test func fileOnAVolumeTheTargetDoesNotMountIsStranded() {
        var fixture = ClusterFixture()
        fixture.moveFileToLocalVolume(5, of: "node1")  // the checkpoint's memory file
        let verdict = fixture.check()
        #expect(verdict.codes == [.fileOnLocalVolume])
        let reason = verdict.reasons[0]
        #expect(reason.path == "/var/lib/local/moved/5.bin")
        #expect(reason.volume == "node1-local")
        #expect(reason.snapshot == "before-upgrade")
        #expect(reason.message.contains("memory file '/var/lib/local/moved/5.bin' of checkpoint 'before-upgrade'"))
        #expect(reason.message.contains("node2 does not mount"))
    }

    @Test func fileUnderNoMarkerIsStranded() {
        var fixture = ClusterFixture()
        fixture.vm.files[2].location = .nodeLocal(NodeName("node1"), absolutePath: "/srv/vm/disk_cp1.avhdx")
        fixture.vm.files[2].path = "/srv/vm/disk_cp1.avhdx"
        let verdict = fixture.check()
        #expect(verdict.codes == [.fileOnLocalVolume])
        #expect(verdict.reasons[0].path == "/srv/vm/disk_cp1.avhdx")
        #expect(verdict.reasons[0].volume == nil)
        #expect(verdict.reasons[0].message.contains("only node1 can reach it"))
    }

    @Test func fileOnATargetsOwnLocalVolumeIsReachableByThatTarget() {
        var fixture = ClusterFixture()
        fixture.moveFileToLocalVolume(0, of: "node2")
        #expect(fixture.check(to: "node2").allowed)
        #expect(fixture.check(to: "node3").codes == [.fileOnLocalVolume])
    }

    // MARK: volume-not-verified

    @Test func volumeWithoutARecentProbeOnTheTargetIsNotVerified() {
        var fixture = ClusterFixture()
        let index = fixture.mounts.firstIndex { $0.volume == ClusterFixture.csv1 && $0.node.rawValue == "node2" }!
        fixture.mounts[index].lastProbeAt = ClusterFixture.now - .seconds(601)  // 2 × 5m + 1s
        let verdict = fixture.check()
        #expect(verdict.codes == [.volumeNotVerified])
        #expect(verdict.reasons.count == 1, "one reason per volume, not one per file")
        #expect(verdict.reasons[0].volume == "csv1")
        #expect(verdict.reasons[0].message.contains("within 10m"))
        fixture.mounts[index].lastProbeAt = ClusterFixture.now - .seconds(600)
        #expect(fixture.check().allowed)
    }

    @Test func volumeNeverProbedOnTheTargetIsNotVerified() {
        var fixture = ClusterFixture()
        let index = fixture.mounts.firstIndex { $0.volume == ClusterFixture.csv1 && $0.node.rawValue == "node2" }!
        fixture.mounts[index].lastProbeAt = nil
        #expect(fixture.check().codes == [.volumeNotVerified])
    }

    // MARK: file-missing, chain-broken, disk-needs-log-replay

    @Test(arguments: [
        (FileProblem.missing, ReasonCode.fileMissing),
        (.chainBroken, .chainBroken),
        (.needsLogReplay, .diskNeedsLogReplay),
    ])
    func fileProblemsRefuseWithTheirCodeAndFile(problem: FileProblem, code: ReasonCode) {
        var fixture = ClusterFixture()
        fixture.vm.files[3].problem = problem
        fixture.vm.files[3].problemDetail = "seen by node1"
        let verdict = fixture.check()
        #expect(verdict.codes == [code])
        #expect(verdict.reasons[0].path == "/mnt/csv1/web01/disk.vhdx")
        #expect(verdict.reasons[0].message.contains("seen by node1"))
    }

    @Test func healthyFilesRaiseNoFileProblem() {
        let verdict = ClusterFixture().check()
        #expect(!verdict.codes.contains(.fileMissing))
        #expect(!verdict.codes.contains(.chainBroken))
        #expect(!verdict.codes.contains(.diskNeedsLogReplay))
    }

    // MARK: inventory-stale

    @Test func staleOwnerInventoryRefusesAMigrationButNotAFailover() {
        var fixture = ClusterFixture()
        fixture.setNode("node1") { $0.lastInventoryAt = ClusterFixture.now - .seconds(301) }
        let verdict = fixture.check()
        #expect(verdict.codes == [.inventoryStale])
        #expect(verdict.reasons[0].message.contains("5m1s old (limit 5m)"))
        #expect(fixture.check(mode: .failover).allowed)
    }

    @Test func ownerThatNeverReportedIsStale() {
        var fixture = ClusterFixture()
        fixture.setNode("node1") { $0.lastInventoryAt = nil }
        #expect(fixture.check().codes == [.inventoryStale])
    }

    @Test func freshInventoryIsNotStale() {
        var fixture = ClusterFixture()
        fixture.setNode("node1") { $0.lastInventoryAt = ClusterFixture.now - .seconds(300) }
        #expect(fixture.check().allowed)
    }

    // MARK: target-not-eligible

    @Test(arguments: [NodeState.down, .fenced, .draining])
    func targetThatIsNotUpIsNotEligible(state: NodeState) {
        var fixture = ClusterFixture()
        fixture.setNode("node2") { $0.state = state }
        let verdict = fixture.check()
        #expect(verdict.codes == [.targetNotEligible])
        #expect(verdict.reasons[0].message.contains(state.rawValue))
    }

    @Test func currentOwnerIsNotEligible() {
        let verdict = ClusterFixture().check(to: "node1")
        #expect(verdict.codes == [.targetNotEligible])
        #expect(verdict.reasons[0].message == "node1 already owns web01")
    }

    @Test func nodeOutsideThePossibleOwnersIsNotEligible() {
        var fixture = ClusterFixture()
        fixture.policies[fixture.vm.id] = PlacementPolicy(possibleOwners: [NodeName("node1"), NodeName("node3")])
        #expect(fixture.check(to: "node2").codes == [.targetNotEligible])
        #expect(fixture.check(to: "node3").allowed)
    }

    @Test func unknownTargetIsNotEligible() {
        #expect(ClusterFixture().check(to: "node9").codes.contains(.targetNotEligible))
    }

    // MARK: hypervisor-mismatch

    @Test func targetWithAnotherInventoryDriverIsRefused() {
        var fixture = ClusterFixture()
        fixture.setNode("node2") { $0.driver = .libvirt }
        let verdict = fixture.check()
        #expect(verdict.codes == [.hypervisorMismatch])
        #expect(verdict.reasons[0].message.contains("hyperv-json"))
        #expect(fixture.check(to: "node3").allowed)
    }

    // MARK: insufficient-memory

    @Test func runningVMLargerThanTheTargetsFreeMemoryIsRefused() {
        var fixture = ClusterFixture()
        fixture.addRunningVM("big", on: "node2", memoryMiB: 14_336)
        let verdict = fixture.check()
        #expect(verdict.codes == [.insufficientMemory])
        #expect(verdict.reasons[0].message.contains("4096 MiB but node2 has 2048 MiB free"))
    }

    @Test func memoryThatJustFitsIsAllowed() {
        var fixture = ClusterFixture()
        fixture.addRunningVM("big", on: "node2", memoryMiB: 12_288)
        #expect(fixture.check().allowed)
    }

    @Test(arguments: [PowerState.off, .saved])
    func vmThatHoldsNoMemoryIgnoresTheTargetsMemory(state: PowerState) {
        var fixture = ClusterFixture()
        fixture.vm.state = state
        fixture.addRunningVM("big", on: "node2", memoryMiB: 16_384)
        #expect(fixture.check().allowed)
    }

    // MARK: anti-affinity

    @Test func enforcedClassRefusesATargetRunningAPeer() {
        var fixture = ClusterFixture()
        fixture.classes = [AntiAffinityClass(name: "sql", enforced: true)]
        fixture.policies[fixture.vm.id] = PlacementPolicy(antiAffinityClass: "sql")
        fixture.addRunningVM("sql02", on: "node2", memoryMiB: 1024, antiAffinity: "sql")
        let verdict = fixture.check()
        #expect(verdict.codes == [.antiAffinity])
        #expect(verdict.reasons[0].message.contains("node2 already runs sql02"))
        #expect(fixture.check(to: "node3").allowed)
    }

    @Test func softClassDoesNotRefuse() {
        var fixture = ClusterFixture()
        fixture.classes = [AntiAffinityClass(name: "sql", enforced: false)]
        fixture.policies[fixture.vm.id] = PlacementPolicy(antiAffinityClass: "sql")
        fixture.addRunningVM("sql02", on: "node2", memoryMiB: 1024, antiAffinity: "sql")
        #expect(fixture.check().allowed)
    }

    // MARK: operation-in-progress

    @Test func vmWithAnOperationUnderWayIsRefused() {
        var fixture = ClusterFixture()
        fixture.busy = [fixture.vm.id]
        let verdict = fixture.check()
        #expect(verdict.codes == [.operationInProgress])
        #expect(verdict.reasons[0].message.contains("history --vm web01"))
    }

    // MARK: every reason at once

    @Test func everyApplicableReasonIsReportedEachNamingItsCause() {
        var fixture = ClusterFixture()
        fixture.moveFileToLocalVolume(5, of: "node1")  // stranded memory file
        fixture.vm.files[3].problem = .missing  // missing base disk
        fixture.addRunningVM("big", on: "node2", memoryMiB: 14_336)  // target short of memory
        let verdict = fixture.check()
        #expect(!verdict.allowed)
        #expect(verdict.reasons.map(\.code) == [.fileOnLocalVolume, .fileMissing, .insufficientMemory])
        #expect(verdict.reasons[0].path == "/var/lib/local/moved/5.bin")
        #expect(verdict.reasons[1].path == "/mnt/csv1/web01/disk.vhdx")
        #expect(verdict.reasons[2].message.contains("node2 has 2048 MiB free"))
    }

    @Test func everyReasonCodeIsCoveredBySpecOrder() {
        #expect(
            ReasonCode.allCases.map(\.rawValue) == [
                "file-on-local-volume", "volume-not-verified", "file-missing", "chain-broken", "disk-needs-log-replay",
                "inventory-stale", "metadata-stale", "target-not-eligible", "hypervisor-mismatch",
                "insufficient-memory", "anti-affinity",
                "operation-in-progress", "checkpoint-location-local", "volume-space-low", "source-alive",
                "failover-threshold", "failover-blocked", "preflight-failed", "adopt-failed",
            ]
        )
    }
}

/// Issue 23: a libvirt VM's move needs the domain and snapshot XML the coordinator holds.
@Suite struct MetadataReasonTests {
    static func vm(_ metadata: HypervisorMetadataState?) -> VM {
        let leaf = FileLocation.volume(VolumeID("csv"), relativePath: "web/s3.qcow2")
        let base = FileLocation.volume(VolumeID("csv"), relativePath: "web/s2.qcow2")
        return VM(
            id: VMID("web"),
            name: "web",
            ownership: Ownership(owner: NodeName("a"), epoch: .initial),
            files: [
                VMFile(location: leaf, path: "/mnt/csv/web/s3.qcow2", kind: .disk, size: 1),
                VMFile(location: base, path: "/mnt/csv/web/s2.qcow2", kind: .disk, size: 1),
            ],
            chains: [DiskChain(checkpoint: nil, elements: [leaf, base])],
            metadata: metadata
        )
    }

    @Test func aMigrationNeedsTheCurrentCopyAndAFailoverACopyWhoseLeavesAreStillTheVMs() {
        #expect(StrandRule.metadataReasons(Self.vm(nil), mode: .failover).isEmpty, "no metadata driver: no rule")
        let missing = HypervisorMetadataState(reportedDigest: "sha256:new")
        #expect(StrandRule.metadataReasons(Self.vm(missing), mode: .failover).map(\.code) == [.metadataStale])
        #expect(StrandRule.metadataReasons(Self.vm(missing), mode: .migration).map(\.code) == [.metadataStale])
        // Held, older than reported, same leaves: a failover may define it; a migration waits for the upload.
        let older = HypervisorMetadataState(
            reportedDigest: "sha256:new",
            heldDigest: "sha256:old",
            heldLeaves: ["/mnt/csv/web/s3.qcow2"]
        )
        #expect(StrandRule.metadataReasons(Self.vm(older), mode: .failover).isEmpty)
        #expect(StrandRule.metadataReasons(Self.vm(older), mode: .migration).map(\.code) == [.metadataStale])
        // Held with a leaf that is now a backing file: the failover is held, naming it.
        let stale = HypervisorMetadataState(
            reportedDigest: "sha256:new",
            heldDigest: "sha256:old",
            heldLeaves: ["/mnt/csv/web/s2.qcow2"]
        )
        let reasons = StrandRule.metadataReasons(Self.vm(stale), mode: .failover)
        #expect(reasons.map(\.code) == [.metadataStale])
        #expect(reasons.first?.path == "/mnt/csv/web/s2.qcow2")
        let current = HypervisorMetadataState(
            reportedDigest: "sha256:new",
            heldDigest: "sha256:new",
            heldLeaves: ["/mnt/csv/web/s3.qcow2"]
        )
        #expect(StrandRule.metadataReasons(Self.vm(current), mode: .migration).isEmpty)
    }
}
