import ChainModel
import DecisionEngine
import Testing

@Suite struct ClusterAuditTests {
    /// The cluster-core scenario in pure form: web01 entirely on csv1; db01 with a checkpoint memory
    /// file on node1's local volume; app01 with its middle AVHDX on node2's local volume; old01
    /// whose parent disk is missing.
    func scenario() -> (view: ClusterView, input: AuditInput) {
        var fixture = ClusterFixture()
        let web = ClusterFixture.web01()
        var db = ClusterFixture.web01(owner: "node1", id: "db01-id", name: "db01")
        db.files[5].location = .volume(ClusterFixture.local("node1"), relativePath: "db01/cp1.vmrs")
        db.files[5].path = "/var/lib/local/db01/cp1.vmrs"
        var app = ClusterFixture.web01(owner: "node2", id: "app01-id", name: "app01")
        app.files[2].location = .volume(ClusterFixture.local("node2"), relativePath: "app01/disk_cp1.avhdx")
        app.files[2].path = "/var/lib/local/app01/disk_cp1.avhdx"
        app.chains = [DiskChain(elements: [app.files[2].location, app.files[3].location])]
        var old = ClusterFixture.web01(owner: "node3", id: "old01-id", name: "old01")
        old.files[3].problem = .missing
        old.files[3].problemDetail = "parent of /mnt/csv1/old01/disk_cp1.avhdx not found"
        fixture.vm = web
        fixture.others = [db, app, old].map(VMPlacement.init)
        let input = AuditInput(vms: [web, db, app, old], listings: [web.id: [NodeName("node1")]])
        return (fixture.view, input)
    }

    @Test func reportsExactlyTheThreeRiskyVMsWithTheirCodesAndPaths() {
        let (view, input) = scenario()
        let risks = ClusterAudit.risks(in: view, input)
        #expect(ClusterAudit.strandedVMs(risks) == [VMID("db01-id"), VMID("app01-id"), VMID("old01-id")])
        let critical = risks.filter { $0.severity == .critical }.map {
            "\($0.code.rawValue) \($0.vm ?? "") \($0.path ?? "")"
        }
        #expect(
            critical == [
                "file-on-local-volume app01 /var/lib/local/app01/disk_cp1.avhdx",
                "file-on-local-volume db01 /var/lib/local/db01/cp1.vmrs",
                "file-missing old01 /mnt/csv1/old01/disk.vhdx",
            ]
        )
        #expect(risks.allSatisfy { $0.severity == .critical }, "a healthy cluster has no warnings: \(risks)")
    }

    @Test func nonHighlyAvailableVMsAreNotStrandedByLocalFiles() {
        var (view, input) = scenario()
        view.policies[VMID("db01-id")] = PlacementPolicy(highlyAvailable: false)
        let risks = ClusterAudit.risks(in: view, input)
        #expect(!ClusterAudit.strandedVMs(risks).contains(VMID("db01-id")))
        input.vms[1].files[5].problem = .chainBroken  // file problems count for every VM
        #expect(ClusterAudit.strandedVMs(ClusterAudit.risks(in: view, input)).contains(VMID("db01-id")))
    }

    @Test func fileSomePossibleOwnersReachIsLimitedFailover() {
        var fixture = ClusterFixture()
        let index = fixture.mounts.firstIndex { $0.volume == ClusterFixture.csv1 && $0.node.rawValue == "node3" }!
        fixture.mounts.remove(at: index)
        let risks = ClusterAudit.risks(in: fixture.view, AuditInput(vms: [fixture.vm]))
        #expect(Set(risks.map(\.code)) == [.limitedFailover])
        #expect(risks.count == fixture.vm.files.count)
        #expect(risks[0].message.contains("node3 cannot reach"))
        #expect(risks[0].message.contains("only fail over to node2"))
        // Restricting the possible owners to node1 and node2 removes the risk.
        fixture.policies[fixture.vm.id] = PlacementPolicy(possibleOwners: [NodeName("node1"), NodeName("node2")])
        #expect(ClusterAudit.risks(in: fixture.view, AuditInput(vms: [fixture.vm])).isEmpty)
    }

    @Test func aHyperVVMAtFiftyCheckpointsAndAChainDeeperThanTheLimitAreWarnings() {
        var fixture = ClusterFixture()
        fixture.setNode("node1") { $0.driver = .hypervJSON }
        fixture.vm.checkpoints = (0..<50).map {
            Checkpoint(id: CheckpointID("c\($0)"), name: "c\($0)", parent: $0 == 0 ? nil : CheckpointID("c\($0 - 1)"))
        }
        let full = ClusterAudit.risks(in: fixture.view, AuditInput(vms: [fixture.vm]))
        #expect(full.map(\.code) == [.checkpointLimit])
        #expect(full.first?.severity == .warning)
        #expect(full.first?.message.contains("at most 50") == true)
        fixture.vm.checkpoints.removeLast()
        #expect(ClusterAudit.risks(in: fixture.view, AuditInput(vms: [fixture.vm])).isEmpty, "49 is fine")
        // web01's current chain is two files deep.
        var view = fixture.view
        view.settings.maxChainDepth = 1
        let deep = ClusterAudit.risks(in: view, AuditInput(vms: [fixture.vm]))
        #expect(deep.map(\.code) == [.checkpointLimit])
        #expect(deep.first?.message.contains("2 files deep, more than maxChainDepth 1") == true)
    }

    @Test func aVolumeBelowItsFreeSpaceFloorIsAWarningNamingTheNodeThatMeasuredIt() {
        var fixture = ClusterFixture()
        for index in fixture.mounts.indices where fixture.mounts[index].volume == ClusterFixture.csv1 {
            fixture.mounts[index].totalBytes = 1000 << 20
            fixture.mounts[index].freeBytes = 100 << 20
        }
        #expect(ClusterAudit.risks(in: fixture.view, AuditInput(vms: [fixture.vm])).isEmpty, "10% free is above 5%")
        fixture.mounts[1].freeBytes = 40 << 20
        let low = ClusterAudit.risks(in: fixture.view, AuditInput(vms: [fixture.vm]))
        #expect(low.map(\.code) == [.volumeSpaceLow])
        #expect(low.first?.node == fixture.mounts[1].node && low.first?.volume == "csv1")
        #expect(low.first?.message.contains("40 MiB free of 1000 MiB (4%") == true, "\(low)")
        // A size nobody reported: no floor to judge by.
        for index in fixture.mounts.indices { fixture.mounts[index].totalBytes = nil }
        #expect(ClusterAudit.risks(in: fixture.view, AuditInput(vms: [fixture.vm])).isEmpty)
    }

    @Test func unverifiedMountIsAWarningPerNode() {
        var fixture = ClusterFixture()
        let index = fixture.mounts.firstIndex { $0.volume == ClusterFixture.csv1 && $0.node.rawValue == "node2" }!
        fixture.mounts[index].lastProbeAt = nil
        let risks = ClusterAudit.risks(in: fixture.view, AuditInput(vms: [fixture.vm]))
        let unverified = risks.filter { $0.code == .volumeNotVerified }
        #expect(unverified.count == 1)
        #expect(unverified[0].node == NodeName("node2"))
        #expect(unverified[0].volume == "csv1")
        #expect(ClusterAudit.strandedVMs(risks).isEmpty)
    }

    /// SPEC §5/§6: `node-isolated` and `node-quarantined` are warnings per node, and strand nothing.
    @Test func isolatedAndQuarantinedNodesAreWarnings() {
        var fixture = ClusterFixture()
        fixture.setNode("node2") { $0.state = .isolated }
        fixture.setNode("node3") { $0.state = .quarantined }
        let risks = ClusterAudit.risks(in: fixture.view, AuditInput(vms: []))
        #expect(risks.map(\.code) == [.nodeIsolated, .nodeQuarantined])
        #expect(risks.map(\.node) == [NodeName("node2"), NodeName("node3")])
        #expect(risks.allSatisfy { $0.code.severity == .warning })
        #expect(risks[1].message.contains("chainkeeper node resume node3"))
    }

    @Test func staleOrMissingInventoryIsAWarningPerNode() {
        var fixture = ClusterFixture()
        fixture.setNode("node2") { $0.lastInventoryAt = ClusterFixture.now - .seconds(301) }
        fixture.setNode("node3") { $0.lastInventoryAt = nil }
        let risks = ClusterAudit.risks(in: fixture.view, AuditInput(vms: []))
        #expect(risks.map(\.code) == [.inventoryStale, .inventoryStale])
        #expect(risks.map(\.node?.rawValue) == ["node2", "node3"])
        #expect(risks[1].message.contains("never arrived"))
    }

    @Test func orphanDisksAreJudgedAgainstEveryVMInTheCluster() {
        let fixture = ClusterFixture()
        let used = DiscoveredDisk(
            volume: ClusterFixture.csv1,
            relativePath: "web01/disk_cp1.avhdx",
            path: "/mnt/csv1/web01/disk_cp1.avhdx",
            node: NodeName("node2")
        )
        let orphan = DiscoveredDisk(
            volume: ClusterFixture.csv1,
            relativePath: "gone/x.avhdx",
            path: "/mnt/csv1/gone/x.avhdx",
            node: NodeName("node2")
        )
        let twice = DiscoveredDisk(
            volume: ClusterFixture.csv1,
            relativePath: "gone/x.avhdx",
            path: "/csv/gone/x.avhdx",
            node: NodeName("node3")
        )
        let risks = ClusterAudit.risks(
            in: fixture.view,
            AuditInput(vms: [fixture.vm], discoveredDisks: [used, orphan, twice])
        )
        #expect(
            risks.map(\.code) == [.orphanDisk],
            "used by web01 (owned by node1) is no orphan, and one orphan is one risk"
        )
        #expect(risks[0].path == "/mnt/csv1/gone/x.avhdx")
    }

    @Test func registrationOnANonOwnerIsCritical() {
        let fixture = ClusterFixture()
        let input = AuditInput(vms: [fixture.vm], listings: [fixture.vm.id: [NodeName("node1"), NodeName("node3")]])
        let risks = ClusterAudit.risks(in: fixture.view, input)
        #expect(risks.map(\.code) == [.registeredOnNonOwner])
        #expect(risks[0].node == NodeName("node3"))
        #expect(ClusterAudit.strandedVMs(risks) == [fixture.vm.id])
    }

    @Test func failoverBlockedAndInventoryErrorsAreReported() {
        let fixture = ClusterFixture()
        let input = AuditInput(
            vms: [fixture.vm],
            failoverBlocked: [fixture.vm.id: "no target passed check"],
            inventoryErrors: [InventoryError(node: NodeName("node2"), vm: "bad01", message: "disks is not an array")]
        )
        let risks = ClusterAudit.risks(in: fixture.view, input)
        #expect(risks.map(\.code) == [.failoverBlocked, .inventoryError])
        #expect(risks[0].message.contains("vm clear web01"))
        #expect(risks[1].severity == .warning)
        #expect(risks[1].message.contains("bad01"))
    }

    @Test func everyFileProblemIsCriticalForAnyVM() {
        for problem in FileProblem.allCases {
            var fixture = ClusterFixture()
            fixture.policies[fixture.vm.id] = PlacementPolicy(highlyAvailable: false)
            fixture.vm.files[2].problem = problem
            let risks = ClusterAudit.risks(in: fixture.view, AuditInput(vms: [fixture.vm]))
            #expect(risks.map(\.code.rawValue) == [problem.rawValue])
            #expect(risks[0].severity == .critical)
        }
    }
}
